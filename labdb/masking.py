"""Masking wells by hand (with a reason) and refitting the plate; raw values are never touched."""

from __future__ import annotations

import pandas as pd
from sqlmodel import Session, select

from labdb.core import audit
from labdb.core.errors import InputError
from labdb.core.models import Plate, Well, utcnow
from labdb.fits import store_evaluation
from labdb.runqc import reevaluate
from qc.acceptance import PlateEvaluation, QcPolicy, evaluate_plate


def plate_wells_frame(wells: list[Well]) -> pd.DataFrame:
    """Stored wells as the input of `evaluate_plate`."""
    return pd.DataFrame(
        {
            "well": [w.position for w in wells],
            "role": [w.role for w in wells],
            "level": [w.level for w in wells],
            "nominal": [w.nominal for w in wells],
            "dilution": [w.dilution for w in wells],
            "sample_id": [w.sample_code for w in wells],
            "od": [w.od_corrected for w in wells],
            "masked": [w.masked for w in wells],
        }
    ).astype({"nominal": float, "dilution": float, "od": float})


def refit(session: Session, plate: Plate) -> PlateEvaluation:
    """Evaluate the plate again from its stored wells and masks; the new fit becomes current."""
    wells = list(session.exec(select(Well).where(Well.plate_id == plate.id).order_by(Well.id)).all())
    policy = QcPolicy.from_dict(plate.qc_policy or {})
    evaluation = evaluate_plate(plate_wells_frame(wells), policy)
    store_evaluation(session, plate, wells, evaluation)
    return evaluation


def set_masks(session: Session, plate_id: int, positions: list[str], masked: bool, by: str, reason: str) -> Plate:
    """Mask (or unmask) wells with a reason, refit, and send an approved plate back for review."""
    if not by.strip():
        raise InputError("say who masks with --by NAME.")
    if not reason.strip():
        raise InputError("masking or unmasking a well needs a reason (--reason TEXT).")
    plate = session.get(Plate, plate_id)
    if plate is None:
        raise InputError(f"no plate with id {plate_id}; see `labdb plates list`.")
    if plate.status == "rejected":
        raise InputError(f"plate {plate_id} ({plate.name}) is rejected; its wells are no longer edited.")
    wanted = [p.strip().upper() for p in positions]
    wells = {w.position: w for w in session.exec(select(Well).where(Well.plate_id == plate_id, Well.position.in_(wanted))).all()}
    unknown = [p for p in wanted if p not in wells]
    if unknown:
        raise InputError(f"plate {plate_id} has no well {', '.join(unknown)} (a {plate.n_wells}-well plate).")
    before_verdict = plate.verdict
    for position in wanted:
        well = wells[position]
        before = {"masked": well.masked, "mask_reason": well.mask_reason, "masked_by": well.masked_by}
        well.masked = masked
        well.mask_reason = reason if masked else None
        well.masked_by = by if masked else None
        well.masked_at = utcnow() if masked else None
        session.add(well)
        audit.record(
            session,
            by,
            "well.mask" if masked else "well.unmask",
            "well",
            f"{plate_id}:{position}",
            before=before,
            after={"masked": masked, "mask_reason": well.mask_reason, "masked_by": well.masked_by},
            detail=reason,
        )
    session.flush()
    evaluation = refit(session, plate)
    status_before = plate.status
    if plate.status == "approved":
        plate.status = "evaluated"  # a changed curve needs a new review
        session.add(plate)
    audit.record(
        session,
        by,
        "plate.refit",
        "plate",
        plate_id,
        before={"verdict": before_verdict, "status": status_before},
        after={"verdict": evaluation.verdict, "status": plate.status},
        detail=reason,
    )
    session.flush()
    reevaluate(session)  # a refit changes the plate's metrics, so the Westgard rules run again
    return plate
