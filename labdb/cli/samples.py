"""`labdb samples import|unmatched` and `labdb sites add`: sample manifests, linking, collection sites."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labdb.cli.common import fail, out, require_db
from labdb.core.config import get_settings
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError

samples_app = typer.Typer(help="Sample manifests and linking.", no_args_is_help=True)
sites_app = typer.Typer(help="Collection sites (their hemisphere sets the season).", no_args_is_help=True)


@samples_app.command("import")
def samples_import(manifest: Annotated[Path, typer.Argument(help="Sample manifest, .csv or .xlsx")]) -> None:
    """Import or update sample metadata; every change is audited. A file with any problem is rejected whole."""
    from labdb.samples import import_manifest, unmatched

    url = require_db()
    try:
        with session_scope(url) as session:
            counts = import_manifest(session, manifest, get_settings().user)
            loose = unmatched(session)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"{manifest.name}: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged", markup=False)
    if loose["not_in_manifest"] or loose["never_measured"]:
        out.print(
            f"{len(loose['not_in_manifest'])} plate sample ID(s) in no manifest, {len(loose['never_measured'])} "
            "sample(s) never measured: see `labdb samples unmatched`",
            markup=False,
        )


@samples_app.command("unmatched")
def samples_unmatched(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False) -> None:
    """Sample IDs on plates that are in no manifest (plate, wells, likely meant ID) and manifest samples never measured."""
    from labdb.samples import unmatched

    url = require_db()
    with session_scope(url) as session:
        loose = unmatched(session)
    if as_json:
        sys.stdout.write(json.dumps(loose, indent=2) + "\n")
        return
    if not loose["not_in_manifest"] and not loose["never_measured"]:
        out.print("Every sample ID on a plate is in a manifest, and every manifest sample has been measured.")
        return
    if loose["not_in_manifest"]:
        table = Table("sample ID on plate", "plate", "status", "wells", "did you mean", title="On plates, in no manifest")
        for r in loose["not_in_manifest"]:
            table.add_row(
                r["sample_id"], f"{r['plate_id']} {r['plate_name']}", r["plate_status"], " ".join(r["wells"]), r["did_you_mean"] or ""
            )
        out.print(table)
    if loose["never_measured"]:
        table = Table("sample ID", "subject", "type", "visit", "collected", "notes", title="In a manifest, never measured")
        for r in loose["never_measured"]:
            table.add_row(r["sample_id"], r["subject_id"], r["sample_type"], r["visit"] or "", r["collected_at"] or "", r["notes"] or "")
        out.print(table)


@sites_app.command("add")
def sites_add(
    code: str,
    hemisphere: Annotated[str, typer.Option(help="north or south")] = "north",
    name: Annotated[str | None, typer.Option(help="Full name")] = None,
) -> None:
    """Add a collection site (or change its hemisphere)."""
    from labdb.samples import set_site

    url = require_db()
    try:
        with session_scope(url) as session:
            set_site(session, code, hemisphere, name, get_settings().user)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"site {code}: {hemisphere} hemisphere")
