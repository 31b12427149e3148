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

st.subheader("Plates")
table = plates.assign(reasons=plates["verdict_reasons"].map(lambda r: " ".join(r) if isinstance(r, list) else ""))
st.dataframe(
    table[["id", "name", "read_time", "operator", "kit_lot", "status", "verdict", "reasons"]],
    hide_index=True,
    width="stretch",
    key="overview_plates",
)
st.caption("Open a plate on the Plate review page.")
