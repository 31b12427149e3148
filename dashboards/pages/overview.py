"""Overview: every plate with its status and verdict."""

from __future__ import annotations

import streamlit as st

from dashboards import auth, data

auth.guard("overview")  # role check; also draws the sidebar with the logout button
st.title("BDNF ELISA QC")
url = data.database_url()
plates = data.plates(url)
if plates.empty:
    st.info("No plates yet: upload one on the Upload page, or run `labdb demo`.")
    st.stop()

counts = plates["status"].value_counts()
cols = st.columns(4)
for col, status in zip(cols, ("evaluated", "approved", "rejected")):
    col.metric(status.capitalize(), int(counts.get(status, 0)))
cols[3].metric("Failed acceptance", int((plates["verdict"] == "fail").sum()))

st.subheader("Needs attention")
violations = data.qc_violations(url)
waiting = set(plates.loc[plates["status"] == "evaluated", "id"])
breaking = sorted(set(violations.loc[violations["severity"] == "reject", "plate_id"]) & waiting)
if breaking:
    st.warning(
        f"{len(breaking)} plate(s) awaiting review break rejecting Westgard rules: "
        f"{', '.join(map(str, breaking[:10]))}{' ...' if len(breaking) > 10 else ''} (see Plate review and Run QC)."
    )
runs = data.correction_runs(url)
approved = int(counts.get("approved", 0))
if runs.empty:
    st.info(f"No batch correction yet: bdnf_pg_ml_corrected is empty in exports ({approved} approved plate(s)).")
else:
    latest = data.correction_run(url, int(runs["version"].iloc[0]))
    stale = latest["stale"]
    behind = len(stale["not_in_run"]) + len(stale["refitted"]) + len(stale["no_longer_approved"])
    text = f"Batch correction version {latest['version']} ({latest['method']}) covers {latest['plates']} plate(s)"
    if behind:
        st.warning(
            f"{text}; {len(stale['not_in_run'])} approved plate(s) are not in it and {len(stale['refitted'])} were "
            "refitted since: run a new correction (Batch effects page or `labdb batch correct`)."
        )
    else:
        st.success(f"{text}: every approved plate, as it is now.")
if not breaking and not waiting:
    st.caption("No plate awaits review.")

st.subheader("Plates")
table = plates.assign(reasons=plates["verdict_reasons"].map(lambda r: " ".join(r) if isinstance(r, list) else ""))
st.dataframe(
    table[["id", "name", "read_time", "operator", "kit_lot", "status", "verdict", "reasons"]],
    hide_index=True,
    width="stretch",
    key="overview_plates",
)
st.caption("Open a plate on the Plate review page.")
