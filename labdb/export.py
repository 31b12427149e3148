"""Statistician exports, streamed: one row per sample per plate measurement (long) or one row per subject and
visit with a column per sample type (wide), with every manifest column, the data dictionary and provenance.

The query is read in chunks (`yield_per`, a server-side cursor on PostgreSQL) and each chunk is written at once:
CSV chunk by chunk, Parquet one row group per chunk. Only xlsx is built in memory (and refused above
XLSX_MAX_ROWS). Text a spreadsheet would run as a formula is neutralised in CSV and xlsx, never in Parquet.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
import os
import platform
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

import labdb
from labdb.errors import InputError
from labdb.models import (
    CorrectedResult,
    CorrectionRun,
    CurveFit,
    KitLot,
    Plate,
    Result,
    Sample,
    Site,
    Subject,
)
from labdb.samples import season_convention, seasons_of
from qc.schemas import SAMPLE_TYPES, manifest_sample_type

FORMATS = (".csv", ".parquet", ".xlsx")
DICTIONARY_FORMATS = (".csv", ".xlsx")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 10_000  # rows per chunk and per Parquet row group: ~10 MB of Python objects per 1,000 rows
XLSX_MAX_ROWS = 1_000_000  # a sheet holds 1,048,576; beyond this use CSV or Parquet
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters an xlsx cell cannot hold
KINDS = ("text", "number", "integer", "boolean", "timestamp")


@dataclass(frozen=True)
class Column:
    """One export column: name, kind (text, number, integer, boolean, timestamp), unit and meaning."""

    name: str
    kind: str
    unit: str
    meaning: str


def _c(name: str, kind: str, unit: str, meaning: str) -> Column:
    return Column(name, kind, unit, meaning)


IDENTITY = [
    _c("sample_id", "text", "", "Sample identifier as on the plate map and in the manifest"),
    _c("subject_id", "text", "", "Subject (participant) identifier; empty when the sample ID is in no manifest"),
    _c("visit", "text", "", "Visit / timepoint from the manifest"),
    _c("sample_type", "text", "", "serum, plasma_edta, plasma_citrate, plasma_heparin or platelet_poor_plasma"),
    _c("site", "text", "", "Collection site code"),
    _c("collected_at", "timestamp", "local time", "Collection date and time as given in the manifest"),
    _c("collection_time", "text", "HH:MM local", "Time of day of collection; empty when the manifest gave a date only (00:00)"),
    _c("season", "text", "", "Season of collection from the date and the site's hemisphere (convention: see provenance; "
                             "meteorological by default, LABDB_SEASONS)"),
]
MEASUREMENT = [
    _c("plate_id", "integer", "", "Database id of the plate measurement"),
    _c("plate_name", "text", "", "Plate name in the reader file"),
    _c("kit_lot", "text", "", "ELISA kit lot"),
    _c("operator", "text", "", "Who ran the plate"),
    _c("read_time", "timestamp", "local time", "When the reader read the plate"),
    _c("bdnf_pg_ml", "number", "pg/mL", "BDNF concentration in the sample: interpolated on the curve x dilution"),
    _c("bdnf_pg_ml_corrected", "number", "pg/mL", "After batch (plate/lot) correction by the run in correction_version (method in "
       "the provenance); empty for censored values, plates outside that run and when no correction run exists"),
    _c("correction_version", "integer", "", "Batch-correction run (labdb batch report --version N) that produced "
       "bdnf_pg_ml_corrected; empty when the row is not in it"),
    _c("censoring", "text", "", "none, below_lloq or above_uloq"),
    _c("lloq_pg_ml", "number", "pg/mL", "Lower limit of quantification applied, dilution included"),
    _c("uloq_pg_ml", "number", "pg/mL", "Upper limit of quantification applied, dilution included"),
    _c("dilution", "number", "fold", "Dilution factor of the sample on the plate"),
    _c("mean_od", "number", "OD", "Mean blank-corrected OD of the replicates"),
    _c("cv_pct", "number", "%", "Coefficient of variation of the replicates' OD"),
    _c("n_replicates", "integer", "wells", "Number of replicate wells used"),
    _c("qc_flags", "text", "", "Result flags separated by ';' (e.g. cv_high, below_lloq)"),
    _c("plate_status", "text", "", "uploaded, evaluated, approved or rejected"),
    _c("plate_verdict", "text", "", "Acceptance verdict of the plate: pass or fail"),
]
MANIFEST = [
    _c("sex", "text", "", "F or M"),
    _c("age", "number", "years", "Age at collection"),
    _c("platelet_count", "number", "10^9/L", "Platelet count"),
    _c("platelet_poor", "boolean", "", "Platelet-poor preparation"),
    _c("clotting_minutes", "number", "min", "Clotting time before centrifugation (serum)"),
    _c("minutes_to_centrifugation", "number", "min", "Time from draw to centrifugation"),
    _c("centrifuge_g", "number", "x g", "Centrifugation force"),
    _c("storage_days", "number", "days", "Days stored at -80 C before the assay"),
    _c("freeze_thaw_cycles", "integer", "cycles", "Freeze-thaw cycles before the assay"),
    _c("fasting", "boolean", "", "Fasting at collection"),
    _c("exercise_within_24h", "boolean", "", "Exercise within 24 h before collection"),
    _c("antidepressant", "boolean", "", "Antidepressant use at collection"),
    _c("diagnosis", "text", "", "Diagnosis from the manifest"),
    _c("smoking", "boolean", "", "Smoker"),
    _c("notes", "text", "", "Free-text notes from the manifest"),
]
PROVENANCE = [
    _c("raw_file_sha256", "text", "", "SHA-256 of the original reader file, stored byte for byte"),
    _c("raw_file_name", "text", "", "Original name of the reader file"),
    _c("curve_model", "text", "", "Standard-curve model (4pl, 5pl)"),
    _c("curve_engine", "text", "", "Version of the curve engine that produced the value"),
    _c("reviewed_by", "text", "", "Who approved or rejected the plate"),
    _c("manifest_sha256", "text", "", "SHA-256 of the manifest file the sample's metadata last came from"),
]
LONG_COLUMNS = IDENTITY + MEASUREMENT + MANIFEST + PROVENANCE
DICTIONARY: dict[str, tuple[str, str]] = {c.name: (c.unit, c.meaning) for c in LONG_COLUMNS}

# wide: one row per subject and visit
WIDE_KEYS = ["subject_id", "visit"]
WIDE_VISIT = ["site", "sex", "age", "collected_at", "collection_time", "season", "platelet_count", "fasting",
              "exercise_within_24h", "antidepressant", "diagnosis", "smoking"]
WIDE_VISIT_NOTE = {
    "collected_at": " (the visit's earliest collection)",
    "collection_time": " (of the visit's earliest collection)",
    "season": " (of the visit's earliest collection)",
}
WIDE_PER_TYPE = [
    _c("sample_id", "text", "", "Sample ID(s) of this type at this visit, separated by ';'"),
    _c("bdnf_pg_ml", "number", "pg/mL", "BDNF: mean of the in-range measurements, else the latest (censored) one"),
    _c("bdnf_pg_ml_corrected", "number", "pg/mL", "Batch-corrected BDNF (correction version in the provenance), chosen like "
       "bdnf_pg_ml; empty when no measurement of it is in the correction run"),
    _c("censoring", "text", "", "none when an in-range measurement exists, else the latest one's below_lloq / above_uloq"),
    _c("n_measurements", "integer", "", "Plate measurements of this type at this visit"),
    _c("plate_ids", "text", "", "Plates measured, separated by ';'"),
    _c("platelet_poor", "boolean", "", "Platelet-poor preparation"),
    _c("clotting_minutes", "number", "min", "Clotting time before centrifugation"),
    _c("minutes_to_centrifugation", "number", "min", "Time from draw to centrifugation"),
    _c("centrifuge_g", "number", "x g", "Centrifugation force"),
    _c("storage_days", "number", "days", "Days stored at -80 C before the assay"),
    _c("freeze_thaw_cycles", "integer", "cycles", "Freeze-thaw cycles before the assay"),
    _c("notes", "text", "", "Notes from the manifest"),
]
WIDE_TUBE = [c.name for c in WIDE_PER_TYPE if c.name in {m.name for m in MANIFEST}]  # differ between tubes of a visit
_HEMISPHERE = _c("_hemisphere", "text", "", "north or south (used for the wide export's season, not exported)")
_BY_NAME = {c.name: c for c in LONG_COLUMNS}


@dataclass(frozen=True)
class ExportFilters:
    """Which results go out: approved plates only unless `include_unapproved`; sites, sample types, collection dates."""

    sites: tuple[str, ...] = ()
    sample_types: tuple[str, ...] = ()
    since: datetime | None = None  # collected_at >= since
    until: datetime | None = None  # collected_at <= until (a date alone means the whole day)
    include_unapproved: bool = False

    def describe(self) -> dict[str, str]:
        return {
            "plates": "all statuses" if self.include_unapproved else "approved only",
            "sites": ", ".join(self.sites) or "all",
            "sample_types": ", ".join(self.sample_types) or "all",
            "collected_since": _when_text(self.since) or "any",
            "collected_until": _when_text(self.until) or "any",
        }


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


@dataclass(frozen=True)
class ExportSummary:
    path: Path | None
    rows: int
    plates: int
    unlinked: int  # rows whose sample ID is in no manifest


def parse_when(text: str | None, end: bool = False) -> datetime | None:
    """A --since/--until value: YYYY-MM-DD (the whole day for --until) or YYYY-MM-DD HH:MM."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"'{text}' is not a date: write YYYY-MM-DD or 'YYYY-MM-DD HH:MM'.") from None
    if end and len(text) <= 10:  # a date alone: up to the end of that day
        when = when + timedelta(days=1) - timedelta(microseconds=1)
    return when.replace(tzinfo=None)


