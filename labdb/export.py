"""Statistician exports: one row per sample per plate measurement, with covariates and provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from labdb.errors import InputError
from labdb.models import CurveFit, KitLot, Plate, Result, Sample, Site, Subject

FORMATS = (".csv", ".parquet", ".xlsx")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# column -> (unit, meaning); the data dictionary and the column order of every export.
DICTIONARY: dict[str, tuple[str, str]] = {
    "sample_id": ("", "Sample identifier as on the plate map and the manifest"),
    "subject_id": ("", "Subject (participant) identifier"),
    "visit": ("", "Visit / timepoint from the manifest"),
    "sample_type": ("", "serum, plasma_edta, plasma_citrate, plasma_heparin or platelet_poor_plasma"),
    "site": ("", "Collection site code"),
    "collected_at": ("local time", "Collection date and time"),
    "season": ("", "Meteorological season of collection, from the date and the site's hemisphere"),
    "sex": ("", "F or M"),
    "age": ("years", "Age at collection"),
    "platelet_count": ("10^9/L", "Platelet count"),
    "diagnosis": ("", "Diagnosis from the manifest"),
    "plate_id": ("", "Database id of the plate measurement"),
    "plate_name": ("", "Plate name in the reader file"),
    "kit_lot": ("", "ELISA kit lot"),
    "operator": ("", "Who ran the plate"),
    "read_time": ("local time", "When the reader read the plate"),
    "bdnf_pg_ml": ("pg/mL", "BDNF concentration in the sample (interpolated x dilution)"),
    "bdnf_pg_ml_corrected": ("pg/mL", "After batch correction (empty until a correction run exists)"),
    "censoring": ("", "none, below_lloq or above_uloq"),
    "lloq_pg_ml": ("pg/mL", "Lower limit of quantification applied, dilution included"),
    "uloq_pg_ml": ("pg/mL", "Upper limit of quantification applied, dilution included"),
    "dilution": ("fold", "Dilution factor of the sample on the plate"),
    "mean_od": ("OD", "Mean corrected OD of the replicates"),
    "cv_pct": ("%", "Replicate coefficient of variation of OD"),
    "n_replicates": ("", "Number of replicate wells used"),
    "qc_flags": ("", "Result flags, separated by ';'"),
    "plate_status": ("", "uploaded, evaluated, approved or rejected"),
    "plate_verdict": ("", "Acceptance verdict: pass or fail"),
    "raw_file_sha256": ("", "SHA-256 of the original reader file, stored byte for byte"),
    "raw_file_name": ("", "Original name of the reader file"),
    "curve_model": ("", "Standard-curve model (4pl, 5pl)"),
    "curve_engine": ("", "Version of the curve engine that produced the value"),
}


def export_frame(session: Session, include_unapproved: bool = False) -> pd.DataFrame:
    """Sample results with metadata and provenance as a DataFrame (approved plates unless told otherwise)."""
    stmt = (
        select(
            Result.name.label("sample_id"),
            Subject.code.label("subject_id"),
            Sample.visit,
            Sample.sample_type,
            Site.code.label("site"),
            Sample.collected_at,
            Sample.season,
            Subject.sex,
            Sample.age,
            Sample.platelet_count,
            Sample.diagnosis,
            Plate.id.label("plate_id"),
            Plate.name.label("plate_name"),
            KitLot.lot.label("kit_lot"),
            Plate.operator,
            Plate.read_time,
            Result.conc_pg_ml.label("bdnf_pg_ml"),
            Result.censoring,
            Result.lloq_pg_ml,
            Result.uloq_pg_ml,
            Result.dilution,
            Result.mean_od,
            Result.cv_pct,
            Result.n_replicates,
            Result.flags.label("qc_flags"),
            Plate.status.label("plate_status"),
            Plate.verdict.label("plate_verdict"),
            Plate.file_sha256.label("raw_file_sha256"),
            Plate.original_filename.label("raw_file_name"),
            CurveFit.model.label("curve_model"),
            CurveFit.engine_version.label("curve_engine"),
        )
        .join(Plate, Plate.id == Result.plate_id)
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .join(Sample, Sample.id == Result.sample_id, isouter=True)
        .join(Subject, Subject.id == Sample.subject_id, isouter=True)
        .join(Site, Site.id == Subject.site_id, isouter=True)
        .where(Result.role == "sample", CurveFit.is_current.is_(True))
        .order_by(Plate.id, Result.id)
    )
    if not include_unapproved:
        stmt = stmt.where(Plate.status == "approved")
    df = pd.read_sql(stmt, session.connection())
    df["qc_flags"] = df["qc_flags"].map(_flags)
    df.insert(df.columns.get_loc("censoring"), "bdnf_pg_ml_corrected", float("nan"))
    return df[list(DICTIONARY)]


def _flags(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        import json

        value = json.loads(value)
    return ";".join(value)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with a quote (CSV/xlsx injection)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


def write_export(df: pd.DataFrame, out: Path) -> None:
    """Write CSV, Parquet or xlsx (with a data-dictionary sheet) by the file's extension."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{out.name}: unknown export format '{suffix}'; use .csv, .parquet or .xlsx.")
    if suffix == ".parquet":
        df.to_parquet(out, index=False)
        return
    safe = neutralise_formulas(df)
    if suffix == ".csv":
        safe.to_csv(out, index=False)
        return
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        safe.to_excel(writer, sheet_name="data", index=False)
        dictionary_frame().to_excel(writer, sheet_name="dictionary", index=False)


def dictionary_frame() -> pd.DataFrame:
    """The data dictionary: column, unit, meaning."""
    return pd.DataFrame([(c, u, m) for c, (u, m) in DICTIONARY.items()], columns=["column", "unit", "meaning"])


def export_count(session: Session) -> int:
    """Number of sample results on approved plates."""
    return session.exec(
        select(sa.func.count(Result.id))
        .join(Plate, Plate.id == Result.plate_id)
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .where(Result.role == "sample", Plate.status == "approved", CurveFit.is_current.is_(True))
    ).one()
