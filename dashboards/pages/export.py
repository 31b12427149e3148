"""Export: filter, preview, and download the statistician's export (CSV, Parquet, xlsx) with its data dictionary."""

from __future__ import annotations

from datetime import datetime, time
from functools import partial

import streamlit as st

from dashboards import auth, data
from dashboards.safe import md
from labdb.core.errors import InputError
from labdb.export import XLSX_MAX_ROWS, ExportFilters, neutralise_formulas
from qc.vocab import SAMPLE_TYPES

PREVIEW_ROWS = 200

auth.guard("export")  # role check; also draws the sidebar with the logout button
st.title("Export")
url = data.database_url()
cols = st.columns(3)
sites = cols[0].multiselect("Sites", data.sites(url), key="export_sites")
types = cols[1].multiselect("Sample types", list(SAMPLE_TYPES), key="export_sample_types")
layout = cols[2].radio(
    "Layout",
    ["long", "wide"],
    key="export_layout",
    horizontal=True,
    help="long: one row per sample per plate; wide: one row per subject and visit",
)
cols = st.columns(3)
since = cols[0].date_input("Collected from", value=None, key="export_since")
until = cols[1].date_input("Collected until", value=None, key="export_until")
unapproved = cols[2].checkbox("Include plates not yet approved", key="export_unapproved")
filters = ExportFilters(
    sites=tuple(sites),
    sample_types=tuple(types),
    since=datetime.combine(since, time.min) if since else None,
    until=datetime.combine(until, time.max) if until else None,
    include_unapproved=unapproved,
)
wide = layout == "wide"
runs = data.correction_runs(url)
correction = None
if len(runs):
    labels = {int(r.version): f"version {r.version} · {r.method} · {str(r.created_at)[:16]}" for r in runs.itertuples()}
    correction = st.selectbox(
        "Batch correction for bdnf_pg_ml_corrected",
        list(labels),
        format_func=labels.get,
        key="export_correction",
        help="The latest run by default; see the Batch effects page.",
    )
try:
    overview = data.export_overview(url, filters, wide, PREVIEW_ROWS, correction)
except InputError as exc:
    st.error(md(exc))
    st.stop()

if overview["rows"] == 0:
    st.info("Nothing to export with these filters" + ("" if unapproved else " (only approved plates are exported)") + ".")
else:
    preview = overview["preview"]
    st.caption(
        md(
            f"{overview['rows']:,} row(s) from {overview['plates']:,} plate(s); showing the first {len(preview)}. "
            f"Batch correction in bdnf_pg_ml_corrected: {overview['batch_correction']}."
        )
    )
    st.dataframe(neutralise_formulas(preview), hide_index=True, width="stretch", key="export_preview")
    who = auth.actor() or "unknown"
    st.caption(
        "Each file is built when you click its button, exactly as `labdb export` writes it (xlsx is built in "
        "memory and takes longest; CSV and Parquet are streamed)."
    )
    cols = st.columns(3)
    for col, (suffix, label, mime) in zip(
        cols,
        (
            (".csv", "CSV", "text/csv"),
            (".parquet", "Parquet", "application/vnd.apache.parquet"),
            (".xlsx", "Excel (xlsx)", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ),
    ):
        too_big = suffix == ".xlsx" and overview["rows"] > XLSX_MAX_ROWS
        col.download_button(
            f"Download {label}",
            partial(data.export_bytes, url, filters, wide, suffix, who, correction),
            file_name=f"bdnf_export_{layout}{suffix}",
            mime=mime,
            key=f"export_download_{suffix[1:]}",
            on_click="ignore",
            disabled=too_big,
            help=f"More than {XLSX_MAX_ROWS:,} rows: use CSV or Parquet." if too_big else None,
        )

st.subheader("Data dictionary")
dictionary = overview["dictionary"]
st.dataframe(dictionary, hide_index=True, width="stretch", key="export_dictionary")
st.download_button(
    "Download the dictionary (CSV)",
    neutralise_formulas(dictionary).to_csv(index=False).encode(),
    file_name=f"bdnf_export_{layout}_dictionary.csv",
    mime="text/csv",
    key="export_download_dictionary",
    on_click="ignore",
)
