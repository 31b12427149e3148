"""`labdb qc report|enter-guide-set|close-guide-sets`: quality across plates (Levey-Jennings, Westgard)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from labdb.cli.common import fail, out, require_db
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError

qc_app = typer.Typer(help="Quality across plates: Levey-Jennings metrics, guide sets, Westgard rules.", no_args_is_help=True)


@qc_app.command("close-guide-sets")
def qc_close_guide_sets(
    lot: Annotated[str, typer.Option("--lot", help="Kit lot")],
    by: Annotated[str, typer.Option("--by", help="Who closes them")] = "",
) -> None:
    """Close a kit lot's open guide sets; the next ones are built from the approved plates run after now."""
    from labdb import runqc

    if not by.strip():
        fail("say who closes the guide sets with --by NAME.")
    url = require_db()
    try:
        with session_scope(url) as session:
            n = runqc.close_and_rejudge(session, lot, by)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"kit lot {lot}: {n} guide set(s) closed")


@qc_app.command("enter-guide-set")
def qc_enter_guide_set(
    lot: Annotated[str, typer.Option("--lot", help="Kit lot")],
    metric: Annotated[
        str, typer.Option("--metric", help="control_conc, bridge_conc, blank_od, top_standard_od, curve_c, curve_b, lloq, uloq")
    ],
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
            table.add_row(
                f"{v['plate_id']} {v['plate']}",
                (v["read_time"] or "")[:16],
                str(v["lot"]),
                v["rule"],
                v["severity"],
                v["metric"],
                v["level"],
                " ".join(map(str, v["plate_ids"])),
                " ".join(f"{x:.4g}" for x in v["values"]),
            )
        out.print(table)
    else:
        out.print("No Westgard violations.")
    if not data["metrics"]:
        out.print("No approved plates yet: approve some with `labdb plates approve`.")
        return
    table = Table("lot", "metric", "level", "n", "mean", "SD", "CV %", title="Metrics of approved plates")

    def fmt(x: float | None) -> str:
        return "" if x is None else f"{x:.4g}"

    for m in data["metrics"]:
        table.add_row(str(m["lot"]), m["metric"], m["level"], str(m["n"]), fmt(m["mean"]), fmt(m["sd"]), fmt(m["cv_pct"]))
    out.print(table)
