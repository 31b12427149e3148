"""Batch effects: a stored correction run's per-plate shifts, the independent check pool before and after, variance
shares and the protected biology before and after; a form to run a new correction (PI, statistician, admin)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboards import auth, charts, data
from dashboards.safe import md
from labdb import users
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError
from labdb.correction import CorrectionOptions
from qc.vocab import CORRECTION_METHODS

FLASH = "batch_flash"
SHOW = "batch_show_version"  # the version to select on the next run (set after a new correction)
NO_REFERENCE = "(none: long-run target)"
SAMPLE_BASED = ("combat", "mixed")


def pct(x: object) -> str:
    """A CV or share (0..1) as a percentage, '-' when unknown."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f}%"


def run_form(url: str, who: str) -> None:
    """Method, reference lot, ComBat batch and override reason; runs the correction as account `who`
    (labdb.users.correct_as: the role is checked again in the database, inside the transaction)."""
    st.subheader("Run a correction")
    st.caption(
        "Corrects every approved plate with one method and stores the run as a new version; corrected values "
        "are stored beside the raw ones. The same method and options on the same plates return the stored "
        "version."
    )
    cols = st.columns(3)
    method = cols[0].selectbox(
        "Method",
        CORRECTION_METHODS,
        key="batch_method",
        help="bridge: the bridging pool BP1 on every plate; lot-shift: kit-lot shifts fitted "
        "from the standards; combat / mixed: estimated from the samples (refused when a "
        "protected covariate is confounded with batch, unless you give a reason).",
    )
    reference = None
    if method in ("bridge", "lot-shift"):
        choice = cols[1].selectbox(
            "Reference kit lot",
            [NO_REFERENCE, *data.approved_kit_lots(url)],
            key="batch_reference_lot",
            help="The lot the others are moved to (optional).",
        )
        reference = None if choice == NO_REFERENCE else choice
    combat_batch = "plate"
    if method == "combat":
        combat_batch = cols[1].selectbox("ComBat batch", ["plate", "kit_lot"], key="batch_combat_batch")
    override = ""
    if method in SAMPLE_BASED:
        override = cols[2].text_area(
            "Override reason (optional)",
            key="batch_override",
            help="Run although a protected covariate is confounded with batch; the reason is recorded with the run.",
        )
    if not st.button("Run correction", key="batch_run", type="primary"):
        return
    options = CorrectionOptions(method=method, reference_lot=reference, batch=combat_batch, override_reason=override.strip() or None)
    try:
        with session_scope(url) as session:
            outcome = users.correct_as(session, who, options)  # the role, read again in the database, here
            version, reused = outcome.run.id, outcome.reused
            n_plates, n_values = outcome.run.n_plates, outcome.run.n_values
    except LabdbError as exc:
        st.error(md(str(exc).replace("pass --override 'REASON'", "give an override reason")))
        return
    data.invalidate()
    st.session_state[SHOW] = version
    st.session_state[FLASH] = (
        f"Version {version} already holds this correction (same method, options and plates); nothing new stored."
        if reused
        else f"Correction version {version} stored: {method}, {n_plates} plate(s), {n_values} corrected value(s)."
    )
    st.rerun()


user = auth.guard("batch")  # role check; also draws the sidebar with the logout button
st.title("Batch effects")
url = data.database_url()
may_correct = user.can("correct")
flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(md(flash))

runs = data.correction_runs(url)
if runs.empty:
    st.info(
        "No batch-correction run yet. Run one on the server with `labdb batch correct --method bridge`"
        + (", or with the form below." if may_correct else ".")
    )
    if may_correct:
        run_form(url, user.name)
    st.stop()

if SHOW in st.session_state:
    shown = st.session_state.pop(SHOW)
    if shown in set(runs["version"]):
        st.session_state["batch_version"] = shown
labels = {int(r.version): f"version {r.version} · {r.method} · {str(r.created_at)[:16]} · by {r.created_by}" for r in runs.itertuples()}
version = st.selectbox("Correction version", list(labels), format_func=labels.get, key="batch_version")
run = data.correction_run(url, version)
if run is None:  # removed between the list and now (should not happen: runs are append-only)
    st.error(f"Correction version {version} is gone; reload the page.")
    st.stop()

options = ", ".join(f"{k}={v}" for k, v in run["options"].items() if k != "method" and v is not None)
st.subheader(f"Version {run['version']}: {run['method']}")
st.caption(
    md(
        f"Options: {options or 'defaults'} · by {run['created_by']} at {str(run['created_at'])[:19]} · "
        f"{run['plates']} plate(s), {run['values']} corrected value(s) · labdb {run['labdb_version']}"
    )
)
if run["override"]:
    st.warning(md(f"Design check overridden: {run['override_reason']}"))
for warning in run["warnings"]:
    st.warning(md(warning))
