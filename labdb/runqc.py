"""Quality across plates: per-plate QC metrics, guide sets per kit lot, stored Westgard violations.

Violations are derived data: ``reevaluate`` deletes and recomputes them (and the open automatic guide sets)
from the current fits, results and wells. Call it after anything that changes which plates count or their
values: approve/reject (labdb.review.decide does), a refit (labdb.masking.set_masks), ingest (labdb.ingest.rejudge).
Functions take the caller's session and never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session, delete, select

from labdb.core.models import (
    CurveFit,
    KitLot,
    Plate,
    QcGuideSet,
    QcViolation,
    Result,
    Well,
)
from qc.westgard import GuideSet, evaluate_rules, summary

GUIDE_SET_N = 20  # the first N approved plates of a kit lot make its automatic guide set (docs/domain.md section 6)
JUDGED_STATUSES = ("approved", "evaluated")  # evaluated plates are judged too, so a new run is checked before approval
METRICS = ("control_conc", "bridge_conc", "blank_od", "top_standard_od", "curve_c", "curve_b", "lloq", "uloq")
KEY = ["metric", "kit_lot_id", "level"]
COLUMNS = ["plate_id", "plate", "kit_lot_id", "lot", "status", "run_order", "metric", "level", "value"]


def metric_values(session: Session) -> pd.DataFrame:
    """One row per plate, metric and level (control level / pool name; '' where none) of approved and
    evaluated plates with a kit lot, from their current fit, in run (read time) order."""
    rows = session.exec(
        select(Plate, KitLot.lot).join(KitLot, KitLot.id == Plate.kit_lot_id).where(Plate.status.in_(JUDGED_STATUSES))
    ).all()
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    plates = {p.id: (p, lot) for p, lot in rows}
    ids = list(plates)
    records: list[dict[str, Any]] = []

    def add(pid: int, metric: str, level: str, value: Any) -> None:
        if value is not None and np.isfinite(float(value)):
            records.append({"plate_id": pid, "metric": metric, "level": level, "value": float(value)})

    fits = session.exec(select(CurveFit).where(CurveFit.plate_id.in_(ids), CurveFit.is_current)).all()
    for fit in fits:
        params = fit.params or {}
        add(fit.plate_id, "curve_c", "", params.get("c"))
        add(fit.plate_id, "curve_b", "", params.get("b"))
        add(fit.plate_id, "lloq", "", fit.lloq_pg_ml)
        add(fit.plate_id, "uloq", "", fit.uloq_pg_ml)
    results = session.exec(
        select(Result).where(Result.curve_fit_id.in_([f.id for f in fits]), Result.role.in_(("control", "bridge")))
    ).all()
    for r in results:
        add(r.plate_id, "control_conc" if r.role == "control" else "bridge_conc", r.name, r.conc_pg_ml)
    wells = session.exec(
        select(Well.plate_id, Well.role, Well.nominal, Well.od_corrected).where(
            Well.plate_id.in_(ids), Well.role.in_(("blank", "standard")), Well.masked.is_(False)
        )
    ).all()
    w = pd.DataFrame(wells, columns=["plate_id", "role", "nominal", "od"]).dropna(subset=["od"])
    for pid, od in w[w["role"] == "blank"].groupby("plate_id")["od"].mean().items():
        add(int(pid), "blank_od", "", od)
    std = w[w["role"] == "standard"]
    top = std[std["nominal"] == std.groupby("plate_id")["nominal"].transform("max")]
    for pid, od in top.groupby("plate_id")["od"].mean().items():
        add(int(pid), "top_standard_od", "", od)
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(records)
    meta = pd.DataFrame(
        [
            {"plate_id": pid, "plate": p.name, "kit_lot_id": p.kit_lot_id, "lot": lot, "status": p.status, "run_order": run_order(p)}
            for pid, (p, lot) in plates.items()
        ]
    )
    df = df.merge(meta, on="plate_id")
    df["run_order"] = pd.to_datetime(df["run_order"])
    return df.sort_values(["run_order", "plate_id", "metric", "level"], kind="stable", ignore_index=True)[COLUMNS]


def run_order(plate: Plate) -> datetime:
    """A plate's place in the run sequence: its read time, or (a file without one) when it was ingested."""
    return plate.read_time or plate.ingested_at.replace(tzinfo=None)


def _key(gs: QcGuideSet) -> tuple[str, int, str]:
    return gs.metric, gs.kit_lot_id, gs.level or ""


