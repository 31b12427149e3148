"""The `labdb` command line. User errors print one line to stderr and exit with code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import select

from labdb import migrate
from labdb.cli_batch import batch_app
from labdb.cli_common import database_url, err, fail, out, require_db, safe_url
from labdb.config import get_settings
from labdb.db import session_scope
from labdb.errors import LabdbError
from labdb.models import KitLot, Plate

app = typer.Typer(help="BDNF ELISA lab system: ingest plate-reader files, review QC, export results.", no_args_is_help=True, pretty_exceptions_enable=False)
samples_app = typer.Typer(help="Sample manifests and linking.", no_args_is_help=True)
plates_app = typer.Typer(help="List, approve and reject plates.", no_args_is_help=True)
sites_app = typer.Typer(help="Collection sites (their hemisphere sets the season).", no_args_is_help=True)
app.add_typer(samples_app, name="samples")
app.add_typer(plates_app, name="plates")
app.add_typer(sites_app, name="sites")
qc_app = typer.Typer(help="Quality across plates: Levey-Jennings metrics, guide sets, Westgard rules.", no_args_is_help=True)
app.add_typer(qc_app, name="qc")
users_app = typer.Typer(help="Dashboard accounts: technician, pi, statistician, admin.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(batch_app, name="batch")

@app.command()
def init() -> None:
    """Create or upgrade the database schema (alembic upgrade head)."""
    url = database_url()
    try:
        migrate.upgrade(url)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"database {safe_url(url)} is at revision {migrate.current_revision(url)}")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Reader export files", exists=False)],
    template: Annotated[Path, typer.Option("--template", "-t", help="Plate template (wellmap TOML)")],
    plate_map: Annotated[Path | None, typer.Option("--plate-map", help="CSV with well,sample_id[,dilution][,plate]")] = None,
    kit_lot: Annotated[str | None, typer.Option("--kit-lot", help="Kit lot number")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who ran the plates")] = None,
    reader_format: Annotated[str | None, typer.Option("--format", help="Force a reader format instead of detecting it")] = None,
    read_time: Annotated[str | None, typer.Option("--read-time", help="When the plates were read (YYYY-MM-DD HH:MM), for "
                                                  "files that do not say, e.g. generic grids; a time in the file wins")] = None,
) -> None:
    """Parse, evaluate and store reader exports, one transaction per file."""
    from labdb.export import parse_when
    from labdb.ingest import IngestOutcome, ingest_files, new_kit_lot_note
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
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, disable=len(files) < 2 or not err.is_terminal) as progress:
        task = progress.add_task("ingesting", total=len(files))
        results = ingest_files(url, files, tpl, pmap, kit_lot, operator, get_settings().user, reader_format, read_time=when)
        for path, result in results:
            progress.update(task, description=f"ingested {path.name}")
            if not isinstance(result, IngestOutcome):
                failures += 1
                err.print(f"error: {result}", markup=False)
            elif result.duplicate:
                ids = ", ".join(str(p[0]) for p in result.plates)
                out.print(f"{path.name}: already ingested (plate {ids}); nothing changed", markup=False)
            else:
                for pid, name, verdict in result.plates:
                    out.print(f"{path.name}: plate {pid} '{name}' stored, verdict {verdict}", markup=False)
            progress.advance(task)
    if failures:
        raise typer.Exit(2)


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A reader export")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    reader_format: Annotated[str | None, typer.Option("--format", help="Force a reader format instead of detecting it")] = None,
) -> None:
    """Show what labdb reads from a file, without touching the database."""
    from labdb.inspect import describe, inspect_file, print_plates

    try:
        fmt, plates = inspect_file(file, reader_format)
    except LabdbError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(describe(fmt, plates)) + "\n")
    else:
        print_plates(out, file.name, fmt, plates)


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
        out.print(f"{len(loose['not_in_manifest'])} plate sample ID(s) in no manifest, {len(loose['never_measured'])} "
                  "sample(s) never measured: see `labdb samples unmatched`", markup=False)


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
            table.add_row(r["sample_id"], f"{r['plate_id']} {r['plate_name']}", r["plate_status"], " ".join(r["wells"]), r["did_you_mean"] or "")
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


@plates_app.command("list")
def plates_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Plates with their status and verdict."""
    url = require_db()
    with session_scope(url) as session:
        rows = session.exec(select(Plate, KitLot.lot).join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True).order_by(Plate.id)).all()
        records = [
            {
                "id": p.id, "name": p.name, "file": p.original_filename, "format": p.reader_format,
                "read_time": p.read_time.isoformat() if p.read_time else None, "operator": p.operator, "kit_lot": lot,
                "template": p.template_name, "status": p.status, "verdict": p.verdict, "reasons": p.verdict_reasons or [],
            }
            for p, lot in rows
        ]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2) + "\n")
        return
    if not records:
        out.print("No plates yet: ingest one with `labdb ingest FILE --template TEMPLATE.toml`.")
        return
    table = Table("id", "name", "file", "read", "operator", "lot", "status", "verdict")
    for r in records:
        table.add_row(str(r["id"]), r["name"], r["file"], (r["read_time"] or "")[:16], r["operator"] or "", r["kit_lot"] or "", r["status"], r["verdict"] or "")
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
    out.print(f"plate {plate_id}: {'un' if unmask else ''}masked {', '.join(w.upper() for w in wells)}; refitted, verdict {verdict}, status {status}")


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


