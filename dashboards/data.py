"""Cached, read-only queries for the dashboard pages (DataFrames in, nothing written)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from labdb import export, samples
from labdb import worklist as worklists
from labdb.config import get_settings, resource_dir
from labdb.db import get_engine
from labdb.models import AuditEvent, CurveFit, KitLot, Plate, Result, Sample, Site, Subject, Well


def database_url() -> str:
    """The database this app shows (LABDB_DATABASE_URL); every cached query is keyed by it."""
    return get_settings().database_url


@st.cache_resource
def engine(url: str) -> Engine:
    """One engine per database for the app."""
    return get_engine(url)


@st.cache_data(ttl=30)
def plates(url: str) -> pd.DataFrame:
    """Plates with status, verdict and kit lot, newest read first."""
    stmt = (
        select(Plate.id, Plate.name, Plate.original_filename, Plate.read_time, Plate.operator, KitLot.lot.label("kit_lot"),
               Plate.status, Plate.verdict, Plate.verdict_reasons)
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .order_by(Plate.read_time.desc(), Plate.id.desc())
    )
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def plate_wells(url: str, plate_id: int) -> pd.DataFrame:
    """Wells of one plate with corrected OD and back-calculated concentration."""
    stmt = select(Well.position, Well.row, Well.col, Well.role, Well.level, Well.nominal, Well.dilution, Well.sample_code,
                  Well.od_corrected, Well.conc_pg_ml, Well.masked, Well.mask_reason, Well.flags).where(Well.plate_id == plate_id)
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def plate_curve(url: str, plate_id: int) -> dict | None:
    """The current curve fit of one plate as a dict, or None."""
    stmt = select(CurveFit).where(CurveFit.plate_id == plate_id, CurveFit.is_current.is_(True))
    with engine(url).connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


@st.cache_data(ttl=30)
def plate_results(url: str, plate_id: int) -> pd.DataFrame:
    """Replicate-group results of one plate."""
    stmt = (
        select(Result.role, Result.name, Result.dilution, Result.n_replicates, Result.mean_od, Result.cv_pct,
               Result.conc_pg_ml, Result.censoring, Result.nominal_pg_ml, Result.recovery_pct, Result.flags)
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .where(Result.plate_id == plate_id, CurveFit.is_current.is_(True))
    )
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


def invalidate() -> None:
    """Forget every cached query (after a page changed the database)."""
    st.cache_data.clear()


def _session(url: str) -> Session:
    return Session(engine(url))


@st.cache_data(ttl=300)
def templates() -> dict[str, Path]:
    """The bundled plate templates (plate_templates/*.toml) by file name."""
    return {p.name: p for p in sorted(resource_dir("plate_templates").glob("*.toml"))}


@st.cache_data(ttl=30)
def audit_events(url: str, actors: tuple[str, ...] = (), actions: tuple[str, ...] = (), since: datetime | None = None,
                 until: datetime | None = None, limit: int = 500) -> pd.DataFrame:
    """Audit events, newest first, filtered in SQL (actor, action and at are indexed)."""
    stmt = select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.entity, AuditEvent.entity_id,
                  AuditEvent.detail, AuditEvent.before, AuditEvent.after)
    if actors:
        stmt = stmt.where(AuditEvent.actor.in_(actors))
    if actions:
        stmt = stmt.where(AuditEvent.action.in_(actions))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at <= until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def audit_facets(url: str) -> tuple[list[str], list[str]]:
    """Distinct actors and actions, for the audit filters."""
    with engine(url).connect() as conn:
        actors = conn.execute(select(AuditEvent.actor).distinct().order_by(AuditEvent.actor)).scalars().all()
        actions = conn.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars().all()
    return list(actors), list(actions)


@st.cache_data(ttl=60)
def sites(url: str) -> list[str]:
    with engine(url).connect() as conn:
        return list(conn.execute(select(Site.code).order_by(Site.code)).scalars().all())


@st.cache_data(ttl=30)
def approved_count(url: str) -> int:
    with engine(url).connect() as conn:
        return int(conn.execute(select(sa.func.count(Plate.id)).where(Plate.status == "approved")).scalar_one())


@st.cache_data(ttl=30)
def export_overview(url: str, filters: export.ExportFilters, wide: bool, preview_rows: int = 200,
                    correction: int | None = None) -> dict:
    """What the Export page shows before anything is downloaded: row and plate counts, the first rows (read from the
    streamed export, not the whole table), the dictionary and the batch-correction run named in the provenance."""
    with _session(url) as session:
        plan = export.plan_export(session, filters, wide, correction_version=correction)
        preview = export.typed(pd.DataFrame(), plan.columns)
        chunks = export.iter_export(session, plan, chunk_rows=preview_rows if not wide else max(preview_rows * 4, 1000))
        for chunk in chunks:
            if len(chunk):
                preview = chunk.head(preview_rows)
                break
        chunks.close()
        return {"rows": plan.rows, "plates": len(plan.plates), "preview": preview,
                "dictionary": export.dictionary_frame(plan.columns),
                "batch_correction": plan.provenance.get("batch_correction", "")}


def export_bytes(url: str, filters: export.ExportFilters, wide: bool, suffix: str, actor: str,
                 correction: int | None = None) -> bytes:
    """The export file (.csv, .parquet or .xlsx) exactly as `labdb export` writes it. Not cached: the download button
    calls it when clicked (in its own thread), so a page load never builds files nobody asked for."""
    with tempfile.TemporaryDirectory() as tmp, Session(get_engine(url)) as session:
        out = Path(tmp) / f"export{suffix}"
        export.write_export(session, out, filters, wide, actor=actor or "unknown", correction_version=correction)
        return out.read_bytes()


@st.cache_data(ttl=30)
def cohort_values(url: str, correction: int | None = None) -> pd.DataFrame:
    """Approved plates' sample results with the few columns the Cohort page plots (one narrow query), and the
    batch-corrected value of run `correction` (None: no corrected column values)."""
    from labdb.models import CorrectedResult

    stmt = (
        select(Result.plate_id, Result.name.label("sample_id"), Result.conc_pg_ml.label("bdnf_pg_ml"),
               CorrectedResult.corrected_pg_ml.label("bdnf_pg_ml_corrected"), Result.censoring, Sample.sample_type,
               Sample.collected_at, Site.hemisphere.label("_hemisphere"), Subject.sex, Sample.platelet_count)
        .join(Plate, Plate.id == Result.plate_id)
        .join(CorrectedResult, sa.and_(CorrectedResult.result_id == Result.id,
                                       CorrectedResult.run_id == (correction if correction is not None else -1)),
              isouter=True)
        .join(CurveFit, sa.and_(CurveFit.id == Result.curve_fit_id, CurveFit.is_current.is_(True)))
        .join(Sample, Sample.id == Result.sample_id, isouter=True)
        .join(Subject, Subject.id == Sample.subject_id, isouter=True)
        .join(Site, Site.id == Subject.site_id, isouter=True)
        .where(Result.role == "sample", Plate.status == "approved")
    )
    with engine(url).connect() as conn:
        df = pd.read_sql(stmt, conn)
    df["season"] = samples.seasons_of(pd.to_datetime(df.pop("collected_at")), df.pop("_hemisphere"),
                                      samples.season_convention())
    return df


@st.cache_data(ttl=30)
def unmatched(url: str) -> dict[str, list[dict]]:
    with _session(url) as session:
        return samples.unmatched(session)


@st.cache_data(ttl=30)
def worklist(url: str) -> pd.DataFrame:
    with _session(url) as session:
        return worklists.worklist(session)


@st.cache_data(ttl=30)
def qc_metrics(url: str) -> pd.DataFrame:
    """Levey-Jennings metrics per plate, kit lot and level, in run order (labdb.runqc.metric_values)."""
    from labdb import runqc

    with _session(url) as session:
        return runqc.metric_values(session)


@st.cache_data(ttl=30)
def qc_guide_sets(url: str) -> pd.DataFrame:
    """Stored guide sets with their kit lot name (open and closed)."""
    from labdb.models import KitLot, QcGuideSet

    stmt = (
        select(KitLot.lot, QcGuideSet.metric, QcGuideSet.level, QcGuideSet.mean, QcGuideSet.sd, QcGuideSet.n,
               QcGuideSet.source, QcGuideSet.created_by, QcGuideSet.closed_at, QcGuideSet.applies_until)
        .join(KitLot, KitLot.id == QcGuideSet.kit_lot_id)
        .order_by(KitLot.lot, QcGuideSet.metric, QcGuideSet.level, QcGuideSet.id)
    )
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def qc_violations(url: str) -> pd.DataFrame:
    """Stored Westgard violations with the kit lot and plate names."""
    from labdb.models import KitLot, QcViolation

    stmt = (
        select(KitLot.lot, QcViolation.rule, QcViolation.severity, QcViolation.metric, QcViolation.level,
               QcViolation.plate_id, Plate.name.label("plate"), QcViolation.plate_ids, QcViolation.values)
        .join(KitLot, KitLot.id == QcViolation.kit_lot_id)
        .join(Plate, Plate.id == QcViolation.plate_id)
        .order_by(QcViolation.id)
    )
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def correction_runs(url: str) -> pd.DataFrame:
    """Stored batch-correction runs (versions), newest first: the list only, no diagnostics or values."""
    from labdb.models import CorrectionRun

    stmt = select(CorrectionRun.id.label("version"), CorrectionRun.method, CorrectionRun.n_plates.label("plates"),
                  CorrectionRun.n_values.label("values"), CorrectionRun.override, CorrectionRun.created_by,
                  CorrectionRun.created_at).order_by(CorrectionRun.id.desc())
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def correction_run(url: str, version: int) -> dict | None:
    """One correction run as plain data (options, fitted parameters, warnings, diagnostics) and its staleness (plates
    approved since, refitted or no longer approved), or None."""
    from labdb import correction
    from labdb.models import CorrectionRun

    with _session(url) as session:
        run = session.get(CorrectionRun, version)
        if run is None:
            return None
        return {"version": run.id, "method": run.method, "options": run.options or {}, "fitted": run.fitted or {},
                "plates": run.n_plates, "values": run.n_values, "override": run.override,
                "override_reason": run.override_reason, "warnings": list(run.warnings or []),
                "diagnostics": run.diagnostics or {}, "created_by": run.created_by, "created_at": run.created_at,
                "labdb_version": run.labdb_version, "stale": correction.staleness(session, run)}


@st.cache_data(ttl=30)
def correction_shifts(url: str, version: int) -> pd.DataFrame:
    """A run's per-plate shifts (one row per plate, run order) with CI, factor and the check pool before/after."""
    from labdb import correction

    with _session(url) as session:
        return correction.shifts(session, version)


@st.cache_data(ttl=30)
def approved_kit_lots(url: str) -> list[str]:
    """Kit lots of the approved plates (the reference lots a correction can use)."""
    stmt = (select(KitLot.lot).distinct().join(Plate, Plate.kit_lot_id == KitLot.id)
            .where(Plate.status == "approved").order_by(KitLot.lot))
    with engine(url).connect() as conn:
        return list(conn.execute(stmt).scalars().all())


@st.cache_data(ttl=30)
def plate_violations(url: str, plate_id: int) -> pd.DataFrame:
    """Westgard violations this plate completed (rule, severity, metric, level, the plates and values of the window)."""
    from labdb.models import QcViolation

    stmt = (select(QcViolation.rule, QcViolation.severity, QcViolation.metric, QcViolation.level, QcViolation.plate_ids,
                   QcViolation.values, QcViolation.z)
            .where(QcViolation.plate_id == plate_id).order_by(QcViolation.id))
    with engine(url).connect() as conn:
        return pd.read_sql(stmt, conn)
