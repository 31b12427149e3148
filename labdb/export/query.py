"""What the export reads and how: the filters, the SQL (joins, WHERE clauses, column selection, order) and the
streamed reading of its rows.

The query is read in chunks (`yield_per`, a server-side cursor on PostgreSQL) inside the caller's transaction, so
an export's memory does not grow with its rows. JSON columns (result flags, manifest extras) are read as text and
parsed here, with a cache for the flag lists that repeat.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from labdb.core.errors import InputError
from labdb.core.models import CorrectedResult, CurveFit, KitLot, Plate, Result, Sample, Site, Subject
from qc.manifest import manifest_sample_type
from qc.vocab import SAMPLE_TYPES


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
        corrected = [sa.cast(sa.null(), sa.Float).label("bdnf_pg_ml_corrected"), sa.cast(sa.null(), sa.Integer).label("correction_version")]
    else:
        corrected = [CorrectedResult.corrected_pg_ml.label("bdnf_pg_ml_corrected"), CorrectedResult.run_id.label("correction_version")]
    stmt = select(
        Result.name.label("sample_id"),
        Subject.code.label("subject_id"),
        Sample.visit,
        Sample.sample_type,
        Site.code.label("site"),
        Sample.collected_at,
        Site.hemisphere.label("_hemisphere"),
        Plate.id.label("plate_id"),
        Plate.name.label("plate_name"),
        KitLot.lot.label("kit_lot"),
        Plate.operator,
        Plate.read_time,
        Result.conc_pg_ml.label("bdnf_pg_ml"),
        *corrected,
        Result.censoring,
        Result.lloq_pg_ml,
        Result.uloq_pg_ml,
        Result.dilution,
        Result.mean_od,
        Result.cv_pct,
        Result.n_replicates,
        _json_text(Result.flags).label("qc_flags"),
        Plate.status.label("plate_status"),
        Plate.verdict.label("plate_verdict"),
        Subject.sex,
        Sample.age,
        Sample.platelet_count,
        Sample.platelet_poor,
        Sample.clotting_minutes,
        Sample.minutes_to_centrifugation,
        Sample.centrifuge_g,
        Sample.storage_days,
        Sample.freeze_thaw_cycles,
        Sample.fasting,
        Sample.exercise_within_24h,
        Sample.antidepressant,
        Sample.diagnosis,
        Sample.smoking,
        Sample.notes,
        _json_text(Sample.extra).label("_extra"),
        Plate.file_sha256.label("raw_file_sha256"),
        Plate.original_filename.label("raw_file_name"),
        CurveFit.model.label("curve_model"),
        CurveFit.engine_version.label("curve_engine"),
        Plate.reviewed_by,
        Sample.manifest_sha256,
    )
    stmt = _restrict(stmt, filters)
    if correction_id is not None:
        stmt = stmt.join(
            CorrectedResult, sa.and_(CorrectedResult.result_id == Result.id, CorrectedResult.run_id == correction_id), isouter=True
        )
    if wide:  # only samples in a manifest can be placed by subject and visit; each group's rows together
        return stmt.where(Sample.id.is_not(None)).order_by(
            Subject.code, Sample.visit.asc().nulls_first(), Sample.sample_type, Plate.read_time.asc().nulls_first(), Result.id
        )
    return stmt.order_by(Plate.id, Result.id)


def _stream(session: Session, stmt, chunk_rows: int):
    """Core rows of `stmt` in lists of `chunk_rows` (a server-side cursor on PostgreSQL), in the session's transaction."""
    result = session.connection().execute(stmt, execution_options={"yield_per": chunk_rows})
    return result.partitions()


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
