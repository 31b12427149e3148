"""The re-assay worklist: samples above the ULOQ (dilute more), below the LLOQ (dilute less) or with a high CV."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from labdb.core.models import CurveFit, Plate, Result
from labdb.export import neutralise_formulas

COLUMNS = [
    "sample_id",
    "reason",
    "current_dilution",
    "suggested_dilution",
    "bdnf_pg_ml",
    "lloq_pg_ml",
    "uloq_pg_ml",
    "cv_pct",
    "plate_id",
    "plate_name",
    "read_time",
    "note",
]


def _step(ratio: float) -> int:
    """The power-of-two dilution step that moves a value by at least `ratio` (2 at least)."""
    return 2 ** max(1, math.ceil(math.log2(ratio))) if ratio > 0 and math.isfinite(ratio) else 4


def suggest(row: pd.Series) -> tuple[str, float, str]:
    """(reason, suggested dilution, note) for one result that needs re-assay."""
    dilution = float(row["dilution"])
    conc, lloq, uloq = row["bdnf_pg_ml"], row["lloq_pg_ml"], row["uloq_pg_ml"]
    if row["censoring"] == "above_uloq":
        factor = _step(conc / (0.5 * uloq)) if pd.notna(conc) and pd.notna(uloq) and uloq > 0 else 4
        return "above_uloq", dilution * factor, "re-assay at a higher dilution, aiming at mid-curve"
    if row["censoring"] == "below_lloq":
        factor = _step(2 * lloq / conc) if pd.notna(conc) and conc > 0 and pd.notna(lloq) else 4
        suggested = max(1.0, dilution / factor)
        note = "re-assay at a lower dilution" if suggested < dilution else "already undiluted: report as below LLOQ"
        return "below_lloq", suggested, note
    return "high_cv", dilution, "repeat at the same dilution (replicates disagree)"


def worklist(session: Session) -> pd.DataFrame:
    """Samples whose latest measurement on a non-rejected plate needs re-assay, with a suggested dilution. The
    database picks each sample's latest measurement (a window function) and keeps only those that need work, so
    the page and the CLI never read every result. Latest = newest read time; a plate without one counts as newest."""
    ranked = (
        select(
            Result.name.label("sample_id"),
            Result.dilution,
            Result.conc_pg_ml.label("bdnf_pg_ml"),
            Result.lloq_pg_ml,
            Result.uloq_pg_ml,
            Result.cv_pct,
            Result.censoring,
            sa.cast(Result.flags, sa.Text).label("flags"),
            Plate.id.label("plate_id"),
            Plate.name.label("plate_name"),
            Plate.read_time,
            sa.func.row_number()
            .over(partition_by=Result.name, order_by=(Plate.read_time.desc().nulls_first(), Plate.id.desc(), Result.id.desc()))
            .label("newest"),
        )
        .join(Plate, Plate.id == Result.plate_id)
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .where(Result.role == "sample", CurveFit.is_current.is_(True), Plate.status != "rejected")
        .subquery()
    )
    stmt = select(*[c for c in ranked.c if c.name != "newest"]).where(
        ranked.c.newest == 1,
        sa.or_(ranked.c.censoring.in_(("above_uloq", "below_lloq")), ranked.c.flags.like('%"cv_high"%')),
    )
    todo = pd.read_sql(stmt, session.connection())
    if todo.empty:
        return pd.DataFrame(columns=COLUMNS)
    todo[["reason", "suggested_dilution", "note"]] = pd.DataFrame(
        [suggest(r) for _, r in todo.iterrows()], index=todo.index, columns=["reason", "suggested_dilution", "note"]
    )
    todo = todo.rename(columns={"dilution": "current_dilution"})
    return todo[COLUMNS].sort_values(["reason", "sample_id"]).reset_index(drop=True)


def write_worklist(df: pd.DataFrame, out: Path) -> None:
    """CSV, with spreadsheet formulas neutralised."""
    neutralise_formulas(df).to_csv(out, index=False)
