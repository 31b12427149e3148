"""Cached, read-only data for the dashboard pages: st.cache_data wrappers around the read model (labdb.queries) and
the services (labdb.export, labdb.samples, labdb.worklist, labdb.runqc, labdb.correction). Nothing here knows the
schema or writes: each wrapper opens a read session (labdb.queries.read_session) and calls labdb. Every cached
function takes the database URL first, so the cache is keyed by it."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from labdb import correction_runs as stored_runs
from labdb import export, queries, samples
from labdb import worklist as worklists
from labdb.core.config import get_settings, resource_dir
from labdb.queries import read_session


def database_url() -> str:
    """The database this app shows (LABDB_DATABASE_URL); every cached query is keyed by it."""
    return get_settings().database_url


def invalidate() -> None:
    """Forget every cached query (after a page changed the database)."""
    st.cache_data.clear()


@st.cache_data(ttl=300)
def templates() -> dict[str, Path]:
    """The bundled plate templates (plate_templates/*.toml) by file name."""
    return {p.name: p for p in sorted(resource_dir("plate_templates").glob("*.toml"))}


@st.cache_data(ttl=30)
def plates(url: str) -> pd.DataFrame:
    """Plates with status, verdict and kit lot, newest read first."""
    with read_session(url) as session:
        return queries.plates(session)


@st.cache_data(ttl=30)
def plate_wells(url: str, plate_id: int) -> pd.DataFrame:
    """Wells of one plate with corrected OD and back-calculated concentration."""
    with read_session(url) as session:
        return queries.plate_wells(session, plate_id=plate_id)


@st.cache_data(ttl=30)
def plate_curve(url: str, plate_id: int) -> dict | None:
    """The current curve fit of one plate as a dict, or None."""
    with read_session(url) as session:
        return queries.plate_curve(session, plate_id=plate_id)


@st.cache_data(ttl=30)
def plate_results(url: str, plate_id: int) -> pd.DataFrame:
    """Replicate-group results of one plate."""
    with read_session(url) as session:
        return queries.plate_results(session, plate_id=plate_id)


@st.cache_data(ttl=30)
def plate_violations(url: str, plate_id: int) -> pd.DataFrame:
    """Westgard violations this plate completed (rule, severity, metric, level, the plates and values of the window)."""
    with read_session(url) as session:
        return queries.plate_violations(session, plate_id=plate_id)


@st.cache_data(ttl=30)
def audit_events(
    url: str,
    actors: tuple[str, ...] = (),
    actions: tuple[str, ...] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Audit events, newest first, filtered in SQL (actor, action and at are indexed)."""
    with read_session(url) as session:
        return queries.audit_events(session, actors=actors, actions=actions, since=since, until=until, limit=limit)


@st.cache_data(ttl=30)
def audit_facets(url: str) -> tuple[list[str], list[str]]:
    """Distinct actors and actions, for the audit filters."""
    with read_session(url) as session:
        return queries.audit_facets(session)


@st.cache_data(ttl=60)
def sites(url: str) -> list[str]:
    with read_session(url) as session:
        return queries.sites(session)


@st.cache_data(ttl=30)
def approved_count(url: str) -> int:
    with read_session(url) as session:
        return queries.approved_count(session)


@st.cache_data(ttl=30)
def export_overview(url: str, filters: export.ExportFilters, wide: bool, preview_rows: int = 200, correction: int | None = None) -> dict:
    """What the Export page shows before anything is downloaded: row and plate counts, the first rows (read from the
    streamed export, not the whole table), the dictionary and the batch-correction run named in the provenance."""
    with read_session(url) as session:
        return queries.export_overview(session, filters=filters, wide=wide, preview_rows=preview_rows, correction=correction)


def export_bytes(url: str, filters: export.ExportFilters, wide: bool, suffix: str, actor: str, correction: int | None = None) -> bytes:
    """The export file (.csv, .parquet or .xlsx) exactly as `labdb export` writes it. Not cached: the download button
    calls it when clicked (in its own thread), so a page load never builds files nobody asked for."""
    with tempfile.TemporaryDirectory() as tmp, read_session(url) as session:
        out = Path(tmp) / f"export{suffix}"
        export.write_export(session, out, filters, wide, actor=actor or "unknown", correction_version=correction)
        return out.read_bytes()


@st.cache_data(ttl=30)
def cohort_values(url: str, correction: int | None = None) -> pd.DataFrame:
    """Approved plates' sample results with the few columns the Cohort page plots (one narrow query), and the
    batch-corrected value of run `correction` (None: no corrected column values)."""
    with read_session(url) as session:
        return queries.cohort_values(session, correction=correction)


@st.cache_data(ttl=30)
def unmatched(url: str) -> dict[str, list[dict]]:
    with read_session(url) as session:
        return samples.unmatched(session)


@st.cache_data(ttl=30)
def worklist(url: str) -> pd.DataFrame:
    with read_session(url) as session:
        return worklists.worklist(session)


@st.cache_data(ttl=30)
def qc_metrics(url: str) -> pd.DataFrame:
    """Levey-Jennings metrics per plate, kit lot and level, in run order (labdb.runqc.metric_values)."""
    from labdb import runqc

    with read_session(url) as session:
        return runqc.metric_values(session)


@st.cache_data(ttl=30)
def qc_guide_sets(url: str) -> pd.DataFrame:
    """Stored guide sets with their kit lot name (open and closed)."""
    with read_session(url) as session:
        return queries.qc_guide_sets(session)


@st.cache_data(ttl=30)
def qc_violations(url: str) -> pd.DataFrame:
    """Stored Westgard violations with the kit lot and plate names."""
    with read_session(url) as session:
        return queries.qc_violations(session)


@st.cache_data(ttl=30)
def correction_runs(url: str) -> pd.DataFrame:
    """Stored batch-correction runs (versions), newest first: the list only, no diagnostics or values."""
    with read_session(url) as session:
        return queries.correction_runs(session)


@st.cache_data(ttl=30)
def correction_run(url: str, version: int) -> dict | None:
    """One correction run as plain data (options, fitted parameters, warnings, diagnostics) and its staleness (plates
    approved since, refitted or no longer approved), or None."""
    with read_session(url) as session:
        return queries.correction_run(session, version=version)


@st.cache_data(ttl=30)
def correction_shifts(url: str, version: int) -> pd.DataFrame:
    """A run's per-plate shifts (one row per plate, run order) with CI, factor and the check pool before/after."""
    with read_session(url) as session:
        return stored_runs.shifts(session, version)


@st.cache_data(ttl=30)
def approved_kit_lots(url: str) -> list[str]:
    """Kit lots of the approved plates (the reference lots a correction can use)."""
    with read_session(url) as session:
        return queries.approved_kit_lots(session)
