"""Cached, read-only queries for the dashboard pages (DataFrames in, nothing written)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from labdb.config import get_settings
from labdb.db import get_engine
from labdb.models import CurveFit, KitLot, Plate, Result, Well


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
