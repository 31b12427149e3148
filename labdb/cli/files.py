"""`labdb ingest` and `labdb inspect`: reader exports in (through labdb.ingest's one driver), or only looked at."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from labdb.cli.common import err, fail, out, require_db
from labdb.core.config import get_settings
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError
from labdb.inspect import reads_at
from labdb.readers.canonical import PlateRead
from qc.vocab import plate_shape


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Reader export files", exists=False)],
    template: Annotated[Path, typer.Option("--template", "-t", help="Plate template (wellmap TOML)")],
    plate_map: Annotated[Path | None, typer.Option("--plate-map", help="CSV with well,sample_id[,dilution][,plate]")] = None,
    kit_lot: Annotated[str | None, typer.Option("--kit-lot", help="Kit lot number")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who ran the plates")] = None,
    reader_format: Annotated[str | None, typer.Option("--format", help="Force a reader format instead of detecting it")] = None,
    read_time: Annotated[
        str | None,
        typer.Option(
            "--read-time",
            help="When the plates were read (YYYY-MM-DD HH:MM), for files that do not say, e.g. generic grids; a time in the file wins",
        ),
    ] = None,
) -> None:
    """Parse, evaluate and store reader exports, one transaction per file."""
    from labdb.export import parse_when
    from labdb.ingest import IngestOutcome, IngestRequest, Upload, ingest
    from labdb.kitlots import new_kit_lot_note
    from labdb.templates import load_plate_map, load_template

    url = require_db()
    try:
        when = parse_when(read_time)
    except LabdbError as exc:
        fail(f"--read-time: {exc}")
    try:
        tpl = load_template(template)
        pmap = load_plate_map(plate_map) if plate_map else None
    except LabdbError as exc:
        fail(str(exc))
    with session_scope(url) as session:
        note = new_kit_lot_note(session, kit_lot)
    if note:
        err.print(f"note: {note}", markup=False)
    failures = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=len(files) < 2 or not err.is_terminal,
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        request = IngestRequest(tpl, pmap, kit_lot, operator, when, get_settings().user, reader_format)
        for upload, result in ingest(url, (Upload.from_path(f) for f in files), request):
            name = upload.src
            progress.update(task, description=f"ingested {name}")
            if not isinstance(result, IngestOutcome):
                failures += 1
                err.print(f"error: {result}", markup=False)
            elif result.duplicate:
                ids = ", ".join(str(p[0]) for p in result.plates)
                out.print(f"{name}: already ingested (plate {ids}); nothing changed", markup=False)
            else:
                for pid, plate, verdict in result.plates:
                    out.print(f"{name}: plate {pid} '{plate}' stored, verdict {verdict}", markup=False)
            progress.advance(task)
    if failures:
        raise typer.Exit(2)


def inspect(
    file: Annotated[Path, typer.Argument(help="A reader export")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    reader_format: Annotated[str | None, typer.Option("--format", help="Force a reader format instead of detecting it")] = None,
) -> None:
    """Show what labdb reads from a file, without touching the database."""
    from labdb.inspect import describe, inspect_file

    try:
        fmt, plates = inspect_file(file, reader_format)
    except LabdbError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(describe(fmt, plates)) + "\n")
    else:
        print_plates(out, file.name, fmt, plates)


def print_plates(console: Console, name: str, fmt: str, plates: list[PlateRead]) -> None:
    """A human summary: metadata per plate and each read as a grid (flags shown by name)."""
    console.print(f"{name}: {fmt}, {len(plates)} plate(s)", markup=False)
    for plate in plates:
        meta = ", ".join(
            f"{k} {v}"
            for k, v in (
                ("instrument", plate.instrument),
                ("serial", plate.serial),
                ("software", plate.software_version),
                ("read", plate.read_time),
            )
            if v
        )
        console.print(f"\nplate '{plate.name}' ({plate.n_wells} wells){': ' + meta if meta else ''}", markup=False)
        n_rows, n_cols = plate_shape(plate.n_wells)
        for wavelength in plate.wavelengths:
            rows = plate.reads[reads_at(plate.reads, wavelength)].set_index("well")
            flagged = int((rows["flag"] != "ok").sum())
            title = f"{'unlabelled read' if wavelength is None else f'{wavelength} nm'}: {len(rows)} wells, {flagged} flagged"
            table = Table(*([""] + [str(c) for c in range(1, n_cols + 1)]), title=title, title_justify="left")
            for r in range(n_rows):
                letter = chr(65 + r)
                cells = []
                for c in range(1, n_cols + 1):
                    well = f"{letter}{c}"
                    if well not in rows.index:
                        cells.append("")
                    elif rows.at[well, "flag"] != "ok":  # the file's own text where it wrote one, else the flag
                        marker = rows.at[well, "marker"]
                        cells.append(str(marker) if isinstance(marker, str) else str(rows.at[well, "flag"]))
                    else:
                        cells.append(f"{rows.at[well, 'value']:.4g}")
                table.add_row(letter, *cells)
            console.print(table)
