# long module: the read model: one small query per list a page or command shows, kept together on purpose.
"""The read model: every list the dashboards (and the CLI) show, as plain data, in one place.

Each function takes an open session and keyword-only arguments and returns a pandas DataFrame (or a plain dict, list
or number where the page needs that); nothing here writes. This is the only module outside the services that knows how
the tables join: the dashboards cache these functions (dashboards/data.py) and never import SQLAlchemy or SQLModel.
A schema change therefore touches labdb/core/models.py, a migration and this module, never a page.

`read_session(url)` opens the session to read with (nothing is committed; the transaction ends with the block).
Actions (approve, mask, correct, close guide sets) are not here: they go through the services, as the logged-in
account, via labdb.users (`decide_as`, `mask_as`, `correct_as`, `close_guide_sets_as`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from labdb import correction_runs as stored_runs
from labdb import export, samples
from labdb.core.db import get_engine
from labdb.core.errors import InputError
from labdb.core.models import (
    AuditEvent,
    CorrectedResult,
    CorrectionRun,
    CurveFit,
    KitLot,
    Plate,
    QcGuideSet,
    QcViolation,
    Result,
    Sample,
    Site,
    Subject,
    Well,
)
from labdb.export import ExportFilters
from labdb.readers.canonical import PlateRead, make_reads
from qc.layout import UNLABELLED


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A session to read from the database at `url` (default LABDB_DATABASE_URL); never commits: the transaction is
    rolled back and the connection returned to the pool when the block ends."""
    with Session(get_engine(url)) as session:
        try:
            yield session
        finally:
            session.rollback()


def _frame(session: Session, stmt: Any) -> pd.DataFrame:
    return pd.read_sql(stmt, session.connection())


# --- plates -------------------------------------------------------------------------------------------------------


def plates(session: Session) -> pd.DataFrame:
    """Plates with status, verdict and kit lot, newest read first."""
    stmt = (
        select(
            Plate.id,
            Plate.name,
            Plate.original_filename,
            Plate.read_time,
            Plate.operator,
            KitLot.lot.label("kit_lot"),
            Plate.status,
            Plate.verdict,
            Plate.verdict_reasons,
        )
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .order_by(Plate.read_time.desc(), Plate.id.desc())
    )
    return _frame(session, stmt)


def plate_records(session: Session) -> list[dict]:
    """Every plate in id order as JSON-ready records (`labdb plates list`): file, format, read time, operator, kit lot,
    template, status, verdict and its reasons."""
    rows = session.exec(select(Plate, KitLot.lot).join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True).order_by(Plate.id)).all()
    return [
        {
            "id": p.id,
            "name": p.name,
            "file": p.original_filename,
            "format": p.reader_format,
            "read_time": p.read_time.isoformat() if p.read_time else None,
            "operator": p.operator,
            "kit_lot": lot,
            "template": p.template_name,
            "status": p.status,
            "verdict": p.verdict,
            "reasons": p.verdict_reasons or [],
        }
        for p, lot in rows
    ]


def plate_wells(session: Session, *, plate_id: int) -> pd.DataFrame:
    """Wells of one plate with corrected OD and back-calculated concentration, and `marker`: the file's own text of
    any read that was not a plain number ('450: *0.356*'), so a flagged well shows what the instrument wrote."""
    stmt = select(
        Well.position,
        Well.row,
        Well.col,
        Well.role,
        Well.level,
        Well.nominal,
        Well.dilution,
        Well.sample_code,
        Well.od_corrected,
        Well.conc_pg_ml,
        Well.masked,
        Well.mask_reason,
        Well.flags,
        Well.raw_markers,
    ).where(Well.plate_id == plate_id)
    df = _frame(session, stmt)
    df["marker"] = df.pop("raw_markers").map(lambda m: "; ".join(f"{k}: {v}" for k, v in m.items()) if isinstance(m, dict) and m else None)
    return df


def plate_curve(session: Session, *, plate_id: int) -> dict | None:
    """The current curve fit of one plate as a dict (its columns), or None."""
    stmt = select(CurveFit).where(CurveFit.plate_id == plate_id, CurveFit.is_current.is_(True))
    row = session.connection().execute(stmt).mappings().first()
    return dict(row) if row else None


def plate_results(session: Session, *, plate_id: int) -> pd.DataFrame:
    """Replicate-group results of one plate (its current fit)."""
    stmt = (
        select(
            Result.role,
            Result.name,
            Result.dilution,
            Result.n_replicates,
            Result.mean_od,
            Result.cv_pct,
            Result.conc_pg_ml,
            Result.censoring,
            Result.nominal_pg_ml,
            Result.recovery_pct,
            Result.flags,
        )
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .where(Result.plate_id == plate_id, CurveFit.is_current.is_(True))
    )
    return _frame(session, stmt)


