"""BDNF ELISA QC dashboard (first version): plates with their status, and one plate's curve and layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboards import charts, data
from qc.curves import predict_params

st.set_page_config(page_title="BDNF ELISA QC", layout="wide")
st.title("BDNF ELISA QC")

url = data.database_url()
plates = data.plates(url)
if plates.empty:
    st.info("No plates yet: ingest one with `labdb ingest FILE --template TEMPLATE.toml`, or run `labdb demo`.")
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
    key="plates_table",
)

by_label = {f"{r.id} · {r.name} · {r.status} ({r.verdict})": int(r.id) for r in plates.itertuples()}
plate_id = by_label[st.selectbox("Plate", list(by_label), key="plate_select")]
plate = plates.set_index("id").loc[plate_id]
st.subheader(f"Plate {plate_id}: {plate['name']}")
verdict_text = f"Verdict: {plate['verdict']} · status: {plate['status']}"
(st.success if plate["verdict"] == "pass" else st.error)(verdict_text)
for reason in plate["verdict_reasons"] or []:
    st.write(f"- {reason}")

wells = data.plate_wells(url, plate_id)
curve = data.plate_curve(url, plate_id)
left, right = st.columns([3, 2])
with left:
    if curve and curve.get("converged") and curve.get("params"):
        nominal = wells.loc[wells["role"] == "standard", "nominal"]
        grid = np.geomspace(max(nominal.min() / 2, 1e-3), nominal.max() * 2, 200)
        line = pd.DataFrame({"conc": grid, "od": predict_params(curve["model"], curve["params"], grid)})
        st.altair_chart(charts.curve_chart(wells, line, curve.get("lloq_pg_ml"), curve.get("uloq_pg_ml")), width="stretch")
        st.caption(f"{curve['model'].upper()}, weighting {curve['weighting']}, R² {curve['r2']:.4f}, engine {curve['engine_version']}")
    else:
        st.warning(f"No usable curve for this plate: {(curve or {}).get('message', 'not fitted')}")
with right:
    st.altair_chart(charts.plate_heatmap(wells), width="stretch")
masked = wells[wells["masked"]]
if not masked.empty:
    st.subheader("Masked wells")
    st.dataframe(masked[["position", "role", "level", "od_corrected", "mask_reason"]], hide_index=True, width="stretch")
st.subheader("Results")
st.dataframe(data.plate_results(url, plate_id), hide_index=True, width="stretch", key="results_table")
