"""The export's file writers: CSV (chunk by chunk), Parquet (one row group per chunk), xlsx (in memory, three
sheets: data, dictionary, provenance) and the data dictionary alone as CSV or xlsx.

Every export file is written to `NAME.part` and renamed into place only when complete (`write_file`), so a failed or
interrupted export never leaves a file that looks finished. CSV and xlsx text is neutralised against formula
injection; xlsx also drops the control characters a cell cannot hold. Parquet keeps types and carries the
provenance, plate list and dictionary in its schema metadata.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from labdb.core.errors import InputError
from labdb.export.columns import dictionary_frame
from labdb.export.frames import neutralise_formulas, typed
from labdb.export.plan import ExportPlan

FORMATS = (".csv", ".parquet", ".xlsx")
DICTIONARY_FORMATS = (".csv", ".xlsx")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters an xlsx cell cannot hold


@dataclass(frozen=True)
class ExportSummary:
    path: Path | None
    rows: int
    plates: int
    unlinked: int  # rows whose sample ID is in no manifest


def check_out(out: Path) -> str:
    """The export file's suffix (.csv, .parquet or .xlsx); InputError for another format or a missing folder."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{out.name}: unknown export format '{suffix}'; use .csv, .parquet or .xlsx.")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist.")
    return suffix


def write_file(chunks: Iterator[pd.DataFrame], plan: ExportPlan, out: Path) -> tuple[int, int]:
    """Write `chunks` in `out`'s format to `out`.part and move it into place only when complete; (rows, unlinked)."""
    part = out.with_name(out.name + ".part")
    try:
        writer = {".csv": _write_csv, ".parquet": _write_parquet, ".xlsx": _write_xlsx}[out.suffix.lower()]
        rows, unlinked = writer(chunks, plan, part)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return rows, unlinked


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

    types = {"text": pa.string(), "number": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "timestamp": pa.timestamp("us")}
    meta = {
        "labdb.provenance": json.dumps(plan.provenance),
        "labdb.plates": plan.plates.to_json(orient="records", date_format="iso"),
        "labdb.dictionary": json.dumps([asdict(c) for c in plan.columns]),
    }
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
