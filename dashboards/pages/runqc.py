"""Run QC: Levey-Jennings charts per metric and kit lot with 1/2/3 SD bands and Westgard violations; guide sets."""

from __future__ import annotations

import streamlit as st

from dashboards import auth, charts, data
from dashboards.safe import md
from labdb import runqc, users
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError

user = auth.guard("runqc")  # role check; also draws the sidebar with the logout button
st.title("Run QC")
url = data.database_url()
metrics = data.qc_metrics(url)
if metrics.empty:
    st.info("No approved or evaluated plates with a kit lot yet: Levey-Jennings charts start with the first plates.")
    st.stop()

left, mid, right = st.columns(3)
lot = left.selectbox("Kit lot", sorted(metrics["lot"].unique()), key="qc_lot")
in_lot = metrics[metrics["lot"] == lot]
metric = mid.selectbox("Metric", [m for m in runqc.METRICS if m in set(in_lot["metric"])], key="qc_metric")
levels = sorted(in_lot.loc[in_lot["metric"] == metric, "level"].unique())
level = right.selectbox("Level / pool", levels, key="qc_level") if len(levels) > 1 or levels[0] else ""
points = in_lot[(in_lot["metric"] == metric) & (in_lot["level"] == level)]

guides = data.qc_guide_sets(url)
guide = guides[(guides["lot"] == lot) & (guides["metric"] == metric) & (guides["level"].fillna("") == level) & guides["closed_at"].isna()]
violations = data.qc_violations(url)
here = violations[(violations["lot"] == lot) & (violations["metric"] == metric) & (violations["level"].fillna("") == level)]
mean = float(guide["mean"].iloc[0]) if len(guide) else None
sd = float(guide["sd"].iloc[0]) if len(guide) else None
st.altair_chart(charts.levey_jennings(points, mean, sd, set(here["plate_id"])), width="stretch")
if mean is None:
    approved = int((points["status"] == "approved").sum())
    st.info(f"Guide set still building: {approved} of {runqc.GUIDE_SET_N} approved plates for this lot; nothing is judged yet.")
else:
    st.caption(
        f"Guide set ({guide['source'].iloc[0]}, n = {int(guide['n'].iloc[0])}): mean {mean:.4g}, SD {sd:.3g}, CV {100 * sd / mean:.1f}%"
        if mean
        else ""
    )

st.subheader("Westgard violations")
if here.empty:
    st.success("No violation for this metric.")
else:
    st.dataframe(here[["rule", "severity", "plate", "plate_ids", "values"]], hide_index=True, width="stretch", key="qc_violations")
st.caption(
    f"{int((violations['severity'] == 'reject').sum())} rejecting and {int((violations['severity'] == 'warning').sum())} "
    "warning violation(s) stored across all metrics and lots."
)

st.subheader("Guide sets")
st.dataframe(guides[guides["lot"] == lot], hide_index=True, width="stretch", key="qc_guide_sets")
if user.can("decide"):
    if st.button(md(f"Close the open guide sets of lot {lot}"), key="qc_close"):
        try:
            with session_scope(url) as session:  # the role is checked again, in the database, inside the action
                closed = users.close_guide_sets_as(session, user.name, lot)
        except LabdbError as exc:
            st.error(md(str(exc)))
        else:
            data.invalidate()
            st.success(md(f"{closed} guide set(s) closed; the next ones start from the plates run after now."))