def _when_text(when: datetime | None) -> str:
    return "" if when is None else when.isoformat(sep=" ", timespec="minutes")


def check_filters(session: Session, filters: ExportFilters) -> ExportFilters:
    """Filters with canonical sample types; unknown sites or types raise InputError with a suggestion."""
    known = list(session.exec(select(Site.code)).all())
    for code in filters.sites:
        if code not in known:
            close = difflib.get_close_matches(code, known, n=1)
            hint = f" Did you mean {close[0]}?" if close else f" Known sites: {', '.join(known) or 'none yet'}."
            raise InputError(f"--site {code}: no such site.{hint}")
    types = []
    for value in filters.sample_types:
        canonical = manifest_sample_type(pd.Series([value])).iloc[0]
        if canonical is None:
            raise InputError(f"--sample-type {value}: not a sample type; use {', '.join(SAMPLE_TYPES)}.")
        types.append(canonical)
    if filters.since and filters.until and filters.since > filters.until:
        raise InputError(f"--since {_when_text(filters.since)} is after --until {_when_text(filters.until)}.")
    return ExportFilters(tuple(filters.sites), tuple(dict.fromkeys(types)), filters.since, filters.until, filters.include_unapproved)


# --- queries --------------------------------------------------------------------------------------


def _restrict(stmt, filters: ExportFilters, sample_only: bool = False):
    """Joins and WHERE clauses shared by every export query."""
    if not sample_only:
        stmt = (
            stmt.select_from(Result)
            .join(Plate, Plate.id == Result.plate_id)
            .join(CurveFit, CurveFit.id == Result.curve_fit_id)
            .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
            .join(Sample, Sample.id == Result.sample_id, isouter=True)
            .join(Subject, Subject.id == Sample.subject_id, isouter=True)
            .join(Site, Site.id == Subject.site_id, isouter=True)
            .where(Result.role == "sample", CurveFit.is_current.is_(True))
        )
        if not filters.include_unapproved:
            stmt = stmt.where(Plate.status == "approved")
    else:
        stmt = stmt.select_from(Sample).join(Subject, Subject.id == Sample.subject_id).join(Site, Site.id == Subject.site_id, isouter=True)
    if filters.sites:
        stmt = stmt.where(Site.code.in_(filters.sites))
    if filters.sample_types:
        stmt = stmt.where(Sample.sample_type.in_(filters.sample_types))
    if filters.since:
        stmt = stmt.where(Sample.collected_at >= filters.since)
    if filters.until:
        stmt = stmt.where(Sample.collected_at <= filters.until)
    return stmt


