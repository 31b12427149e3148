"""The export's rows as DataFrames: long chunks from the streamed query, the wide reshape, typing, and formula
neutralisation.

Long chunks get their flags, manifest extras, season and time of day here and are cast to the plan's column kinds
(`typed`), so every chunk has the same dtypes and a writer can append it as it comes. The wide layout regroups long
chunks ordered by subject and visit into one row per subject and visit; a visit cut by a chunk boundary waits for
the next chunk. `neutralise_formulas` (used for CSV, xlsx and by the pages and the worklist) quotes text a
spreadsheet would run as a formula; Parquet is never neutralised.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from sqlmodel import Session

from labdb.export.columns import _HEMISPHERE, WIDE_KEYS, WIDE_TUBE, WIDE_VISIT, Column, long_columns
from labdb.export.plan import ExportPlan, plan_export
from labdb.export.query import ExportFilters, _as_dict, _flags, _long_select, _stream
from labdb.samples import seasons_of

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 10_000  # rows per chunk and per Parquet row group: ~10 MB of Python objects per 1,000 rows


# --- chunks ---------------------------------------------------------------------------------------


def iter_export(session: Session, plan: ExportPlan, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The export's rows as typed DataFrames of at most about `chunk_rows` rows, in the plan's column order."""
    chunks = _long_chunks(session, plan, chunk_rows)
    yield from (_wide_chunks(chunks, plan) if plan.wide else chunks)


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


def export_frame(
    session: Session,
    include_unapproved: bool = False,
    filters: ExportFilters | None = None,
    wide: bool = False,
    correction_version: int | None = None,
) -> pd.DataFrame:
    """The whole export as one DataFrame (for small exports, tests and pages; files are written by write_export)."""
    filters = filters or ExportFilters(include_unapproved=include_unapproved)
    plan = plan_export(session, filters, wide, correction_version=correction_version)
    frames = list(iter_export(session, plan))
    return pd.concat(frames, ignore_index=True) if frames else typed(pd.DataFrame(), plan.columns)
