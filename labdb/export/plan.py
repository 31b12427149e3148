"""The export plan: everything known before the first row is written, found with a few small queries.

`plan_export` checks the filters and finds the columns (with the manifest's extra columns), the row count, the
plates (the provenance's plate list) and the batch-correction run whose values fill bdnf_pg_ml_corrected, then
records the provenance (who, when, which database, filters, software versions). Writers put the plan's columns in
the header, its provenance and plates beside the data, and refuse an xlsx too big before writing anything.
The correction run comes from labdb.correction_runs.find_run (`--correction N`, default the latest; an export
before any run is not an error: the corrected column is empty).
"""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

import labdb
from labdb.core.models import CorrectionRun, CurveFit, KitLot, Plate, Result, Sample, Subject
from labdb.correction_runs import find_run
from labdb.export.columns import LONG_COLUMNS, WIDE_PER_TYPE, Column, long_columns, wide_columns
from labdb.export.query import ExportFilters, _as_dict, _json_text, _restrict, _stream, check_filters
from labdb.samples import season_convention
from qc.vocab import SAMPLE_TYPES


@dataclass
class ExportPlan:
    """Everything known before the first row is written: columns, row count, plates, provenance."""

    filters: ExportFilters
    wide: bool
    columns: list[Column]
    extras: dict[str, str]  # manifest extra key -> export column name
    sample_types: list[str]
    convention: str
    rows: int
    plates: pd.DataFrame
    provenance: dict[str, str] = field(default_factory=dict)
    correction: CorrectionRun | None = None  # the run whose corrected values fill bdnf_pg_ml_corrected


def plan_export(
    session: Session,
    filters: ExportFilters = ExportFilters(),
    wide: bool = False,
    actor: str = "unknown",
    correction_version: int | None = None,
) -> ExportPlan:
    """Check the filters and find the columns (incl. manifest extras), row count, plates, provenance and the batch
    correction run (`correction_version`, default the latest) whose values fill bdnf_pg_ml_corrected."""
    filters = check_filters(session, filters)
    correction = find_run(session, correction_version, "--correction")
    convention = season_convention()
    extras: dict[str, str] = {}
    taken = {c.name for c in LONG_COLUMNS} | {c.name for c in WIDE_PER_TYPE}
    stmt = _restrict(select(_json_text(Sample.extra)), filters, sample_only=True).where(Sample.extra.is_not(None)).order_by(Sample.id)
    for part in _stream(session, stmt, 10_000):
        for (extra,) in part:
            for key in _as_dict(extra):
                if key not in extras:
                    name = key if key not in taken else f"manifest_{key}"
                    extras[key] = name
    per_plate = _restrict(select(Result.plate_id, sa.func.count(Result.id)), filters)
    if wide:
        per_plate = per_plate.where(Sample.id.is_not(None))
    counts = dict(session.execute(per_plate.group_by(Result.plate_id)).all())
    plates = _plates(session, counts)
    if wide:
        types_stmt = _restrict(select(Sample.sample_type).distinct(), filters).where(Sample.id.is_not(None))
        present = set(session.execute(types_stmt).scalars().all())
        sample_types = [t for t in SAMPLE_TYPES if t in present] + sorted(present - set(SAMPLE_TYPES))
        visits = _restrict(select(Subject.code, Sample.visit).distinct(), filters).where(Sample.id.is_not(None)).subquery()
        rows = session.execute(select(sa.func.count()).select_from(visits)).scalar_one()
        columns = wide_columns(sample_types, extras)
    else:
        sample_types = list(filters.sample_types)
        rows = int(sum(counts.values()))
        columns = long_columns(extras)
    plan = ExportPlan(filters, wide, columns, extras, sample_types, convention, int(rows), plates, correction=correction)
    plan.provenance = _provenance(session, plan, actor)
    return plan


def _correction_text(run: CorrectionRun | None) -> str:
    if run is None:
        return "none (bdnf_pg_ml_corrected is empty; labdb batch correct)"
    options = ", ".join(f"{k}={v}" for k, v in (run.options or {}).items() if k != "method" and v is not None)
    when = run.created_at.isoformat(timespec="seconds") if run.created_at else ""
    return f"version {run.id}: {run.method} ({options}) by {run.created_by} at {when}; {run.n_plates} plates" + (
        "; design check overridden: " + (run.override_reason or "") if run.override else ""
    )


def _plates(session: Session, counts: dict[int, int]) -> pd.DataFrame:
    ids = sorted(counts)
    columns = [
        "plate_id",
        "plate_name",
        "raw_file_name",
        "raw_file_sha256",
        "reader_format",
        "read_time",
        "kit_lot",
        "operator",
        "status",
        "verdict",
        "reviewed_by",
        "reviewed_at",
        "curve_model",
        "curve_engine",
        "fitted_at",
        "rows",
    ]
    rows = []
    for start in range(0, len(ids), 5000):
        stmt = (
            select(
                Plate.id,
                Plate.name,
                Plate.original_filename,
                Plate.file_sha256,
                Plate.reader_format,
                Plate.read_time,
                KitLot.lot,
                Plate.operator,
                Plate.status,
                Plate.verdict,
                Plate.reviewed_by,
                Plate.reviewed_at,
                CurveFit.model,
                CurveFit.engine_version,
                CurveFit.fitted_at,
            )
            .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
            .join(CurveFit, sa.and_(CurveFit.plate_id == Plate.id, CurveFit.is_current.is_(True)), isouter=True)
            .where(Plate.id.in_(ids[start : start + 5000]))
            .order_by(Plate.id)
        )
        rows += [(*r, counts[r[0]]) for r in session.execute(stmt).all()]
    df = pd.DataFrame(rows, columns=columns)
    for col in ("reviewed_at", "fitted_at"):  # xlsx cannot hold time zones
        df[col] = pd.to_datetime(df[col], utc=True).dt.tz_localize(None)
    return df


def _provenance(session: Session, plan: ExportPlan, actor: str) -> dict[str, str]:
    url = session.get_bind().url.render_as_string(hide_password=True)
    engines = sorted({str(e) for e in plan.plates.get("curve_engine", pd.Series(dtype=object)).dropna()})
    info = {
        "exported_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_by": actor,
        "database": url,
        "layout": "wide: one row per subject and visit, a column block per sample type"
        if plan.wide
        else "long: one row per sample per plate measurement",
        **{f"filter_{k}": v for k, v in plan.filters.describe().items()},
        "season_convention": f"{plan.convention} (hemisphere from the site; LABDB_SEASONS)",
        "rows": str(plan.rows),
        "plates": str(len(plan.plates)),
        "curve_engine_versions": ", ".join(engines) or "none",
        "batch_correction": _correction_text(plan.correction),
        "labdb_version": labdb.__version__,
        "python": platform.python_version(),
    }
    for package in ("pandas", "pyarrow", "sqlalchemy", "pandera", "openpyxl"):
        try:
            info[f"{package}_version"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info
