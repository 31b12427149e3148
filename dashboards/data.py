"""Cached, read-only queries for the dashboard pages (DataFrames in, nothing written)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from labdb.config import get_settings
from labdb.db import get_engine
from labdb.models import CurveFit, KitLot, Plate, Result, Well


@st.cache_resource
def engine() -> Engine:
    """One engine for the app, from LABDB_DATABASE_URL."""
    return get_engine(get_settings().database_url)


@st.cache_data(ttl=30)
def plates() -> pd.DataFrame:
    """Plates with status, verdict and kit lot, newest read first."""
    stmt = (
        select(Plate.id, Plate.name, Plate.original_filename, Plate.read_time, Plate.operator, KitLot.lot.label("kit_lot"),
               Plate.status, Plate.verdict, Plate.verdict_reasons)
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .order_by(Plate.read_time.desc(), Plate.id.desc())
    )
    with engine().connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def plate_wells(plate_id: int) -> pd.DataFrame:
    """Wells of one plate with corrected OD and back-calculated concentration."""
    stmt = select(Well.position, Well.row, Well.col, Well.role, Well.level, Well.nominal, Well.dilution, Well.sample_code,
                  Well.od_corrected, Well.conc_pg_ml, Well.masked, Well.flags).where(Well.plate_id == plate_id)
    with engine().connect() as conn:
        return pd.read_sql(stmt, conn)


@st.cache_data(ttl=30)
def plate_curve(plate_id: int) -> dict | None:
    """The current curve fit of one plate as a dict, or None."""
    stmt = select(CurveFit).where(CurveFit.plate_id == plate_id, CurveFit.is_current.is_(True))
    with engine().connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


@st.cache_data(ttl=30)
def plate_results(plate_id: int) -> pd.DataFrame:
    """Replicate-group results of one plate."""
    stmt = select(Result.role, Result.name, Result.dilution, Result.n_replicates, Result.mean_od, Result.cv_pct,
                  Result.conc_pg_ml, Result.censoring, Result.nominal_pg_ml, Result.recovery_pct, Result.flags).where(Result.plate_id == plate_id)
    with engine().connect() as conn:
        return pd.read_sql(stmt, conn)
