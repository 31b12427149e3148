"""Cohort: BDNF by sample type, season and sex from approved plates, and the samples that do not link."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import auth, charts, data

auth.guard("cohort")  # role check; also draws the sidebar with the logout button
st.title("Cohort")
url = data.database_url()
frame = data.export_frame(url)  # approved plates only, as exported
if frame.empty:
    st.info("No results from approved plates yet: approve plates on the Plate review page.")
else:
    st.caption(f"{len(frame)} sample measurements on {frame['plate_id'].nunique()} approved plate(s); "
               "censored values (below LLOQ / above ULOQ) are coloured.")
    tabs = st.tabs(["Sample type", "Season", "Sex"])
    for tab, column in zip(tabs, ("sample_type", "season", "sex")):
        with tab:
            if frame[column].notna().any():
                st.altair_chart(charts.bdnf_by(frame, column), width="stretch", key=f"cohort_chart_{column}")
                summary = (frame.assign(**{column: frame[column].astype("string").fillna("unknown")})
                           .groupby(column)["bdnf_pg_ml"].agg(n="count", median="median", mean="mean").reset_index())
                st.dataframe(summary, hide_index=True, width="stretch", key=f"cohort_table_{column}")
            else:
                st.info(f"No {column.replace('_', ' ')} known for these samples (import a manifest with `labdb samples import`).")

st.subheader("Linking gaps")
gaps = data.unmatched(url)
left, right = st.columns(2)
with left:
    st.markdown("**On a plate but in no manifest**")
    rows = pd.DataFrame(gaps["not_in_manifest"])
    if rows.empty:
        st.info("Every sample ID on the plates is in a manifest.")
    else:
        rows["wells"] = rows["wells"].map(", ".join)
        st.dataframe(rows, hide_index=True, width="stretch", key="cohort_not_in_manifest")
with right:
    st.markdown("**In the manifest but never measured**")
    rows = pd.DataFrame(gaps["never_measured"])
    if rows.empty:
        st.info("Every manifest sample has been measured.")
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key="cohort_never_measured")
