"""Cohort: BDNF by sample type, season, sex and platelet count from approved plates, and the samples that do not link."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import auth, charts, data

GROUPS = {"Sample type": "sample_type", "Season": "season", "Sex": "sex", "Platelet count": "platelet_count"}

auth.guard("cohort")  # role check; also draws the sidebar with the logout button
st.title("Cohort")
url = data.database_url()
runs = data.correction_runs(url)
latest = int(runs["version"].iloc[0]) if len(runs) else None
frame = data.cohort_values(url, latest)  # approved plates only, current fits, as exported
if latest is not None and len(frame):
    kind = st.radio(
        "Values",
        ["measured", f"batch-corrected (version {latest})"],
        horizontal=True,
        key="cohort_values",
        help="Batch-corrected: the latest correction run (Batch effects page); values it did not cover "
        "(censored, or plates approved since) are left out.",
    )
    if kind != "measured":
        frame = frame.assign(bdnf_pg_ml=frame["bdnf_pg_ml_corrected"]).dropna(subset=["bdnf_pg_ml"])
if frame.empty:
    st.info("No results from approved plates yet: approve plates on the Plate review page.")
else:
    st.caption(
        f"{len(frame)} sample measurements on {frame['plate_id'].nunique()} approved plate(s); "
        f"censored values (below LLOQ / above ULOQ) are coloured; at most {charts.MAX_POINTS:,} points are drawn."
    )
    label = st.segmented_control("BDNF by", list(GROUPS), default="Sample type", key="cohort_group") or "Sample type"
    column = GROUPS[label]
    if not frame[column].notna().any():
        st.info(f"No {label.lower()} known for these samples (import a manifest with `labdb samples import`).")
    elif column == "platelet_count":
        st.altair_chart(charts.bdnf_vs_platelets(frame), width="stretch", key="cohort_chart_platelets")
        known = frame[frame["platelet_count"].notna() & (frame["censoring"] == "none")]
        summary = (
            known.groupby(known["sample_type"].astype("string").fillna("unknown"))
            .apply(
                lambda g: pd.Series({"n": len(g), "spearman_rho": g["platelet_count"].corr(g["bdnf_pg_ml"], method="spearman")}),
                include_groups=False,
            )
            .reset_index()
        )
        st.dataframe(summary, hide_index=True, width="stretch", key="cohort_table_platelets")
    else:
        st.altair_chart(charts.bdnf_by(frame, column), width="stretch", key=f"cohort_chart_{column}")
        summary = (
            frame.assign(**{column: frame[column].astype("string").fillna("unknown")})
            .groupby(column)["bdnf_pg_ml"]
            .agg(n="count", median="median", mean="mean")
            .reset_index()
        )
        st.dataframe(summary, hide_index=True, width="stretch", key=f"cohort_table_{column}")

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
