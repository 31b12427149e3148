"""Plate review: curve, heatmaps, standards, controls and verdict of one plate; mask wells and refit (technician,
PI, admin); approve or reject with a comment (PI, admin only: hidden for other roles and refused by the action)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboards import auth, charts, data
from dashboards.safe import md
from labdb import users
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from qc.curves import predict_params

FLASH = "review_flash"

auth.guard("review")  # role check; also draws the sidebar with the logout button
st.title("Plate review")
url = data.database_url()
plates = data.plates(url)
if plates.empty:
    st.info("No plates yet: upload one on the Upload page.")
    st.stop()

flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(md(flash))

labels = {int(r.id): f"{r.id} · {r.name} · {r.status} ({r.verdict})" for r in plates.itertuples()}
plate_id = st.selectbox("Plate", list(labels), format_func=labels.get, key="review_plate")
plate = plates.set_index("id").loc[plate_id]
st.subheader(md(f"Plate {plate_id}: {plate['name']}"))
verdict_text = f"Verdict: {plate['verdict']} · status: {plate['status']}"
(st.success if plate["verdict"] == "pass" else st.error)(md(verdict_text))
for reason in plate["verdict_reasons"] or []:
    st.text(f"- {reason}")

wells = charts.with_replicate_cv(data.plate_wells(url, plate_id))
curve = data.plate_curve(url, plate_id)
left, right = st.columns([3, 2])
with left:
    if curve and curve.get("converged") and curve.get("params"):
        nominal = wells.loc[wells["role"] == "standard", "nominal"]
        grid = np.geomspace(max(nominal.min() / 2, 1e-3), nominal.max() * 2, 200)
        line = pd.DataFrame({"conc": grid, "od": predict_params(curve["model"], curve["params"], grid)})
        st.altair_chart(
            charts.curve_chart(wells, line, curve.get("lloq_pg_ml"), curve.get("uloq_pg_ml")), width="stretch", key="review_curve"
        )
        r2 = f"{curve['r2']:.4f}" if curve.get("r2") is not None else "n/a"
        st.caption(
            f"{curve['model'].upper()}, weighting {curve['weighting']}, R² {r2}, engine {curve['engine_version']}; "
            f"LLOQ {curve.get('lloq_pg_ml')}, ULOQ {curve.get('uloq_pg_ml')} pg/mL"
        )
    else:
        st.warning(md(f"No usable curve for this plate: {(curve or {}).get('message', 'not fitted')}"))
with right:
    st.altair_chart(charts.plate_heatmap(wells, "od_corrected", "corrected OD"), width="stretch", key="review_od_map")
    st.altair_chart(charts.plate_heatmap(wells, "cv_pct", "replicate CV (%)"), width="stretch", key="review_cv_map")

st.subheader("Standards recovery")
standards = pd.DataFrame((curve or {}).get("standards") or [])
if standards.empty:
    st.info("No standards recorded for this plate's curve.")
else:
    st.dataframe(standards, hide_index=True, width="stretch", key="review_standards")

results = data.plate_results(url, plate_id)
st.subheader("Controls")
controls = results[results["role"].isin(["control", "bridge"])]
if controls.empty:
    st.info("This plate has no kit controls or bridging pools.")
else:
    st.dataframe(controls, hide_index=True, width="stretch", key="review_controls")

masked = wells[wells["masked"]]
if not masked.empty:
    st.subheader("Masked wells")
    st.dataframe(
        masked[["position", "role", "level", "od_corrected", "mask_reason"]], hide_index=True, width="stretch", key="review_masked"
    )
st.subheader("Run QC (Westgard)")
violations = data.plate_violations(url, plate_id)
if violations.empty:
    st.success("This run completes no Westgard violation (or its kit lot has no guide set yet: see Run QC).")
else:
    rejecting = violations[violations["severity"] == "reject"]
    if len(rejecting) and plate["status"] != "approved":
        st.error(
            "This run breaks rejecting Westgard rules (" + ", ".join(sorted(set(rejecting["rule"]))) + "): "
            "approving it needs a PI's written override in the comment, which the audit trail records."
        )
    st.dataframe(violations, hide_index=True, width="stretch", key="review_violations")

st.subheader("Results")
st.dataframe(results, hide_index=True, width="stretch", key="review_results")

who = auth.actor()
st.subheader("Mask or unmask wells")
if not auth.allowed("mask"):
    st.info("Your role can view plates but not mask wells.")
else:
    mask_cols = st.columns([2, 1, 3, 1])
    positions = mask_cols[0].multiselect("Wells", wells["position"].tolist(), key="review_mask_wells")
    action = mask_cols[1].radio("Action", ["mask", "unmask"], key="review_mask_action", horizontal=True)
    mask_reason = mask_cols[2].text_input("Reason", key="review_mask_reason", placeholder="e.g. bubble seen in well")
    if mask_cols[3].button("Apply and refit", key="review_mask_submit"):
        if not positions:
            st.error("Choose at least one well.")
        else:
            try:
                with session_scope(url) as session:  # the role is checked again, in the database, inside mask_as
                    updated = users.mask_as(session, who, plate_id, positions, action == "mask", mask_reason)
                    verdict = updated.verdict
            except InputError as exc:
                st.error(md(exc))
            else:
                data.invalidate()
                st.session_state[FLASH] = f"{action.capitalize()}ed {', '.join(positions)} and refitted: verdict {verdict}."
                st.rerun()

st.subheader("Decision")
if not auth.allowed("decide"):
    st.info("Only a PI or an admin can approve or reject plates.")
    st.stop()
decision = st.radio("Decision", ["approve", "reject"], key="review_decision", horizontal=True)
comment = st.text_area("Comment", key="review_comment", help="Needed to reject, and to approve a plate that failed acceptance.")
if st.button("Record decision", key="review_decide"):
    try:
        with session_scope(url) as session:  # decide_as checks the role in the database right before deciding
            changed = users.decide_as(session, who, [plate_id], "approved" if decision == "approve" else "rejected", comment)
    except InputError as exc:
        st.error(md(exc))
    else:
        data.invalidate()
        st.session_state[FLASH] = (
            f"Plate {plate_id} {decision}d by {who}." if changed else f"Plate {plate_id} was already {plate['status']}; nothing changed."
        )
        st.rerun()
