"""`labdb plates list|approve|reject|mask`: the plates and the PI's decisions on them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labdb import queries
from labdb.cli.common import fail, out, require_db
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError

plates_app = typer.Typer(help="List, approve and reject plates.", no_args_is_help=True)


@plates_app.command("list")
def plates_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Plates with their status and verdict."""
    url = require_db()
    with session_scope(url) as session:
        records = queries.plate_records(session)
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    if not records:
        out.print("No plates yet: ingest one with `labdb ingest FILE --template TEMPLATE.toml`.")
        return
    table = Table("id", "name", "file", "read", "operator", "lot", "status", "verdict")
    for r in records:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["file"],
            (r["read_time"] or "")[:16],
            r["operator"] or "",
            r["kit_lot"] or "",
            r["status"],
            r["verdict"] or "",
        )
    out.print(table)


@plates_app.command("approve")
def plates_approve(
    ids: Annotated[list[int] | None, typer.Argument(help="Plate ids")] = None,
    all_passing: Annotated[bool, typer.Option("--all-passing", help="Approve every evaluated plate that passed")] = False,
    by: Annotated[str, typer.Option("--by", help="Who approves")] = "",
    reason: Annotated[str | None, typer.Option("--reason", help="Comment (required for a failed plate)")] = None,
) -> None:
    """Approve plates so their results flow into exports."""
    _decide(ids or [], all_passing, "approved", by, reason)


@plates_app.command("reject")
def plates_reject(
    ids: Annotated[list[int], typer.Argument(help="Plate ids")],
    by: Annotated[str, typer.Option("--by", help="Who rejects")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (required)")] = "",
) -> None:
    """Reject plates; their results stay stored but leave default exports."""
    _decide(ids, False, "rejected", by, reason)


@plates_app.command("mask")
def plates_mask(
    plate_id: Annotated[int, typer.Argument(help="Plate id")],
    wells: Annotated[list[str], typer.Argument(help="Wells, e.g. A1 B7")],
    by: Annotated[str, typer.Option("--by", help="Who masks")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (required)")] = "",
    unmask: Annotated[bool, typer.Option("--unmask", help="Take the mask off instead")] = False,
) -> None:
    """Mask wells with a reason (or --unmask them) and refit the plate; the raw values stay as read."""
    from labdb.masking import set_masks

    url = require_db()
    try:
        with session_scope(url) as session:
            plate = set_masks(session, plate_id, wells, not unmask, by, reason)
            verdict, status = plate.verdict, plate.status
    except LabdbError as exc:
        fail(str(exc))
    out.print(
        f"plate {plate_id}: {'un' if unmask else ''}masked {', '.join(w.upper() for w in wells)}; refitted, verdict {verdict}, status {status}"
    )


@plates_app.command("export-asm")
def plates_export_asm(
    plate_id: Annotated[int, typer.Argument(help="Plate id (see labdb plates list)")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="FILE.json")],
) -> None:
    """Write a stored plate's raw reads (every wavelength, flags and markers) as an Allotrope Simple Model
    plate-reader document; labdb's own ASM reader reads it back to the same values."""
    from labdb.readers import asm

    if out_path.suffix.lower() != ".json":
        fail(f"{out_path}: an ASM document is JSON; give --out FILE.json.")
    if not out_path.parent.is_dir():
        fail(f"{out_path}: the folder {out_path.parent} does not exist.")
    url = require_db()
    try:
        with session_scope(url) as session:
            plate = queries.plate_read(session, plate_id=plate_id)
    except LabdbError as exc:
        fail(str(exc))
    part = out_path.with_name(out_path.name + ".part")
    part.write_bytes(asm.write_json([plate]))
    part.replace(out_path)  # a failed write leaves no half file
    n = len(plate.reads)
    out.print(f"{out_path}: plate {plate_id} '{plate.name}', {n} reads at {', '.join(_nm(w) for w in plate.wavelengths)}", markup=False)


def _nm(wavelength: int | None) -> str:
    return "unlabelled" if wavelength is None else f"{wavelength} nm"


def _decide(ids: list[int], all_passing: bool, decision: str, by: str, reason: str | None) -> None:
    from labdb.review import decide, passing_plate_ids

    if bool(ids) == bool(all_passing):
        fail("give plate ids or --all-passing (not both).")
    url = require_db()
    try:
        with session_scope(url) as session:
            if all_passing:
                ids = passing_plate_ids(session)
            changed = decide(session, ids, decision, by, reason) if ids else []
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"{len(changed)} plate(s) {decision}" + (f": {', '.join(str(p.id) for p in changed)}" if changed else ""))
