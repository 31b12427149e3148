"""Worklist: samples to re-assay (above ULOQ, below LLOQ, high CV) with a suggested dilution."""

from __future__ import annotations

import streamlit as st

from dashboards import auth, data
from labdb.export import neutralise_formulas

auth.guard("worklist")  # role check; also draws the sidebar with the logout button
st.title("Re-assay worklist")
url = data.database_url()
todo = data.worklist(url)
if todo.empty:
    st.info("Nothing to re-assay: no sample's latest measurement is censored or has a high CV.")
    st.stop()
st.caption(f"{len(todo)} sample(s); their latest measurement on a plate that was not rejected needs a repeat.")
st.dataframe(todo, hide_index=True, width="stretch", key="worklist_table")
st.download_button(
    "Download the worklist (CSV)",
    neutralise_formulas(todo).to_csv(index=False).encode(),
    file_name="reassay_worklist.csv",
    mime="text/csv",
    key="worklist_download",
    on_click="ignore",
)