stale = run["stale"]
if any(stale.values()):
    st.warning(
        f"Out of date: {len(stale['not_in_run'])} approved plate(s) not in this run, {len(stale['refitted'])} "
        f"refitted since, {len(stale['no_longer_approved'])} no longer approved. Run a new correction"
        + (" (below)" if may_correct else "")
        + " for a version that includes them."
    )

diag = run["diagnostics"]
shifts = data.correction_shifts(url, version)

st.subheader("Independent check")
check = diag.get("check_pool") or {}
before, after = check.get("before") or {}, check.get("after") or {}
pool = check.get("pool")
if not pool:
    st.info("This run has no check pool: nothing independent proves the correction.")
elif not before:
    st.info(md(f"The check pool {pool} is on no corrected plate, so this run has no independent check."))
else:
    st.caption(
        md(
            f"Pool {pool} is used by no correction: if its across-plate CV falls towards its within-plate CV, "
            "the correction removed plate effects, not noise."
        )
    )
    across_b, across_a, within = (before.get("across_plate_cv"), after.get("across_plate_cv"), before.get("within_plate_cv"))
    cols = st.columns(4)
    cols[0].metric("Across-plate CV before", pct(across_b))
    delta = None if across_a is None or across_b is None else f"{100 * (across_a - across_b):+.1f} pp"
    cols[1].metric("Across-plate CV after", pct(across_a), delta=delta, delta_color="inverse")
    cols[2].metric("Within-plate CV", pct(within))
    ratio = across_a / within if across_a is not None and within else None
    cols[3].metric(
        "After / within",
        "-" if ratio is None else f"{ratio:.2f}x",
        help="Across-plate CV after the correction divided by the within-plate CV: near 1 means what is "
        "left across plates is no more than the noise within a plate.",
    )
    st.caption(f"{before.get('n_plates', '-')} plate(s) with the pool, {before.get('wells_per_plate', '-')} well(s) per plate on average.")
    if len(shifts) and shifts[["check_before_pg_ml", "check_after_pg_ml"]].notna().any().any():
        st.altair_chart(charts.check_pool_chart(shifts, str(pool)), width="stretch", key="batch_check_chart")
rep = diag.get("repeated_samples")
if rep:
    st.caption(
        f"{rep.get('n_samples', 'Some')} sample(s) measured on more than one plate: across-plate CV "
        f"{pct(rep.get('across_plate_cv_before'))} before, {pct(rep.get('across_plate_cv_after'))} after "
        "(re-assays are often repeated because the first value was doubtful: a handful of them proves little)."
    )

st.subheader("Per-plate shifts")
if shifts.empty:
    st.info("This run stored no per-plate shift.")
else:
    scale = st.radio("Show", ["factor exp(shift)", "shift (log)"], key="batch_shift_scale", horizontal=True)
    st.altair_chart(charts.shift_chart(shifts, as_factor=scale.startswith("factor")), width="stretch", key="batch_shift_chart")
    st.caption(
        "The shift is what was subtracted from each plate's natural-log values; the factor exp(shift) is what "
        "the plate read relative to the target. Bars: 95% CI."
    )
    table = shifts[
        [
            "plate_id",
            "plate",
            "read_time",
            "kit_lot",
            "shift",
            "ci_low",
            "ci_high",
            "factor",
            "n",
            "check_before_pg_ml",
            "check_after_pg_ml",
        ]
    ]
    st.dataframe(table, hide_index=True, width="stretch", key="batch_shifts")

st.subheader("Variance shares (samples)")
variance = diag.get("variance") or {}
shares = pd.DataFrame(
    [
        {"component": comp, "when": when, "share": variance[when]["shares"][comp]}
        for when in ("before", "after")
        if (variance.get(when) or {}).get("shares")
        for comp in ("plate", "kit_lot", "residual")
        if variance[when]["shares"].get(comp) is not None
    ],
    columns=["component", "when", "share"],
)
if shares.empty:
    st.info("This run stored no variance decomposition.")
else:
    st.altair_chart(charts.variance_shares_chart(shares), width="stretch", key="batch_variance_chart")
    st.caption("Share of the samples' log variance from plate, kit lot and the rest, before and after the correction.")

st.subheader("Protected biology")
effects = diag.get("covariate_effects") or {}
rows = [
    {"covariate (log effect)": name, "before": b, "after": (effects.get("after") or {}).get(name)}
    for name, b in (effects.get("before") or {}).items()
]
if not rows:
    st.info("This run stored no covariate effects.")
else:
    biology = pd.DataFrame(rows)
    biology["change"] = biology["after"] - biology["before"]
    st.dataframe(biology, hide_index=True, width="stretch", key="batch_biology")
    st.caption(
        "Effects of the protected covariates on log BDNF, fitted on the samples before and after: a correction "
        "that keeps the biology leaves them close."
    )

with st.expander("Fitted parameters"):
    st.json(run["fitted"])

if may_correct:
    run_form(url, user.name)