def reevaluate(session: Session, n: int | None = None, actor: str = "labdb") -> pd.DataFrame:
    """Recompute open automatic guide sets and replace every stored violation; returns the guide-set status
    per metric, kit lot and level (``state`` 'judging', 'building' (fewer than n approved plates) or 'no_sd'
    (n plates, all the same value), with how many approved plates the guide set has)."""
    n = n or GUIDE_SET_N
    df = metric_values(session)
    session.exec(delete(QcViolation))
    session.exec(delete(QcGuideSet).where(QcGuideSet.source == "first_n", QcGuideSet.closed_at.is_(None)))
    session.flush()
    kept: dict[tuple, list[QcGuideSet]] = {}
    for gs in session.exec(select(QcGuideSet).order_by(QcGuideSet.id)).all():
        kept.setdefault(_key(gs), []).append(gs)
    df["z"] = np.nan
    status: list[dict[str, Any]] = []
    for key, g in df.groupby(KEY, sort=True):
        sets = kept.get(key, [])
        closed = sorted((s for s in sets if s.closed_at is not None and s.applies_until is not None), key=lambda s: s.applies_until)
        start = None
        for gs in closed:
            seg = g.index[(g["run_order"] <= gs.applies_until) & ((g["run_order"] > start) if start is not None else True)]
            df.loc[seg, "z"] = GuideSet(gs.mean, gs.sd, gs.n).z(df.loc[seg, "value"])
            start = gs.applies_until
        rest = g[(g["run_order"] > start)] if start is not None else g
        active = next((s for s in sets if s.closed_at is None), None)
        approved = rest[rest["status"] == "approved"]
        if active is None:
            head = approved.iloc[:n]
            sd = float(head["value"].std(ddof=1)) if len(head) > 1 else float("nan")
            if len(head) < n or not sd > 0:  # 'no_sd': n plates but all equal (e.g. a fixed LLOQ): nothing to judge
                state = "building" if len(head) < n else "no_sd"
                status.append({"metric": key[0], "kit_lot_id": key[1], "level": key[2], "state": state, "n": len(head), "needed": n})
                continue
            active = QcGuideSet(
                metric=key[0],
                kit_lot_id=int(key[1]),
                level=key[2] or None,
                mean=float(head["value"].mean()),
                sd=sd,
                n=len(head),
                source="first_n",
                plate_ids=[int(i) for i in head["plate_id"]],
                created_by=actor,
            )
            session.add(active)
        df.loc[rest.index, "z"] = GuideSet(active.mean, active.sd, active.n).z(rest["value"])
        status.append({"metric": key[0], "kit_lot_id": key[1], "level": key[2], "state": "judging", "n": active.n, "needed": n})
    for (metric, lot_id), family in df.groupby(["metric", "kit_lot_id"], sort=True):
        for v in evaluate_rules(family, None, metric).itertuples(index=False):
            session.add(
                QcViolation(
                    rule=v.rule,
                    severity=v.severity,
                    metric=metric,
                    kit_lot_id=int(lot_id),
                    level=v.level or None,
                    plate_id=int(v.plate_id),
                    plate_ids=[int(i) for i in v.plate_ids],
                    values=list(v.values),
                    z=list(v.z),
                )
            )
    session.flush()
    return pd.DataFrame(status, columns=["metric", "kit_lot_id", "level", "state", "n", "needed"])


