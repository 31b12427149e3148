"""Upload: drop reader files, pick a template (and plate map, kit lot, operator), preview every plate and every
problem, then ingest with a progress bar and a result per file."""

from __future__ import annotations

import hashlib
from datetime import datetime

import streamlit as st

from dashboards import auth, charts, data, uploads
from dashboards.safe import md
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.kitlots import new_kit_lot_note
from labdb.templates import load_template, parse_plate_map, parse_template

UPLOAD_OWN = "Upload a template…"
PREVIEW = "upload_preview"  # session state: (fingerprint, previews)

auth.guard("upload")  # role check; also draws the sidebar with the logout button
st.title("Upload plate-reader files")
url = data.database_url()

files = st.file_uploader(
    "Reader files",
    accept_multiple_files=True,
    key="upload_files",
    help="Exports of the plate reader (Gen5 text, grid CSV/xlsx, ...); one or many.",
)
bundled = data.templates()
choice = st.selectbox("Template", [*bundled, UPLOAD_OWN], key="upload_template_choice")
own_template = None
if choice == UPLOAD_OWN:
    own_template = st.file_uploader("Template (.toml)", type=["toml"], key="upload_template_file")
cols = st.columns(3)
plate_map_file = cols[0].file_uploader("Plate map (optional)", type=["csv", "xlsx", "txt", "tsv"], key="upload_plate_map")
kit_lot = cols[1].text_input("Kit lot (optional)", key="upload_kit_lot").strip()
operator = cols[2].text_input("Operator (optional)", key="upload_operator").strip()

try:
    if choice == UPLOAD_OWN:
        template = parse_template(own_template.name, own_template.getvalue()) if own_template else None
    else:
        template = load_template(bundled[choice])
    plate_map = parse_plate_map(plate_map_file.name, plate_map_file.getvalue()) if plate_map_file else None
except InputError as exc:
    st.error(md(exc))
    st.stop()
if template is None:
    st.info("Upload a template, or choose one of the bundled templates.")
    st.stop()
if not files:
    st.info("Drop one or more reader files above to preview them.")
    st.stop()

pairs = [(f.name, f.getvalue()) for f in files]
digest = hashlib.sha256()
for part in [template.sha256, plate_map.sha256 if plate_map else "", kit_lot, *(n + hashlib.sha256(b).hexdigest() for n, b in pairs)]:
    digest.update(part.encode())
fingerprint = digest.hexdigest()
cached = st.session_state.get(PREVIEW)
if cached and cached[0] == fingerprint:
    previews = cached[1]
else:
    with st.spinner("Reading and checking the files…"):
        previews = uploads.preview(url, pairs, template, plate_map, kit_lot or None)
    st.session_state[PREVIEW] = (fingerprint, previews)

st.subheader("Preview (nothing is stored yet)")
with session_scope(url) as session:
    lot_note = new_kit_lot_note(session, kit_lot or None)
if lot_note:
    st.warning(md(lot_note[0].upper() + lot_note[1:]))
good = [p for p in previews if p.problem is None and p.duplicate is None]
st.write(
    f"{len(previews)} file(s): {len(good)} ready, "
    f"{sum(p.problem is not None for p in previews)} with problems, {sum(p.duplicate is not None for p in previews)} already stored."
)
for i, fp in enumerate(previews):
    with st.expander(md(fp.name), expanded=fp.problem is not None or len(previews) <= 3):
        if fp.problem is not None:
            st.error(md(fp.problem))
            continue
        if fp.duplicate is not None:
            st.warning(md(f"{fp.name} is already stored as {fp.duplicate}; it will not be stored again."))
            continue
        for j, plate in enumerate(fp.plates):
            read = f"read {plate.read_time:%Y-%m-%d %H:%M}" if plate.read_time else "no read time in the file"
            st.text(f"Plate {plate.name} · {read} · verdict if stored: {plate.verdict}")
            st.caption(f"OD: {plate.od_reads}")
            for reason in plate.reasons:
                st.text(f"- {reason}")
            st.altair_chart(
                charts.plate_heatmap(plate.wells, "od_corrected", "corrected OD"), width="stretch", key=f"upload_heatmap_{i}_{j}"
            )

ready = {p.name for p in good}
read_time = None
if any(plate.read_time is None for p in good for plate in p.plates):
    st.caption(
        "Some files do not say when they were read (e.g. generic grids). Give the read time: the Westgard rules "
        "judge plates in run order, and without it a plate counts as read when it was uploaded."
    )
    cols = st.columns(2)
    day = cols[0].date_input("Read on", value=None, key="upload_read_day")
    clock = cols[1].time_input("at", value=None, key="upload_read_clock")
    if day is not None:
        read_time = datetime.combine(day, clock or datetime.min.time())
if st.button(f"Ingest {len(ready)} file(s)", key="upload_ingest", disabled=not ready):
    who = auth.current_user().name  # its role is read again in the database before each file is stored (the driver)
    todo = [(n, b) for n, b in pairs if uploads.safe_name(n) in ready]
    bar = st.progress(0.0, text="Storing…")
    outcome = uploads.ingest(
        url,
        todo,
        template,
        plate_map,
        kit_lot or None,
        operator or None,
        who,
        on_progress=lambda k, name: bar.progress(k / len(todo), text=f"{k}/{len(todo)}: {name}"),
        read_time=read_time,
    )
    data.invalidate()
    st.session_state.pop(PREVIEW, None)
    stored = int((outcome["result"] == "stored").sum())
    (st.success if stored == len(todo) else st.warning)(f"Stored {stored} of {len(todo)} file(s).")
    st.dataframe(outcome, hide_index=True, width="stretch", key="upload_results")