def _long_select(filters: ExportFilters, wide: bool = False, correction_id: int | None = None):
    if correction_id is None:
        corrected = [sa.cast(sa.null(), sa.Float).label("bdnf_pg_ml_corrected"),
                     sa.cast(sa.null(), sa.Integer).label("correction_version")]
    else:
        corrected = [CorrectedResult.corrected_pg_ml.label("bdnf_pg_ml_corrected"),
                     CorrectedResult.run_id.label("correction_version")]
    stmt = select(
        Result.name.label("sample_id"), Subject.code.label("subject_id"), Sample.visit, Sample.sample_type,
        Site.code.label("site"), Sample.collected_at, Site.hemisphere.label("_hemisphere"),
        Plate.id.label("plate_id"), Plate.name.label("plate_name"), KitLot.lot.label("kit_lot"), Plate.operator,
        Plate.read_time, Result.conc_pg_ml.label("bdnf_pg_ml"), *corrected, Result.censoring, Result.lloq_pg_ml, Result.uloq_pg_ml,
        Result.dilution, Result.mean_od, Result.cv_pct, Result.n_replicates, _json_text(Result.flags).label("qc_flags"),
        Plate.status.label("plate_status"), Plate.verdict.label("plate_verdict"),
        Subject.sex, Sample.age, Sample.platelet_count, Sample.platelet_poor, Sample.clotting_minutes,
        Sample.minutes_to_centrifugation, Sample.centrifuge_g, Sample.storage_days, Sample.freeze_thaw_cycles,
        Sample.fasting, Sample.exercise_within_24h, Sample.antidepressant, Sample.diagnosis, Sample.smoking, Sample.notes,
        _json_text(Sample.extra).label("_extra"),
        Plate.file_sha256.label("raw_file_sha256"), Plate.original_filename.label("raw_file_name"),
        CurveFit.model.label("curve_model"), CurveFit.engine_version.label("curve_engine"), Plate.reviewed_by,
        Sample.manifest_sha256,
    )
    stmt = _restrict(stmt, filters)
    if correction_id is not None:
        stmt = stmt.join(CorrectedResult, sa.and_(CorrectedResult.result_id == Result.id,
                                                  CorrectedResult.run_id == correction_id), isouter=True)
    if wide:  # only samples in a manifest can be placed by subject and visit; each group's rows together
        return stmt.where(Sample.id.is_not(None)).order_by(
            Subject.code, Sample.visit.asc().nulls_first(), Sample.sample_type, Plate.read_time.asc().nulls_first(), Result.id)
    return stmt.order_by(Plate.id, Result.id)