def rejecting_violations(session: Session, plate_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Stored reject-severity violations completed by each of these plates (as plain dicts for the audit trail)."""
    found: dict[int, list[dict[str, Any]]] = {}
    rows = session.exec(
        select(QcViolation).where(QcViolation.plate_id.in_(plate_ids), QcViolation.severity == "reject").order_by(QcViolation.id)
    ).all()
    for v in rows:
        found.setdefault(v.plate_id, []).append(
            {"rule": v.rule, "metric": v.metric, "level": v.level, "plate_ids": v.plate_ids, "values": v.values}
        )
    return found


def close_and_rejudge(session: Session, lot: str, by: str) -> int:
    """Close a kit lot's open guide sets (`close_guide_sets`), record it in the audit trail and re-run the Westgard
    rules over every judged run; returns how many guide sets were closed."""
    from labdb.core import audit

    closed = close_guide_sets(session, lot, by)
    audit.record(session, by, "guide_set.close", "kit_lot", lot, after={"closed": closed})
    reevaluate(session)
    return closed


def close_guide_sets(session: Session, lot: str, by: str, when: datetime | None = None) -> int:
    """Close the open guide sets of a kit lot: they keep judging the plates up to the lot's newest plate in run
    order (or ``when``); the next automatic guide set is built from the approved plates run after that."""
    kit = session.exec(select(KitLot).where(KitLot.lot == lot)).first()
    if kit is None:
        from labdb.core.errors import InputError

        raise InputError(f"no kit lot '{lot}'; see `labdb plates list`.")
    if when is None:
        when = max((run_order(p) for p in session.exec(select(Plate).where(Plate.kit_lot_id == kit.id)).all()), default=None)
    from labdb.core.models import utcnow

    open_sets = session.exec(select(QcGuideSet).where(QcGuideSet.kit_lot_id == kit.id, QcGuideSet.closed_at.is_(None))).all()
    for gs in open_sets:
        gs.closed_at, gs.closed_by, gs.applies_until = utcnow(), by, when
        session.add(gs)
    session.flush()
    return len(open_sets)


def report(session: Session, lot: str | None = None, since: datetime | None = None, n: int | None = None) -> dict[str, Any]:
    """Re-evaluate, then the violations and each metric's n, mean, SD and CV per kit lot (and level) of the
    approved plates, optionally only one lot and plates read on or after ``since``; plain types for JSON."""
    guides = reevaluate(session, n)
    df = metric_values(session)
    lots = dict(session.exec(select(KitLot.id, KitLot.lot)).all())
    names = dict(session.exec(select(Plate.id, Plate.name)).all())
    times = dict(session.exec(select(Plate.id, Plate.read_time)).all())
    violations = []
    for v in session.exec(select(QcViolation).order_by(QcViolation.id)).all():
        when = times.get(v.plate_id)
        if (lot and lots.get(v.kit_lot_id) != lot) or (since and when is not None and when < since):
            continue
        violations.append(
            {
                "plate_id": v.plate_id,
                "plate": names.get(v.plate_id),
                "read_time": when.isoformat() if when else None,
                "lot": lots.get(v.kit_lot_id),
                "rule": v.rule,
                "severity": v.severity,
                "metric": v.metric,
                "level": v.level or "",
                "plate_ids": v.plate_ids,
                "values": v.values,
            }
        )
    violations.sort(key=lambda r: (r["read_time"] or "", r["plate_id"], r["metric"], r["rule"]))
    df = df[df["status"] == "approved"]
    if lot:
        df = df[df["lot"] == lot]
    if since:
        df = df[df["run_order"] >= pd.Timestamp(since)]
    stats = (
        summary(df, ["lot", "metric", "level"])
        if len(df)
        else pd.DataFrame(columns=["lot", "metric", "level", "n", "mean", "sd", "cv_pct"])
    )
    guides["lot"] = guides["kit_lot_id"].map(lots)
    if lot:
        guides = guides[guides["lot"] == lot]
    return {
        "violations": violations,
        "metrics": [
            {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
            for r in stats.astype(object).to_dict("records")
        ],
        "guide_sets": guides.drop(columns="kit_lot_id").astype(object).to_dict("records"),
    }


def enter_guide_set(session: Session, lot: str, metric: str, level: str | None, mean: float, sd: float, n: int, by: str) -> QcGuideSet:
    """A PI's own targets for one metric (and level) of a kit lot; the open guide set they replace is closed."""
    from labdb.core import audit
    from labdb.core.errors import InputError
    from labdb.core.models import utcnow

    kit = session.exec(select(KitLot).where(KitLot.lot == lot)).first()
    if kit is None:
        raise InputError(f"no kit lot '{lot}'; see `labdb plates list`.")
    if metric not in METRICS:
        raise InputError(f"unknown metric '{metric}'; use one of {', '.join(METRICS)}.")
    if not (sd > 0 and n >= 2 and mean == mean):
        raise InputError("a guide set needs a mean, an SD > 0 and n >= 2.")
    if not by.strip():
        raise InputError("say who enters the guide set with --by NAME.")
    level = level or None
    latest = max((run_order(p) for p in session.exec(select(Plate).where(Plate.kit_lot_id == kit.id)).all()), default=None)
    for gs in session.exec(
        select(QcGuideSet).where(
            QcGuideSet.kit_lot_id == kit.id,
            QcGuideSet.metric == metric,
            QcGuideSet.level == level if level else QcGuideSet.level.is_(None),
            QcGuideSet.closed_at.is_(None),
        )
    ).all():
        gs.closed_at, gs.closed_by, gs.applies_until = utcnow(), by, latest
        session.add(gs)
    entered = QcGuideSet(
        metric=metric, kit_lot_id=kit.id, level=level, mean=float(mean), sd=float(sd), n=int(n), source="entered", created_by=by
    )
    session.add(entered)
    session.flush()
    audit.record(
        session,
        by,
        "guide_set.enter",
        "guide_set",
        entered.id,
        after={"lot": lot, "metric": metric, "level": level, "mean": mean, "sd": sd, "n": n},
    )
    return entered
