"""Stored batch-correction runs, read back: a run by version, the list, per-plate shifts, staleness, a report.

Apart from labdb.correction (which runs corrections and imports qc.batch, hence scipy), so that exports, the
dashboards and `labdb batch report|list` read runs without loading the statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session, select

from labdb.core.errors import InputError
from labdb.core.models import CorrectedResult, CorrectionRun, CorrectionShift, CurveFit, Plate, Result


def latest_run(session: Session) -> CorrectionRun | None:
    """The newest run, or None before the first."""
    return session.exec(select(CorrectionRun).order_by(CorrectionRun.id.desc())).first()


def find_run(session: Session, version: int | None = None, option: str = "--version") -> CorrectionRun | None:
    """Run `version`, or the latest when None (None before the first run). An unknown version is an InputError that
    names the option it was given with and the versions there are."""
    if version is None:
        return latest_run(session)
    run = session.get(CorrectionRun, version)
    if run is None:
        known = session.exec(select(CorrectionRun.id).order_by(CorrectionRun.id)).all()
        raise InputError(
            f"{option} {version}: no such batch-correction run; "
            + (f"versions: {', '.join(map(str, known))}." if known else "none exists yet (labdb batch correct).")
        )
    return run


def get_run(session: Session, version: int | None = None) -> CorrectionRun:
    """Run `version`, or the latest; InputError when there is none."""
    run = find_run(session, version)
    if run is None:
        raise InputError("no batch-correction run yet; run `labdb batch correct --method bridge` first.")
    return run


def runs(session: Session) -> pd.DataFrame:
    """Every run, newest first."""
    rows = session.exec(select(CorrectionRun).order_by(CorrectionRun.id.desc())).all()
    return pd.DataFrame(
        [
            {
                "version": r.id,
                "method": r.method,
                "plates": r.n_plates,
                "values": r.n_values,
                "override": r.override,
                "created_by": r.created_by,
                "created_at": r.created_at,
                "check_cv_before": _check_cv(r, "before"),
                "check_cv_after": _check_cv(r, "after"),
            }
            for r in rows
        ],
        columns=["version", "method", "plates", "values", "override", "created_by", "created_at", "check_cv_before", "check_cv_after"],
    )


def _check_cv(run: CorrectionRun, when: str) -> float | None:
    return ((run.diagnostics or {}).get("check_pool") or {}).get(when, {}).get("across_plate_cv")


def shifts(session: Session, run_id: int) -> pd.DataFrame:
    """A run's per-plate shifts with plate name and read time, in run order."""
    stmt = (
        select(
            CorrectionShift.plate_id,
            Plate.name.label("plate"),
            Plate.read_time,
            CorrectionShift.kit_lot,
            CorrectionShift.shift,
            CorrectionShift.ci_low,
            CorrectionShift.ci_high,
            CorrectionShift.n,
            CorrectionShift.check_before_pg_ml,
            CorrectionShift.check_after_pg_ml,
        )
        .join(Plate, Plate.id == CorrectionShift.plate_id)
        .where(CorrectionShift.run_id == run_id)
        .order_by(Plate.read_time.asc().nulls_last(), Plate.id)
    )
    df = pd.DataFrame(
        session.execute(stmt).all(),
        columns=["plate_id", "plate", "read_time", "kit_lot", "shift", "ci_low", "ci_high", "n", "check_before_pg_ml", "check_after_pg_ml"],
    )
    df["factor"] = np.exp(df["shift"].astype(float))  # what the plate read relative to the target
    return df


def staleness(session: Session, run: CorrectionRun) -> dict[str, list[int]]:
    """Plates approved since the run (not corrected), and plates of the run that were since refitted or un-approved."""
    approved = set(session.exec(select(Plate.id).where(Plate.status == "approved")).all())
    in_run = {int(p) for p in run.plate_ids or []}
    refitted = session.exec(
        select(Result.plate_id)
        .distinct()
        .join(CorrectedResult, CorrectedResult.result_id == Result.id)
        .join(CurveFit, CurveFit.id == Result.curve_fit_id)
        .where(CorrectedResult.run_id == run.id, CurveFit.is_current.is_(False))
    ).all()
    return {
        "not_in_run": sorted(approved - in_run),
        "no_longer_approved": sorted(in_run - approved),
        "refitted": sorted(int(p) for p in refitted),
    }


def report(session: Session, version: int | None = None) -> dict[str, Any]:
    """One run as plain data: header, options, warnings, diagnostics, shift summary per lot, staleness."""
    run = get_run(session, version)
    sh = shifts(session, run.id)
    per_lot = (
        sh.groupby("kit_lot", dropna=False)["shift"].agg(plates="size", mean_shift="mean", min_shift="min", max_shift="max").reset_index()
        if len(sh)
        else pd.DataFrame()
    )
    largest = sh.reindex(sh["shift"].abs().sort_values(ascending=False).index).head(10) if len(sh) else sh
    return {
        "version": run.id,
        "method": run.method,
        "options": run.options,
        "created_by": run.created_by,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "plates": run.n_plates,
        "values": run.n_values,
        "override": run.override,
        "override_reason": run.override_reason,
        "warnings": run.warnings or [],
        "fitted": run.fitted,
        "diagnostics": run.diagnostics or {},
        "per_lot": per_lot.to_dict("records"),
        "largest_shifts": largest[["plate_id", "plate", "kit_lot", "shift", "ci_low", "ci_high", "n"]].to_dict("records"),
        "stale": staleness(session, run),
        "labdb_version": run.labdb_version,
    }
