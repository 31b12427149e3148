"""Plate review: a PI approves or rejects evaluated plates; every decision lands in the audit trail."""

from __future__ import annotations

from sqlmodel import Session, select

from labdb import runqc
from labdb.core import audit
from labdb.core.errors import InputError
from labdb.core.models import Plate, utcnow


def _plates(session: Session, ids: list[int]) -> list[Plate]:
    plates = session.exec(select(Plate).where(Plate.id.in_(ids))).all()
    missing = sorted(set(ids) - {p.id for p in plates})
    if missing:
        raise InputError(f"no plate with id {', '.join(map(str, missing))}; see `labdb plates list`.")
    return sorted(plates, key=lambda p: p.id)


def passing_plate_ids(session: Session) -> list[int]:
    """Evaluated plates whose verdict is pass, waiting for approval."""
    return list(session.exec(select(Plate.id).where(Plate.status == "evaluated", Plate.verdict == "pass").order_by(Plate.id)).all())


def decide(session: Session, ids: list[int], decision: str, by: str, reason: str | None) -> list[Plate]:
    """Approve or reject plates. Approving a failed plate needs a reason; rejecting always does. Approving a plate
    that completes a rejecting Westgard violation needs a PI's written override (the reason), which the audit
    event records with the violations. Westgard violations are re-evaluated before and after the decision."""
    if decision not in ("approved", "rejected"):
        raise ValueError(decision)
    if not by.strip():
        raise InputError("say who decides with --by NAME.")
    if decision == "rejected" and not (reason or "").strip():
        raise InputError("rejecting a plate needs a reason (--reason TEXT).")
    plates = _plates(session, ids)
    for plate in plates:
        if decision == "approved" and plate.verdict != "pass" and not (reason or "").strip():
            raise InputError(f"plate {plate.id} ({plate.name}) failed acceptance; approving it needs a written reason (--reason TEXT).")
    overrides: dict[int, list[dict]] = {}
    if decision == "approved":
        runqc.reevaluate(session)
        overrides = runqc.rejecting_violations(session, [p.id for p in plates if p.status != "approved"])
        for plate in plates:
            if overrides.get(plate.id) and not (reason or "").strip():
                rules = ", ".join(
                    sorted({f"{v['rule']} on {v['metric']}" + (f" {v['level']}" if v["level"] else "") for v in overrides[plate.id]})
                )
                raise InputError(
                    f"plate {plate.id} ({plate.name}) breaks Westgard rules ({rules}); approving it needs a PI's written "
                    "override (--reason TEXT). See `labdb qc report`."
                )
    changed = []
    for plate in plates:
        if plate.status == decision:
            continue
        before = {"status": plate.status, "reviewed_by": plate.reviewed_by, "review_comment": plate.review_comment}
        plate.status = decision
        plate.reviewed_by = by
        plate.reviewed_at = utcnow()
        plate.review_comment = reason
        session.add(plate)
        after = {"status": decision, "reviewed_by": by, "review_comment": reason}
        detail = f"{plate.name} (verdict {plate.verdict})"
        if overrides.get(plate.id):
            after["westgard_override"] = overrides[plate.id]
            detail += f"; Westgard override: {reason}"
        audit.record(
            session,
            by,
            "plate.approve" if decision == "approved" else "plate.reject",
            "plate",
            plate.id,
            before=before,
            after=after,
            detail=detail,
        )
        changed.append(plate)
    session.flush()
    if changed:
        runqc.reevaluate(session)
    return changed