@app.command()
def export(
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="FILE.csv, FILE.parquet or FILE.xlsx (--dictionary: .csv or .xlsx)")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="One row per subject and visit, a column block per sample type")] = False,
    dictionary: Annotated[bool, typer.Option("--dictionary", help="Print the data dictionary (or write it to --out) instead of data")] = False,
    include_unapproved: Annotated[bool, typer.Option("--include-unapproved", help="Add plates not approved, with their status")] = False,
    sites: Annotated[list[str] | None, typer.Option("--site", "--study", help="Only samples of this site (repeatable)")] = None,
    sample_types: Annotated[list[str] | None, typer.Option("--sample-type", help="Only this sample type (repeatable)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Collected on or after YYYY-MM-DD[ HH:MM]")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Collected on or before YYYY-MM-DD[ HH:MM] (a date: that whole day)")] = None,
    correction: Annotated[int | None, typer.Option("--correction", help="Batch-correction version for bdnf_pg_ml_corrected (default: the latest)")] = None,
) -> None:
    """Export sample results with every manifest column, provenance and a data dictionary (streamed)."""
    from labdb.export import ExportFilters, dictionary_frame, parse_when, plan_export, write_dictionary, write_export

    if out_path is None and not dictionary:
        fail("give --out FILE.csv|.parquet|.xlsx, or --dictionary to see what the columns mean.")
    url = require_db()
    actor = get_settings().user
    try:
        filters = ExportFilters(tuple(sites or ()), tuple(sample_types or ()), parse_when(since), parse_when(until, end=True), include_unapproved)
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
    note = (f"; {summary.unlinked} row(s) have a sample ID in no manifest (see `labdb samples unmatched`)" if summary.unlinked else "")
    out.print(f"{out_path}: {summary.rows} rows from {summary.plates} plate(s){note}", markup=False)


@app.command()
def worklist(out_path: Annotated[Path, typer.Option("--out", "-o", help="FILE.csv")]) -> None:
    """Write the re-assay worklist: samples above ULOQ, below LLOQ or with a high CV, with suggested dilutions."""
    from labdb.worklist import worklist as build, write_worklist

    url = require_db()
    with session_scope(url) as session:
        df = build(session)
    write_worklist(df, out_path)
    counts = df["reason"].value_counts().to_dict() if len(df) else {}
    out.print(f"{out_path}: {len(df)} sample(s) to re-assay" + (f" ({', '.join(f'{v} {k}' for k, v in counts.items())})" if counts else ""))


@app.command()
def demo(
    plates: Annotated[int, typer.Option("--plates", help="Number of plates")] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same study)")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the generated files")] = Path("demo_study"),
) -> None:
    """Simulate a realistic BDNF study, write its files and ingest them like a technician would."""
    from labdb.demo import run_demo

    url = require_db()
    try:
        summary = run_demo(url, out_dir, plates, seed, console=out)
    except LabdbError as exc:
        fail(str(exc))
    out.print(str(summary))
    created = [a for a in summary.accounts if a.password is not None]
    existing = [a for a in summary.accounts if a.password is None]
    if created:
        out.print("demo accounts for the dashboard (passwords shown only this once; change one with `labdb users passwd NAME`):")
        table = Table("name", "role", "password")
        for a in created:
            table.add_row(a.name, a.role, a.password)
        out.print(table)
    if existing:
        out.print("demo accounts already exist, passwords unchanged: " + ", ".join(f"{a.name} ({a.role})" for a in existing)
                  + "; change one with `labdb users passwd NAME`.", markup=False)


