"""The export's column catalogue and data dictionary: every column's name, kind, unit and meaning.

One place defines what each exported column is, so the query, the wide reshape, the Parquet schema and the printed
dictionary (`labdb export --dictionary`) cannot disagree. Long columns are fixed blocks (identity, measurement,
manifest, provenance) with the manifest's extra columns slotted in before provenance; wide columns are subject and
visit, visit-level covariates, then one block per sample type.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qc.vocab import CENSORING, PLATE_STATUSES, SAMPLE_TYPES, SEXES, VERDICTS

KINDS = ("text", "number", "integer", "boolean", "timestamp")


@dataclass(frozen=True)
class Column:
    """One export column: name, kind (text, number, integer, boolean, timestamp), unit and meaning."""

    name: str
    kind: str
    unit: str
    meaning: str


def _one_of(words: tuple[str, ...]) -> str:
    """'a, b or c': the words of a vocabulary list (qc.vocab) in a column's meaning."""
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _c(name: str, kind: str, unit: str, meaning: str) -> Column:
    return Column(name, kind, unit, meaning)


IDENTITY = [
    _c("sample_id", "text", "", "Sample identifier as on the plate map and in the manifest"),
    _c("subject_id", "text", "", "Subject (participant) identifier; empty when the sample ID is in no manifest"),
    _c("visit", "text", "", "Visit / timepoint from the manifest"),
    _c("sample_type", "text", "", _one_of(SAMPLE_TYPES)),
    _c("site", "text", "", "Collection site code"),
    _c("collected_at", "timestamp", "local time", "Collection date and time as given in the manifest"),
    _c("collection_time", "text", "HH:MM local", "Time of day of collection; empty when the manifest gave a date only (00:00)"),
    _c(
        "season",
        "text",
        "",
        "Season of collection from the date and the site's hemisphere (convention: see provenance; "
        "meteorological by default, LABDB_SEASONS)",
    ),
]
MEASUREMENT = [
    _c("plate_id", "integer", "", "Database id of the plate measurement"),
    _c("plate_name", "text", "", "Plate name in the reader file"),
    _c("kit_lot", "text", "", "ELISA kit lot"),
    _c("operator", "text", "", "Who ran the plate"),
    _c("read_time", "timestamp", "local time", "When the reader read the plate"),
    _c("bdnf_pg_ml", "number", "pg/mL", "BDNF concentration in the sample: interpolated on the curve x dilution"),
    _c(
        "bdnf_pg_ml_corrected",
        "number",
        "pg/mL",
        "After batch (plate/lot) correction by the run in correction_version (method in "
        "the provenance); empty for censored values, plates outside that run and when no correction run exists",
    ),
    _c(
        "correction_version",
        "integer",
        "",
        "Batch-correction run (labdb batch report --version N) that produced bdnf_pg_ml_corrected; empty when the row is not in it",
    ),
    _c("censoring", "text", "", _one_of(CENSORING)),
    _c("lloq_pg_ml", "number", "pg/mL", "Lower limit of quantification applied, dilution included"),
    _c("uloq_pg_ml", "number", "pg/mL", "Upper limit of quantification applied, dilution included"),
    _c("dilution", "number", "fold", "Dilution factor of the sample on the plate"),
    _c("mean_od", "number", "OD", "Mean blank-corrected OD of the replicates"),
    _c("cv_pct", "number", "%", "Coefficient of variation of the replicates' OD"),
    _c("n_replicates", "integer", "wells", "Number of replicate wells used"),
    _c("qc_flags", "text", "", "Result flags separated by ';' (e.g. cv_high, below_lloq)"),
    _c("plate_status", "text", "", _one_of(PLATE_STATUSES)),
    _c("plate_verdict", "text", "", f"Acceptance verdict of the plate: {_one_of(VERDICTS)}"),
]
MANIFEST = [
    _c("sex", "text", "", _one_of(SEXES)),
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

# wide: one row per subject and visit
WIDE_KEYS = ["subject_id", "visit"]
WIDE_VISIT = [
    "site",
    "sex",
    "age",
    "collected_at",
    "collection_time",
    "season",
    "platelet_count",
    "fasting",
    "exercise_within_24h",
    "antidepressant",
    "diagnosis",
    "smoking",
]
WIDE_VISIT_NOTE = {
    "collected_at": " (the visit's earliest collection)",
    "collection_time": " (of the visit's earliest collection)",
    "season": " (of the visit's earliest collection)",
}
WIDE_PER_TYPE = [
    _c("sample_id", "text", "", "Sample ID(s) of this type at this visit, separated by ';'"),
    _c("bdnf_pg_ml", "number", "pg/mL", "BDNF: mean of the in-range measurements, else the latest (censored) one"),
    _c(
        "bdnf_pg_ml_corrected",
        "number",
        "pg/mL",
        "Batch-corrected BDNF (correction version in the provenance), chosen like "
        "bdnf_pg_ml; empty when no measurement of it is in the correction run",
    ),
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


def long_columns(extras: dict[str, str] | None = None) -> list[Column]:
    """The long export's columns: fixed ones, then the manifest's extra columns before the provenance block."""
    extra_cols = [_c(name, "text", "", f"Manifest column '{key}', as written") for key, name in (extras or {}).items()]
    return IDENTITY + MEASUREMENT + MANIFEST + extra_cols + PROVENANCE


def wide_columns(sample_types: list[str], extras: dict[str, str] | None = None) -> list[Column]:
    """The wide export's columns: subject and visit, visit-level covariates, then a block per sample type."""
    cols = [_BY_NAME[n] for n in WIDE_KEYS]
    cols += [
        Column(
            n, _BY_NAME[n].kind, _BY_NAME[n].unit, _BY_NAME[n].meaning + WIDE_VISIT_NOTE.get(n, " (first non-empty of the visit's samples)")
        )
        for n in WIDE_VISIT
    ]
    cols += [
        _c(name, "text", "", f"Manifest column '{key}', first non-empty of the visit's samples") for key, name in (extras or {}).items()
    ]
    for stype in sample_types:
        cols += [Column(f"{c.name}_{stype}", c.kind, c.unit, f"{c.meaning} [{stype}]") for c in WIDE_PER_TYPE]
    return cols


def dictionary_frame(columns: list[Column] | None = None) -> pd.DataFrame:
    """The data dictionary: column, type, unit, meaning."""
    columns = LONG_COLUMNS if columns is None else columns
    return pd.DataFrame([(c.name, c.kind, c.unit, c.meaning) for c in columns], columns=["column", "type", "unit", "meaning"])
