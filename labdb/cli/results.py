"""`labdb export` and `labdb worklist`: approved results out, with provenance; samples to re-assay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labdb.cli.common import fail, out, require_db
from labdb.core.config import get_settings
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError


def export(
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="FILE.csv, FILE.parquet or FILE.xlsx (--dictionary: .csv or .xlsx)")
    ] = None,
    wide: Annotated[bool, typer.Option("--wide", help="One row per subject and visit, a column block per sample type")] = False,
    dictionary: Annotated[
        bool, typer.Option("--dictionary", help="Print the data dictionary (or write it to --out) instead of data")
    ] = False,
    include_unapproved: Annotated[bool, typer.Option("--include-unapproved", help="Add plates not approved, with their status")] = False,
    sites: Annotated[list[str] | None, typer.Option("--site", "--study", help="Only samples of this site (repeatable)")] = None,
    sample_types: Annotated[list[str] | None, typer.Option("--sample-type", help="Only this sample type (repeatable)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Collected on or after YYYY-MM-DD[ HH:MM]")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Collected on or before YYYY-MM-DD[ HH:MM] (a date: that whole day)")] = None,
    correction: Annotated[
        int | None, typer.Option("--correction", help="Batch-correction version for bdnf_pg_ml_corrected (default: the latest)")
    ] = None,
) -> None:
    """Export sample results with every manifest column, provenance and a data dictionary (streamed)."""
    from labdb.export import (
        ExportFilters,
        dictionary_frame,
        parse_when,
        plan_export,
        write_dictionary,
        write_export,
    )

    if out_path is None and not dictionary:
        fail("give --out FILE.csv|.parquet|.xlsx, or --dictionary to see what the columns mean.")
    url = require_db()
    actor = get_settings().user
    try:
        filters = ExportFilters(
            tuple(sites or ()), tuple(sample_types or ()), parse_when(since), parse_when(until, end=True), include_unapproved
        )
        with session_scope(url) as session:
            if dictionary:
                table = dictionary_frame(plan_export(session, filters, wide, actor, correction).columns)
            else:
                summary = write_export(session, out_path, filters, wide, actor, correction_version=correction)
        if dictionary and out_path is not None:
            write_dictionary(table, out_path)
    except LabdbError as exc:
        fail(str(exc))
    if dictionary:
        if out_path is not None:
            out.print(f"{out_path}: data dictionary, {len(table)} columns", markup=False)
            return
        rich_table = Table("column", "type", "unit", "meaning", title="labdb export" + (" --wide" if wide else ""))
        for row in table.itertuples(index=False):
            rich_table.add_row(row.column, row.type, row.unit, row.meaning)
        out.print(rich_table)
        return
    note = f"; {summary.unlinked} row(s) have a sample ID in no manifest (see `labdb samples unmatched`)" if summary.unlinked else ""
    out.print(f"{out_path}: {summary.rows} rows from {summary.plates} plate(s){note}", markup=False)


def worklist(out_path: Annotated[Path, typer.Option("--out", "-o", help="FILE.csv")]) -> None:
    """Write the re-assay worklist: samples above ULOQ, below LLOQ or with a high CV, with suggested dilutions."""
    from labdb.worklist import worklist as build
    from labdb.worklist import write_worklist

    url = require_db()
    with session_scope(url) as session:
        df = build(session)
    write_worklist(df, out_path)
    counts = df["reason"].value_counts().to_dict() if len(df) else {}
    out.print(f"{out_path}: {len(df)} sample(s) to re-assay" + (f" ({', '.join(f'{v} {k}' for k, v in counts.items())})" if counts else ""))