def plan_export(session: Session, filters: ExportFilters = ExportFilters(), wide: bool = False, actor: str = "unknown",
                correction_version: int | None = None) -> ExportPlan:
    """Check the filters and find the columns (incl. manifest extras), row count, plates, provenance and the batch
    correction run (`correction_version`, default the latest) whose values fill bdnf_pg_ml_corrected."""
    filters = check_filters(session, filters)
    correction = _correction_run(session, correction_version)
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


def _correction_run(session: Session, version: int | None) -> CorrectionRun | None:
    if version is None:
        return session.exec(select(CorrectionRun).order_by(CorrectionRun.id.desc())).first()
    run = session.get(CorrectionRun, version)
    if run is None:
        known = session.exec(select(CorrectionRun.id).order_by(CorrectionRun.id)).all()
        raise InputError(f"--correction {version}: no such batch-correction run; "
                         + (f"versions: {', '.join(map(str, known))}." if known else "none exists yet (labdb batch correct)."))
    return run


def _correction_text(run: CorrectionRun | None) -> str:
    if run is None:
        return "none (bdnf_pg_ml_corrected is empty; labdb batch correct)"
    options = ", ".join(f"{k}={v}" for k, v in (run.options or {}).items() if k != "method" and v is not None)
    when = run.created_at.isoformat(timespec="seconds") if run.created_at else ""
    return (f"version {run.id}: {run.method} ({options}) by {run.created_by} at {when}; {run.n_plates} plates"
            + ("; design check overridden: " + (run.override_reason or "") if run.override else ""))


