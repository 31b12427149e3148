"""`labdb batch correct|report|list`: versioned batch-effect corrections of the approved plates (labdb.correction)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from labdb.cli.common import fail, out, require_db
from labdb.core.config import get_settings
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError
from qc.vocab import CORRECTION_METHODS

batch_app = typer.Typer(help="Batch effects: correct plate and kit-lot shifts (a new version per run), report them.", no_args_is_help=True)


@batch_app.command("correct")
def batch_correct(
    method: Annotated[str, typer.Option("--method", help=f"One of {', '.join(CORRECTION_METHODS)}")] = "bridge",
    reference_lot: Annotated[
        str | None,
        typer.Option("--reference-lot", help="Kit lot the others are moved to (bridge: the pool's value on this lot; lot-shift: S = 0)"),
    ] = None,
    pool: Annotated[str, typer.Option("--pool", help="Bridging pool (bridge method)")] = "BP1",
    check_pool: Annotated[str, typer.Option("--check-pool", help="Independent pool no correction uses: the proof")] = "QC2",
    batch: Annotated[str, typer.Option("--batch", help="combat: plate or kit_lot")] = "plate",
    override: Annotated[
        str | None,
        typer.Option(
            "--override", help="combat/mixed: run although a protected covariate is confounded with batch; the reason is recorded"
        ),
    ] = None,
) -> None:
    """Correct every approved plate with one method and store the run as a new version (corrected values beside raw)."""
    from labdb.correction import CorrectionOptions, run_correction

    if method not in CORRECTION_METHODS:
        fail(f"--method {method}: unknown; use {', '.join(CORRECTION_METHODS)}.")
    if batch not in ("plate", "kit_lot"):
        fail(f"--batch {batch}: use plate or kit_lot.")
    if override is not None and not override.strip():
        fail("--override needs a reason, e.g. --override 'season randomised within site; PI approved'.")
    if override is not None and method not in ("combat", "mixed"):
        fail(f"--override applies to combat and mixed only: {method} uses no samples, so it needs no override.")
    options = CorrectionOptions(method, pool, check_pool, reference_lot, batch, override.strip() if override else None)
    url = require_db()
    try:
        with session_scope(url) as session:
            outcome = run_correction(session, options, get_settings().user)
            run = outcome.run
            version, plates, values, warnings = run.id, run.n_plates, run.n_values, list(run.warnings or [])
            check = (run.diagnostics or {}).get("check_pool") or {}
    except LabdbError as exc:
        fail(str(exc))
    if outcome.reused:
        out.print(f"version {version} already holds this correction (same method, options and plates); nothing new stored.")
    else:
        out.print(f"correction version {version}: {method}, {plates} plate(s), {values} corrected value(s).")
    for line in _check_lines(check):
        out.print(line, markup=False)
    for w in warnings:
        out.print(f"warning: {w}", markup=False)
    out.print(f"details: labdb batch report --version {version}")


def _check_lines(check: dict) -> list[str]:
    before, after = check.get("before") or {}, check.get("after") or {}
    if not before:
        return [f"independent check: pool {check.get('pool')} is on no corrected plate."] if check.get("pool") else []
    ratio = after.get("across_plate_cv", float("nan")) / before.get("within_plate_cv", float("nan"))
    return [
        f"independent check ({check['pool']}, used by no correction): across-plate CV "
        f"{_pct(before.get('across_plate_cv'))} -> {_pct(after.get('across_plate_cv'))}; within-plate CV "
        f"{_pct(before.get('within_plate_cv'))} (after/within = {ratio:.2f}x)"
    ]


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


@batch_app.command("report")
def batch_report(
    version: Annotated[int | None, typer.Option("--version", help="Correction version (default: the latest)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """A correction run: options, independent check, variance shares and covariate effects before and after, shifts."""
    from labdb.correction_runs import report

    url = require_db()
    try:
        with session_scope(url) as session:
            data = report(session, version)
    except LabdbError as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    opts = ", ".join(f"{k}={v}" for k, v in (data["options"] or {}).items() if k != "method" and v is not None)
    out.print(
        f"correction version {data['version']}: {data['method']} ({opts}) by {data['created_by']} at "
        f"{data['created_at'][:19]}; {data['plates']} plate(s), {data['values']} corrected value(s)",
        markup=False,
    )
    if data["override"]:
        out.print(f"design check overridden: {data['override_reason']}", markup=False)
    diag = data["diagnostics"]
    for line in _check_lines(diag.get("check_pool") or {}):
        out.print(line, markup=False)
    rep = diag.get("repeated_samples")
    if rep:
        out.print(
            f"repeated samples across plates ({rep.get('n_samples', '?')}): CV {_pct(rep['across_plate_cv_before'])} -> "
            f"{_pct(rep['across_plate_cv_after'])}",
            markup=False,
        )
    variance = diag.get("variance") or {}
    if variance:
        table = Table("component", "before", "after", title="Variance shares (samples)")
        for comp in ("plate", "kit_lot", "residual"):
            b, a = (variance.get(w, {}).get("shares", {}).get(comp) for w in ("before", "after"))
            if b is not None or a is not None:
                table.add_row(comp, _pct(b), _pct(a))
        out.print(table)
    effects = diag.get("covariate_effects") or {}
    if effects:
        table = Table("covariate (log effect)", "before", "after", title="Protected biology")
        for name, b in effects.get("before", {}).items():
            a = effects.get("after", {}).get(name)
            table.add_row(escape(name), f"{b:+.3f}", "-" if a is None else f"{a:+.3f}")
        out.print(table)
    if data["per_lot"]:
        table = Table("kit lot", "plates", "mean shift", "range", title="Shifts (log, subtracted; x = exp(shift))")
        for r in data["per_lot"]:
            table.add_row(
                escape(str(r["kit_lot"])), str(r["plates"]), f"{r['mean_shift']:+.3f}", f"{r['min_shift']:+.3f} .. {r['max_shift']:+.3f}"
            )
        out.print(table)
    for w in data["warnings"]:
        out.print(f"warning: {w}", markup=False)
    stale = data["stale"]
    if any(stale.values()):
        out.print(
            f"out of date: {len(stale['not_in_run'])} approved plate(s) not in this run, "
            f"{len(stale['refitted'])} refitted, {len(stale['no_longer_approved'])} no longer approved; "
            "run `labdb batch correct` again for a new version.",
            markup=False,
        )


@batch_app.command("list")
def batch_list() -> None:
    """Every correction version, newest first."""
    from labdb.correction_runs import runs

    url = require_db()
    with session_scope(url) as session:
        df = runs(session)
    if df.empty:
        out.print("No correction runs yet: `labdb batch correct --method bridge`.")
        return
    table = Table("version", "method", "plates", "values", "override", "by", "at", "check CV before", "after")
    for r in df.itertuples(index=False):
        table.add_row(
            str(r.version),
            r.method,
            str(r.plates),
            str(r.values),
            "yes" if r.override else "",
            escape(r.created_by),
            str(r.created_at)[:19],
            _pct(r.check_cv_before),
            _pct(r.check_cv_after),
        )
    out.print(table)
