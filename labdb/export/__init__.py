"""Statistician exports, streamed: one row per sample per plate measurement (long) or one row per subject and
visit with a column per sample type (wide), with every manifest column, the data dictionary and provenance.

The query is read in chunks (`yield_per`, a server-side cursor on PostgreSQL) and each chunk is written at once:
CSV chunk by chunk, Parquet one row group per chunk. Only xlsx is built in memory (and refused above
XLSX_MAX_ROWS). Text a spreadsheet would run as a formula is neutralised in CSV and xlsx, never in Parquet.

The package is split by role: `columns` (column catalogue and dictionary), `query` (filters, SQL, streamed
reading), `plan` (the export plan, provenance, plate list), `frames` (long and wide frames, typing, formula
neutralisation) and `writers` (CSV, Parquet, xlsx, the write-then-rename). This module re-exports the names callers
use (`from labdb.export import ...`, `export.name(...)`), and holds `write_export` itself with XLSX_MAX_ROWS: the
limit is read here, as this module's global, so setting `labdb.export.XLSX_MAX_ROWS` (as a test does) takes effect.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from labdb.core.errors import InputError
from labdb.export.columns import LONG_COLUMNS, dictionary_frame
from labdb.export.frames import CHUNK_ROWS, export_frame, iter_export, neutralise_formulas, typed
from labdb.export.plan import plan_export
from labdb.export.query import ExportFilters, parse_when
from labdb.export.writers import ExportSummary, check_out, write_dictionary, write_file

__all__ = [
    "LONG_COLUMNS",
    "XLSX_MAX_ROWS",
    "ExportFilters",
    "dictionary_frame",
    "export_frame",
    "iter_export",
    "neutralise_formulas",
    "parse_when",
    "plan_export",
    "typed",
    "write_dictionary",
    "write_export",
]

XLSX_MAX_ROWS = 1_000_000  # a sheet holds 1,048,576; beyond this use CSV or Parquet


def write_export(
    session: Session,
    out: Path,
    filters: ExportFilters = ExportFilters(),
    wide: bool = False,
    actor: str = "unknown",
    chunk_rows: int = CHUNK_ROWS,
    correction_version: int | None = None,
) -> ExportSummary:
    """Stream the export to CSV or Parquet (xlsx: in memory, three sheets), written to a temporary file and moved
    into place only when complete."""
    out = Path(out)
    suffix = check_out(out)
    plan = plan_export(session, filters, wide, actor, correction_version)
    if suffix == ".xlsx" and plan.rows > XLSX_MAX_ROWS:
        raise InputError(
            f"{out.name}: {plan.rows:,} rows are too many for xlsx (at most {XLSX_MAX_ROWS:,}); "
            f"export to .csv or .parquet, or narrow it with --site, --sample-type, --since or --until."
        )
    rows, unlinked = write_file(iter_export(session, plan, chunk_rows), plan, out)
    return ExportSummary(out, rows, len(plan.plates), unlinked)