def long_columns(extras: dict[str, str] | None = None) -> list[Column]:
    """The long export's columns: fixed ones, then the manifest's extra columns before the provenance block."""
    extra_cols = [_c(name, "text", "", f"Manifest column '{key}', as written") for key, name in (extras or {}).items()]
    return IDENTITY + MEASUREMENT + MANIFEST + extra_cols + PROVENANCE


def wide_columns(sample_types: list[str], extras: dict[str, str] | None = None) -> list[Column]:
    """The wide export's columns: subject and visit, visit-level covariates, then a block per sample type."""
    cols = [_BY_NAME[n] for n in WIDE_KEYS]
    cols += [Column(n, _BY_NAME[n].kind, _BY_NAME[n].unit, _BY_NAME[n].meaning + WIDE_VISIT_NOTE.get(n, " (first non-empty of the visit's samples)"))
             for n in WIDE_VISIT]
    cols += [_c(name, "text", "", f"Manifest column '{key}', first non-empty of the visit's samples") for key, name in (extras or {}).items()]
    for stype in sample_types:
        cols += [Column(f"{c.name}_{stype}", c.kind, c.unit, f"{c.meaning} [{stype}]") for c in WIDE_PER_TYPE]
    return cols


def _plates(session: Session, counts: dict[int, int]) -> pd.DataFrame:
    ids = sorted(counts)
    columns = ["plate_id", "plate_name", "raw_file_name", "raw_file_sha256", "reader_format", "read_time", "kit_lot",
               "operator", "status", "verdict", "reviewed_by", "reviewed_at", "curve_model", "curve_engine", "fitted_at", "rows"]
    rows = []
    for start in range(0, len(ids), 5000):
        stmt = (
            select(Plate.id, Plate.name, Plate.original_filename, Plate.file_sha256, Plate.reader_format, Plate.read_time,
                   KitLot.lot, Plate.operator, Plate.status, Plate.verdict, Plate.reviewed_by, Plate.reviewed_at,
                   CurveFit.model, CurveFit.engine_version, CurveFit.fitted_at)
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
        "exported_at_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exported_by": actor,
        "database": url,
        "layout": "wide: one row per subject and visit, a column block per sample type" if plan.wide
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


# --- chunks ---------------------------------------------------------------------------------------


def iter_export(session: Session, plan: ExportPlan, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The export's rows as typed DataFrames of at most about `chunk_rows` rows, in the plan's column order."""
    chunks = _long_chunks(session, plan, chunk_rows)
    yield from (_wide_chunks(chunks, plan) if plan.wide else chunks)


def _stream(session: Session, stmt, chunk_rows: int):
    """Core rows of `stmt` in lists of `chunk_rows` (a server-side cursor on PostgreSQL), in the session's transaction."""
    result = session.connection().execute(stmt, execution_options={"yield_per": chunk_rows})
    return result.partitions()


def _long_chunks(session: Session, plan: ExportPlan, chunk_rows: int) -> Iterator[pd.DataFrame]:
    stmt = _long_select(plan.filters, plan.wide, plan.correction.id if plan.correction else None)
    keys = [c.name for c in stmt.selected_columns]
    columns = long_columns(plan.extras) + ([_HEMISPHERE] if plan.wide else [])
    for part in _stream(session, stmt, chunk_rows):
        df = pd.DataFrame(dict(zip(keys, zip(*part), strict=True)) if part else {k: [] for k in keys})
        df["qc_flags"] = df["qc_flags"].map(_flags)
        extra = df.pop("_extra").map(_as_dict)
        for key, name in plan.extras.items():
            df[name] = extra.map(lambda e, k=key: e.get(k))
        when = pd.to_datetime(df["collected_at"])
        df["season"] = seasons_of(when, df["_hemisphere"], plan.convention)
        df["collection_time"] = _time_of_day(when)
        yield typed(df, columns)


def _time_of_day(when: pd.Series) -> pd.Series:
    text = when.dt.strftime("%H:%M").astype(object)
    midnight = when.notna() & (when == when.dt.normalize())
    return text.where(when.notna() & ~midnight, None)


def _wide_chunks(chunks: Iterator[pd.DataFrame], plan: ExportPlan) -> Iterator[pd.DataFrame]:
    """Long chunks ordered by subject and visit -> wide rows; a visit cut by a chunk boundary waits for the next."""
    carry = None
    for chunk in chunks:
        df = chunk if carry is None else pd.concat([carry, chunk], ignore_index=True)
        if df.empty:
            continue
        last = df[WIDE_KEYS].iloc[-1]
        tail = (df["subject_id"] == last["subject_id"]) & _same_visit(df["visit"], last["visit"])
        carry, done = df[tail], df[~tail]
        if len(done):
            yield _widen(done, plan)
    if carry is not None and len(carry):
        yield _widen(carry, plan)


def _same_visit(visits: pd.Series, visit) -> pd.Series:
    return visits.isna() if visit is None or pd.isna(visit) else visits.eq(visit).fillna(False).astype(bool)


def _widen(long: pd.DataFrame, plan: ExportPlan) -> pd.DataFrame:
    """One row per subject and visit from complete groups of long rows."""
    long = long.assign(visit=long["visit"].astype(object).where(long["visit"].notna(), "\x00"))  # groupby keeps no-visit rows
    keys = ["subject_id", "visit"]
    visit_cols = [c for c in WIDE_VISIT if c not in ("collected_at", "collection_time", "season")]
    visit_cols += [*plan.extras.values(), "_hemisphere"]
    out = long.groupby(keys, sort=False)[visit_cols].first()
    out["collected_at"] = long.groupby(keys, sort=False)["collected_at"].min()
    for stype in plan.sample_types:
        part = long[long["sample_type"] == stype]
        if part.empty:
            continue
        out = out.join(_per_type(part, keys).add_suffix(f"_{stype}"))
    out = out.reset_index()
    out["visit"] = out["visit"].where(out["visit"] != "\x00", None)
    when = pd.to_datetime(out["collected_at"])  # the visit's earliest collection sets its season and time of day
    out["season"] = seasons_of(when, out["_hemisphere"], plan.convention)
    out["collection_time"] = _time_of_day(when)
    return typed(out, plan.columns)


def _per_type(part: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per subject and visit for one sample type: the chosen value, censoring, counts, ids and tube covariates."""
    g = part.groupby(keys, sort=False)
    in_range = part[(part["censoring"] == "none") & part["bdnf_pg_ml"].notna()].groupby(keys, sort=False)
    latest = g.tail(1).set_index(keys)
    out = pd.DataFrame(index=latest.index)
    out["sample_id"] = g["sample_id"].agg(lambda s: ";".join(dict.fromkeys(s.dropna().astype(str))))
    for col in ("bdnf_pg_ml", "bdnf_pg_ml_corrected"):
        out[col] = in_range[col].mean().reindex(out.index).fillna(latest[col])
    has_in_range = pd.Series(out.index.isin(in_range.size().index), index=out.index)
    out["censoring"] = latest["censoring"].where(~has_in_range, "none")
    out["n_measurements"] = g.size()
    out["plate_ids"] = g["plate_id"].agg(lambda s: ";".join(dict.fromkeys(str(int(v)) for v in s.dropna())))
    out[WIDE_TUBE] = g[WIDE_TUBE].first()
    return out


def typed(df: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """`df` with exactly `columns`, each cast to its kind (so every chunk has the same dtypes)."""
    out = {}
    for col in columns:
        s = df[col.name] if col.name in df else pd.Series(None, index=df.index, dtype=object)
        if col.kind == "number":
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        elif col.kind == "integer":
            s = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif col.kind == "boolean":
            s = s.astype(object).where(s.notna(), None).astype("boolean")
        elif col.kind == "timestamp":
            s = pd.to_datetime(s, errors="coerce").astype("datetime64[us]")
        else:
            s = s.astype("str")  # pandas' text dtype (Arrow-backed): missing stays missing
        out[col.name] = s.reset_index(drop=True)
    return pd.DataFrame(out)


def _json_text(column):
    """A JSON column read as its text (parsed below, with a cache: most flag lists repeat)."""
    return sa.cast(column, sa.Text)


@lru_cache(maxsize=4096)
def _parsed(text: str):
    return json.loads(text)


def _as_dict(value) -> dict:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _flags(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        value = _parsed(value)
    return ";".join(str(v) for v in value) if isinstance(value, list) else ""


# --- writing --------------------------------------------------------------------------------------


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells (and headers) a spreadsheet would run as a formula with a single quote (CSV/xlsx injection)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not (s.dtype == object or pd.api.types.is_string_dtype(s)):
            continue
        try:
            mask = s.str.startswith(FORMULA_START, na=False).astype(bool)
        except AttributeError:  # an object column without text
            mask = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START)).astype(bool)
        if mask.any():
            out[col] = s.astype(object).where(~mask, "'" + s[mask].astype(str))
    out.columns = [("'" + c) if isinstance(c, str) and c.startswith(FORMULA_START) else c for c in out.columns]
    return out


def write_export(session: Session, out: Path, filters: ExportFilters = ExportFilters(), wide: bool = False,
                 actor: str = "unknown", chunk_rows: int = CHUNK_ROWS, correction_version: int | None = None) -> ExportSummary:
    """Stream the export to CSV or Parquet (xlsx: in memory, three sheets), written to a temporary file and moved
    into place only when complete."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{out.name}: unknown export format '{suffix}'; use .csv, .parquet or .xlsx.")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist.")
    plan = plan_export(session, filters, wide, actor, correction_version)
    if suffix == ".xlsx" and plan.rows > XLSX_MAX_ROWS:
        raise InputError(f"{out.name}: {plan.rows:,} rows are too many for xlsx (at most {XLSX_MAX_ROWS:,}); "
                         f"export to .csv or .parquet, or narrow it with --site, --sample-type, --since or --until.")
    part = out.with_name(out.name + ".part")
    try:
        writer = {".csv": _write_csv, ".parquet": _write_parquet, ".xlsx": _write_xlsx}[suffix]
        rows, unlinked = writer(iter_export(session, plan, chunk_rows), plan, part)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return ExportSummary(out, rows, len(plan.plates), unlinked)


def _count(df: pd.DataFrame) -> tuple[int, int]:
    return len(df), int(df["subject_id"].isna().sum()) if "subject_id" in df else 0


def _write_csv(chunks: Iterator[pd.DataFrame], plan: ExportPlan, path: Path) -> tuple[int, int]:
    rows = unlinked = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        neutralise_formulas(pd.DataFrame(columns=[c.name for c in plan.columns])).to_csv(f, index=False)
        for chunk in chunks:
            neutralise_formulas(chunk).to_csv(f, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S")
            n, u = _count(chunk)
            rows, unlinked = rows + n, unlinked + u
    return rows, unlinked


def arrow_schema(plan: ExportPlan):
    """The Parquet schema: numbers as double, whole numbers as int64, booleans, timestamps (local, no zone), text."""
    import pyarrow as pa

    types = {"text": pa.string(), "number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(),
             "timestamp": pa.timestamp("us")}
    meta = {"labdb.provenance": json.dumps(plan.provenance),
            "labdb.plates": plan.plates.to_json(orient="records", date_format="iso"),
            "labdb.dictionary": json.dumps([asdict(c) for c in plan.columns])}
    return pa.schema([pa.field(c.name, types[c.kind]) for c in plan.columns], metadata=meta)


def _write_parquet(chunks: Iterator[pd.DataFrame], plan: ExportPlan, path: Path) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(plan)
    rows = unlinked = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for chunk in chunks:  # one row group per chunk
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            n, u = _count(chunk)
            rows, unlinked = rows + n, unlinked + u
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows, unlinked


def _write_xlsx(chunks: Iterator[pd.DataFrame], plan: ExportPlan, path: Path) -> tuple[int, int]:
    frames = list(chunks)
    df = pd.concat(frames, ignore_index=True) if frames else typed(pd.DataFrame(), plan.columns)
    safe = neutralise_formulas(df)
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(lambda v: _ILLEGAL_XLSX.sub("", v) if isinstance(v, str) else v)
    provenance = pd.DataFrame(list(plan.provenance.items()), columns=["item", "value"])
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name="data", index=False)
        neutralise_formulas(dictionary_frame(plan.columns)).to_excel(writer, sheet_name="dictionary", index=False)
        neutralise_formulas(provenance).to_excel(writer, sheet_name="provenance", index=False)
        neutralise_formulas(plan.plates).to_excel(writer, sheet_name="provenance", index=False, startrow=len(provenance) + 2)
    return _count(df)


def dictionary_frame(columns: list[Column] | None = None) -> pd.DataFrame:
    """The data dictionary: column, type, unit, meaning."""
    columns = LONG_COLUMNS if columns is None else columns
    return pd.DataFrame([(c.name, c.kind, c.unit, c.meaning) for c in columns], columns=["column", "type", "unit", "meaning"])


def write_dictionary(df: pd.DataFrame, out: Path) -> None:
    """The dictionary as CSV or xlsx."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in DICTIONARY_FORMATS:
        raise InputError(f"{out.name}: the dictionary is written as .csv or .xlsx, not '{suffix}'.")
    safe = neutralise_formulas(df)
    if suffix == ".csv":
        safe.to_csv(out, index=False)
    else:
        safe.to_excel(out, sheet_name="dictionary", index=False, engine="openpyxl")


def export_frame(session: Session, include_unapproved: bool = False, filters: ExportFilters | None = None,
                 wide: bool = False, correction_version: int | None = None) -> pd.DataFrame:
    """The whole export as one DataFrame (for small exports, tests and pages; files are written by write_export)."""
    filters = filters or ExportFilters(include_unapproved=include_unapproved)
    plan = plan_export(session, filters, wide, correction_version=correction_version)
    frames = list(iter_export(session, plan))
    return pd.concat(frames, ignore_index=True) if frames else typed(pd.DataFrame(), plan.columns)


def export_count(session: Session, filters: ExportFilters = ExportFilters()) -> int:
    """Number of sample results the (long) export would hold."""
    return session.execute(_restrict(select(sa.func.count(Result.id)), filters)).scalar_one()