def plate_violations(session: Session, *, plate_id: int) -> pd.DataFrame:
    """Westgard violations this plate completed (rule, severity, metric, level, the plates and values of the window)."""
    stmt = (
        select(
            QcViolation.rule,
            QcViolation.severity,
            QcViolation.metric,
            QcViolation.level,
            QcViolation.plate_ids,
            QcViolation.values,
            QcViolation.z,
        )
        .where(QcViolation.plate_id == plate_id)
        .order_by(QcViolation.id)
    )
    return _frame(session, stmt)


def approved_count(session: Session) -> int:
    """How many plates are approved."""
    return int(session.connection().execute(select(sa.func.count(Plate.id)).where(Plate.status == "approved")).scalar_one())


def approved_kit_lots(session: Session) -> list[str]:
    """Kit lots of the approved plates (the reference lots a correction can use)."""
    stmt = select(KitLot.lot).distinct().join(Plate, Plate.kit_lot_id == KitLot.id).where(Plate.status == "approved").order_by(KitLot.lot)
    return list(session.connection().execute(stmt).scalars().all())


# --- audit trail --------------------------------------------------------------------------------------------------


def audit_events(
    session: Session,
    *,
    actors: Sequence[str] = (),
    actions: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Audit events, newest first, filtered in SQL (actor, action and at are indexed)."""
    stmt = select(
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.entity,
        AuditEvent.entity_id,
        AuditEvent.detail,
        AuditEvent.before,
        AuditEvent.after,
    )
    if actors:
        stmt = stmt.where(AuditEvent.actor.in_(list(actors)))
    if actions:
        stmt = stmt.where(AuditEvent.action.in_(list(actions)))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at <= until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return _frame(session, stmt)


def audit_facets(session: Session) -> tuple[list[str], list[str]]:
    """Distinct actors and actions, for the audit filters."""
    conn = session.connection()
    actors = conn.execute(select(AuditEvent.actor).distinct().order_by(AuditEvent.actor)).scalars().all()
    actions = conn.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars().all()
    return list(actors), list(actions)


# --- study --------------------------------------------------------------------------------------------------------


def sites(session: Session) -> list[str]:
    """Site codes, sorted."""
    return list(session.connection().execute(select(Site.code).order_by(Site.code)).scalars().all())


def cohort_values(session: Session, *, correction: int | None = None) -> pd.DataFrame:
    """Approved plates' sample results with the few columns the Cohort page plots (one narrow query), their season,
    and the batch-corrected value of run `correction` (None: no corrected column values)."""
    stmt = (
        select(
            Result.plate_id,
            Result.name.label("sample_id"),
            Result.conc_pg_ml.label("bdnf_pg_ml"),
            CorrectedResult.corrected_pg_ml.label("bdnf_pg_ml_corrected"),
            Result.censoring,
            Sample.sample_type,
            Sample.collected_at,
            Site.hemisphere.label("_hemisphere"),
            Subject.sex,
            Sample.platelet_count,
        )
        .join(Plate, Plate.id == Result.plate_id)
        .join(
            CorrectedResult,
            sa.and_(CorrectedResult.result_id == Result.id, CorrectedResult.run_id == (correction if correction is not None else -1)),
            isouter=True,
        )
        .join(CurveFit, sa.and_(CurveFit.id == Result.curve_fit_id, CurveFit.is_current.is_(True)))
        .join(Sample, Sample.id == Result.sample_id, isouter=True)
        .join(Subject, Subject.id == Sample.subject_id, isouter=True)
        .join(Site, Site.id == Subject.site_id, isouter=True)
        .where(Result.role == "sample", Plate.status == "approved")
    )
    df = _frame(session, stmt)
    df["season"] = samples.seasons_of(pd.to_datetime(df.pop("collected_at")), df.pop("_hemisphere"), samples.season_convention())
    return df


def export_overview(
    session: Session, *, filters: ExportFilters, wide: bool, preview_rows: int = 200, correction: int | None = None
) -> dict:
    """What the Export page shows before anything is downloaded: row and plate counts, the first rows (read from the
    streamed export, not the whole table), the dictionary and the batch-correction run named in the provenance."""
    plan = export.plan_export(session, filters, wide, correction_version=correction)
    preview = export.typed(pd.DataFrame(), plan.columns)
    chunks = export.iter_export(session, plan, chunk_rows=preview_rows if not wide else max(preview_rows * 4, 1000))
    try:
        for chunk in chunks:
            if len(chunk):
                preview = chunk.head(preview_rows)
                break
    finally:
        chunks.close()
    return {
        "rows": plan.rows,
        "plates": len(plan.plates),
        "preview": preview,
        "dictionary": export.dictionary_frame(plan.columns),
        "batch_correction": plan.provenance.get("batch_correction", ""),
    }


# --- run QC -------------------------------------------------------------------------------------------------------


def qc_guide_sets(session: Session) -> pd.DataFrame:
    """Stored guide sets with their kit lot name (open and closed)."""
    stmt = (
        select(
            KitLot.lot,
            QcGuideSet.metric,
            QcGuideSet.level,
            QcGuideSet.mean,
            QcGuideSet.sd,
            QcGuideSet.n,
            QcGuideSet.source,
            QcGuideSet.created_by,
            QcGuideSet.closed_at,
            QcGuideSet.applies_until,
        )
        .join(KitLot, KitLot.id == QcGuideSet.kit_lot_id)
        .order_by(KitLot.lot, QcGuideSet.metric, QcGuideSet.level, QcGuideSet.id)
    )
    return _frame(session, stmt)


def qc_violations(session: Session) -> pd.DataFrame:
    """Stored Westgard violations with the kit lot and plate names."""
    stmt = (
        select(
            KitLot.lot,
            QcViolation.rule,
            QcViolation.severity,
            QcViolation.metric,
            QcViolation.level,
            QcViolation.plate_id,
            Plate.name.label("plate"),
            QcViolation.plate_ids,
            QcViolation.values,
        )
        .join(KitLot, KitLot.id == QcViolation.kit_lot_id)
        .join(Plate, Plate.id == QcViolation.plate_id)
        .order_by(QcViolation.id)
    )
    return _frame(session, stmt)


# --- batch correction ---------------------------------------------------------------------------------------------


def correction_runs(session: Session) -> pd.DataFrame:
    """Stored batch-correction runs (versions), newest first: the list only, no diagnostics or values."""
    stmt = select(
        CorrectionRun.id.label("version"),
        CorrectionRun.method,
        CorrectionRun.n_plates.label("plates"),
        CorrectionRun.n_values.label("values"),
        CorrectionRun.override,
        CorrectionRun.created_by,
        CorrectionRun.created_at,
    ).order_by(CorrectionRun.id.desc())
    return _frame(session, stmt)


def correction_run(session: Session, *, version: int) -> dict | None:
    """One correction run as plain data (options, fitted parameters, warnings, diagnostics) and its staleness (plates
    approved since, refitted or no longer approved), or None."""
    run = session.get(CorrectionRun, version)
    if run is None:
        return None
    return {
        "version": run.id,
        "method": run.method,
        "options": run.options or {},
        "fitted": run.fitted or {},
        "plates": run.n_plates,
        "values": run.n_values,
        "override": run.override,
        "override_reason": run.override_reason,
        "warnings": list(run.warnings or []),
        "diagnostics": run.diagnostics or {},
        "created_by": run.created_by,
        "created_at": run.created_at,
        "labdb_version": run.labdb_version,
        "stale": stored_runs.staleness(session, run),
    }


def plate_read(session: Session, *, plate_id: int) -> PlateRead:
    """A stored plate back in the canonical form its reader gave (every raw read of every well, with flags and
    markers, and the read's metadata), e.g. to write it as an Allotrope document; InputError for an unknown id."""
    plate = session.get(Plate, plate_id)
    if plate is None:
        raise InputError(f"no plate {plate_id}; see `labdb plates list`.")
    records = []
    for well in session.exec(select(Well).where(Well.plate_id == plate_id).order_by(Well.id)).all():
        values, markers = well.raw_values or {}, well.raw_markers or {}
        for key, flag in (well.raw_flags or {}).items():
            wavelength = None if key == UNLABELLED else int(key)
            records.append((well.position, wavelength, values.get(key), flag, markers.get(key)))
    reads = make_reads(records).sort_values(["wavelength_nm", "row", "column"], na_position="first", kind="stable")
    return PlateRead(
        name=plate.name,
        format=plate.reader_format,
        reads=reads.reset_index(drop=True),
        n_wells=plate.n_wells,
        instrument=plate.instrument,
        serial=plate.serial,
        read_time=plate.read_time,
        software_version=plate.software_version,
        extra=dict(plate.read_extra or {}),
    )