def _read_password(from_stdin: bool) -> str:
    """A new password: one line of stdin, or typed twice at a prompt that does not echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name (recorded in the audit trail)")],
    role: Annotated[str, typer.Option("--role", help="technician, pi, statistician or admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")] = False,
) -> None:
    """Create a dashboard account; the password is asked twice (never echoed) and stored as an argon2 hash."""
    from labdb.users import add_user

    url = require_db()
    try:
        password = _read_password(password_stdin)
        with session_scope(url) as session:
            add_user(session, name, role, password, get_settings().user)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"account {name.strip()} ({role.strip().lower()}) created", markup=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")] = False,
) -> None:
    """Set a new password for an account."""
    from labdb.users import get_account, set_password

    url = require_db()
    with session_scope(url) as session:
        if get_account(session, name) is None:
            fail(f"no account named '{name}'; create it with `labdb users add {name} --role ROLE`.")
    try:
        password = _read_password(password_stdin)
        with session_scope(url) as session:
            set_password(session, name, password, get_settings().user)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"password of {name} changed", markup=False)


@users_app.command("list")
def users_list() -> None:
    """Accounts and their roles (never the password hashes)."""
    from labdb.users import list_accounts

    url = require_db()
    with session_scope(url) as session:
        accounts = [(a.name, a.role, a.created_at) for a in list_accounts(session)]
    if not accounts:
        out.print("No accounts yet: create one with `labdb users add NAME --role admin`.")
        return
    table = Table("name", "role", "created")
    for name, role, created in accounts:
        table.add_row(name, role, created.isoformat()[:16] if created else "")
    out.print(table)


@app.command()
def dashboard(port: Annotated[int, typer.Option(help="Port")] = 8501) -> None:
    """Start the Streamlit QC dashboard."""
    import importlib.util

    spec = importlib.util.find_spec("dashboards")  # located, never imported: nothing imports dashboards
    if spec is None or spec.origin is None:
        fail("the dashboards package is not installed next to labdb.")
    app_file = Path(spec.origin).with_name("app.py")
    env = dict(os.environ, LABDB_DATABASE_URL=require_db())
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    raise typer.Exit(subprocess.call(cmd, env=env))


@qc_app.command("close-guide-sets")
def qc_close_guide_sets(
    lot: Annotated[str, typer.Option("--lot", help="Kit lot")],
    by: Annotated[str, typer.Option("--by", help="Who closes them")] = "",
) -> None:
    """Close a kit lot's open guide sets; the next ones are built from the approved plates run after now."""
    from labdb import audit, runqc

    if not by.strip():
        fail("say who closes the guide sets with --by NAME.")
    url = require_db()
    try:
        with session_scope(url) as session:
            n = runqc.close_guide_sets(session, lot, by)
            audit.record(session, by, "guide_set.close", "kit_lot", lot, after={"closed": n})
            runqc.reevaluate(session)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"kit lot {lot}: {n} guide set(s) closed")


@qc_app.command("enter-guide-set")
def qc_enter_guide_set(
    lot: Annotated[str, typer.Option("--lot", help="Kit lot")],
    metric: Annotated[str, typer.Option("--metric", help="control_conc, bridge_conc, blank_od, top_standard_od, curve_c, curve_b, lloq, uloq")],
    mean: Annotated[float, typer.Option("--mean", help="Target mean")],
    sd: Annotated[float, typer.Option("--sd", help="Target SD")],
    level: Annotated[str | None, typer.Option("--level", help="Control level or pool name")] = None,
    n: Annotated[int, typer.Option("--n", help="Number of runs the targets come from")] = 20,
    by: Annotated[str, typer.Option("--by", help="Who enters them")] = "",
) -> None:
    """Enter a PI's own targets for a metric of a kit lot (closes the open guide set it replaces)."""
    from labdb import runqc

    url = require_db()
    try:
        with session_scope(url) as session:
            runqc.enter_guide_set(session, lot, metric, level, mean, sd, n, by)
            runqc.reevaluate(session)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"kit lot {lot}: guide set for {metric}{' ' + level if level else ''} entered (mean {mean:g}, SD {sd:g})")


@qc_app.command("report")
def qc_report(
    lot: Annotated[str | None, typer.Option("--lot", help="Only this kit lot")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only plates read on or after YYYY-MM-DD[ HH:MM]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Re-evaluate the Westgard rules, then print the violations and each metric's mean, SD and CV per kit lot."""
    from labdb.export import parse_when
    from labdb.runqc import report

    url = require_db()
    try:
        with session_scope(url) as session:
            data = report(session, lot, parse_when(since))
    except LabdbError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    building = [g for g in data["guide_sets"] if g["state"] != "judging"]
    if building:
        table = Table("lot", "metric", "level", "approved plates", "why", title="Not judged yet (no usable guide set)")
        for g in building:
            why = "guide set still building" if g["state"] == "building" else "every guide-set value is the same (SD 0)"
            table.add_row(str(g["lot"]), g["metric"], g["level"], f"{g['n']} of {g['needed']}", why)
        out.print(table)
    if data["violations"]:
        table = Table("plate", "read", "lot", "rule", "severity", "metric", "level", "plates", "values", title="Westgard violations")
        for v in data["violations"]:
            table.add_row(f"{v['plate_id']} {v['plate']}", (v["read_time"] or "")[:16], str(v["lot"]), v["rule"], v["severity"],
                          v["metric"], v["level"], " ".join(map(str, v["plate_ids"])), " ".join(f"{x:.4g}" for x in v["values"]))
        out.print(table)
    else:
        out.print("No Westgard violations.")
    if not data["metrics"]:
        out.print("No approved plates yet: approve some with `labdb plates approve`.")
        return
    table = Table("lot", "metric", "level", "n", "mean", "SD", "CV %", title="Metrics of approved plates")
    for m in data["metrics"]:
        fmt = lambda x: "" if x is None else f"{x:.4g}"
        table.add_row(str(m["lot"]), m["metric"], m["level"], str(m["n"]), fmt(m["mean"]), fmt(m["sd"]), fmt(m["cv_pct"]))
    out.print(table)


def main() -> None:
    app()
