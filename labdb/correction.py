"""Versioned batch-correction runs: gather approved results, correct them with `qc.batch`, store the run.

A run reads the sample results of every approved plate (current fits, in-range values only: a censored value has no
number to correct), the bridge-pool wells and, for the lot shift, the standard wells; `qc.batch` does the statistics.
The run, each plate's shift with its CI and every corrected value are stored beside the raw results, never over them;
the tables are append-only. A run's id is its version. Running again with the same method, options and inputs
returns the stored version; anything new (plates approved since, a refit, another option) makes a new version.
Functions take the caller's session and never commit. Reading runs back (list, shifts, staleness, report) is
labdb.correction_runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

import labdb
from labdb.core import audit
from labdb.core.errors import InputError
from labdb.core.models import (
    CorrectedResult,
    CorrectionRun,
    CorrectionShift,
    CurveFit,
    KitLot,
    Plate,
    Result,
    Sample,
    Subject,
    Well,
)
from qc import batch
from qc.vocab import CORRECTION_METHODS

NO_LOT = "(no kit lot)"
INSERT_ROWS = 10_000


@dataclass(frozen=True)
class CorrectionOptions:
    """What the user chose: method, bridge pool, independent check pool, reference lot, ComBat batch, override."""

    method: str = "bridge"
    pool: str = "BP1"
    check_pool: str = "QC2"
    reference_lot: str | None = None
    batch: str = "plate"  # combat only: plate or kit_lot
    override_reason: str | None = None  # run a sample-based method on a confounded design anyway, with this reason

    def stored(self) -> dict[str, Any]:
        """The options that define the run (the override reason is stored on its own)."""
        out: dict[str, Any] = {"method": self.method, "check_pool": self.check_pool}
        if self.method == "bridge":
            out |= {"pool": self.pool, "reference_lot": self.reference_lot}
        elif self.method == "lot-shift":
            out |= {"reference_lot": self.reference_lot}
        elif self.method == "combat":
            out |= {"batch": self.batch, "override": self.override_reason is not None}
        else:
            out |= {"override": self.override_reason is not None}
        return out


@dataclass(frozen=True)
class CorrectionInputs:
    """Everything a run reads: sample results and pool wells (`frame`, the `qc.batch` input) and standard wells."""

    frame: pd.DataFrame  # value, plate, kit_lot, role, pool, sample_id, covariates, result_id (samples only)
    standards: pd.DataFrame  # plate, kit_lot, x, y
    plate_ids: list[int]
    result_ids: list[int]


@dataclass(frozen=True)
class CorrectionOutcome:
    run: CorrectionRun
    reused: bool  # True when an identical stored run was returned instead of a new version


def inputs(session: Session) -> CorrectionInputs:
    """Approved plates' in-range sample results with their covariates, unmasked pool wells and standard wells."""
    approved = (select(Plate.id).where(Plate.status == "approved")).subquery()
    lot = sa.func.coalesce(KitLot.lot, NO_LOT)
    stmt = (
        select(
            Result.id,
            Result.plate_id,
            lot,
            Result.conc_pg_ml,
            Result.name,
            Sample.sample_type,
            Sample.season,
            Sample.diagnosis,
            Sample.visit,
            Subject.code,
        )
        .join(approved, approved.c.id == Result.plate_id)
        .join(CurveFit, sa.and_(CurveFit.id == Result.curve_fit_id, CurveFit.is_current.is_(True)))
        .join(Plate, Plate.id == Result.plate_id)
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .join(Sample, Sample.id == Result.sample_id, isouter=True)
        .join(Subject, Subject.id == Sample.subject_id, isouter=True)
        .where(Result.role == "sample", Result.censoring == "none", Result.conc_pg_ml > 0)
        .order_by(Result.plate_id, Result.id)
    )
    samples = _frame(
        session, stmt, ["result_id", "plate", "kit_lot", "value", "sample_id", "sample_type", "season", "diagnosis", "visit", "subject"]
    )
    samples = samples.assign(role="sample", pool=None)
    w = _frame(
        session,
        select(Well.plate_id, lot, Well.role, Well.level, Well.nominal, Well.od_corrected, Well.conc_pg_ml)
        .join(approved, approved.c.id == Well.plate_id)
        .join(Plate, Plate.id == Well.plate_id)
        .join(KitLot, KitLot.id == Plate.kit_lot_id, isouter=True)
        .where(Well.role.in_(("bridge", "standard", "blank")), Well.masked.is_(False)),
        ["plate", "kit_lot", "role", "level", "nominal", "od", "conc"],
    )
    pools = w[(w["role"] == "bridge") & (w["conc"] > 0)]
    pools = pd.DataFrame(
        {
            "plate": pools["plate"],
            "kit_lot": pools["kit_lot"],
            "value": pools["conc"],
            "role": "bridge",
            "pool": pools["level"].astype(object),
        }
    )
    frame = pd.concat([samples, pools], ignore_index=True) if len(pools) else samples
    std = w[w["role"].isin(("standard", "blank")) & w["od"].notna()]
    standards = pd.DataFrame(
        {
            "plate": std["plate"],
            "kit_lot": std["kit_lot"],
            "x": np.where(std["role"] == "blank", 0.0, std["nominal"].astype(float)),
            "y": std["od"].astype(float),
        }
    ).dropna(subset=["x"])
    plate_ids = sorted({int(p) for p in frame["plate"]})
    return CorrectionInputs(frame, standards.reset_index(drop=True), plate_ids, sorted(int(r) for r in samples["result_id"]))


def _frame(session: Session, stmt, columns: list[str]) -> pd.DataFrame:
    """A query's rows as a frame, column by column (building it from row objects costs as much as the query)."""
    rows = session.connection().execute(stmt).fetchall()
    return pd.DataFrame(dict(zip(columns, zip(*rows), strict=True)) if rows else {c: [] for c in columns})


def fingerprint(options: CorrectionOptions, data: CorrectionInputs) -> str:
    """SHA-256 of the options and the exact inputs (result ids change on every refit, plates on every approval)."""
    payload = json.dumps({"options": options.stored(), "plates": data.plate_ids, "results": data.result_ids}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_correction(session: Session, options: CorrectionOptions, actor: str) -> CorrectionOutcome:
    """Correct every approved plate and store the run (a new version), or return the identical stored run."""
    if options.method not in CORRECTION_METHODS:
        raise InputError(f"--method {options.method}: unknown; use {', '.join(CORRECTION_METHODS)}.")
    data = inputs(session)
    if data.frame.empty or not data.result_ids:
        raise InputError("no approved plate has in-range sample results to correct; approve plates first (labdb plates approve).")
    digest = fingerprint(options, data)
    same = session.exec(select(CorrectionRun).where(CorrectionRun.inputs_sha256 == digest).order_by(CorrectionRun.id.desc())).first()
    if same is not None:
        return CorrectionOutcome(same, reused=True)
    out, result = _correct(data, options)
    samples = out[out["result_id"].notna()]
    values = [
        {"result_id": int(r), "shift": _num(s), "corrected_pg_ml": _num(c)}
        for r, s, c in zip(samples["result_id"], samples["batch_shift"], samples["corrected"], strict=True)
    ]
    summary = result.summary()
    run = CorrectionRun(
        method=options.method,
        options=options.stored(),
        fitted=summary["params"],
        plate_ids=data.plate_ids,
        n_plates=len(data.plate_ids),
        n_values=sum(v["corrected_pg_ml"] is not None for v in values),
        inputs_sha256=digest,
        override=bool(result.override),
        override_reason=options.override_reason,
        warnings=list(result.warnings),
        diagnostics=summary["diagnostics"],
        design=summary["design"],
        created_by=actor,
        labdb_version=labdb.__version__,
    )
    session.add(run)
    session.flush()
    for start in range(0, len(values), INSERT_ROWS):
        session.connection().execute(
            CorrectedResult.__table__.insert(), [v | {"run_id": run.id} for v in values[start : start + INSERT_ROWS]]
        )
    session.connection().execute(CorrectionShift.__table__.insert(), _shift_rows(run.id, out, result, options.check_pool))
    audit.record(
        session,
        actor,
        "batch_correct",
        "correction_run",
        run.id,
        after={"method": options.method, "plates": run.n_plates, "values": run.n_values, "override": run.override, "inputs_sha256": digest},
        detail=options.override_reason,
    )
    session.flush()
    return CorrectionOutcome(run, reused=False)


def _correct(data: CorrectionInputs, options: CorrectionOptions) -> tuple[pd.DataFrame, batch.BatchResult]:
    """Run the qc.batch method; user-fixable problems become InputError."""
    frame, lots = data.frame, set(data.frame["kit_lot"])
    if options.reference_lot is not None and options.reference_lot not in lots:
        raise InputError(
            f"--reference-lot {options.reference_lot}: no approved plate uses that kit lot; lots present: {', '.join(sorted(lots))}."
        )
    check = options.check_pool or None
    try:
        if options.method == "bridge":
            return batch.bridge_correct(frame, options.pool, _bridge_target(frame, options), check_pool=check)
        if options.method == "lot-shift":
            if NO_LOT in lots:
                raise InputError("lot-shift correction needs a kit lot on every plate; some approved plates have none.")
            shifts = batch.lot_shifts_from_standards(data.standards, options.reference_lot)
            return batch.lot_correct(frame, shifts, check_pool=check)
        override = options.override_reason is not None
        if options.method == "combat":
            return batch.combat_correct(frame, options.batch, check_pool=check, override=override)
        return batch.mixed_correct(frame, check_pool=check, override=override)
    except batch.ConfoundedDesign as exc:
        raise InputError(str(exc).replace("pass override=True", "pass --override 'REASON'")) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _bridge_target(frame: pd.DataFrame, options: CorrectionOptions) -> float | None:
    """The bridge pool's reference-lot value (geometric mean of its plate means on that lot), or None (long run)."""
    if options.reference_lot is None:
        return None
    k = (frame["pool"] == options.pool).fillna(False).astype(bool) & (frame["kit_lot"] == options.reference_lot)
    if not k.any():
        raise InputError(
            f"--reference-lot {options.reference_lot}: no approved plate of that lot has bridge pool "
            f"{options.pool}, so its reference value is unknown."
        )
    plate_means = np.log(frame.loc[k, "value"].astype(float)).groupby(frame.loc[k, "plate"]).mean()
    return float(np.exp(plate_means.mean()))


def _shift_rows(run_id: int, out: pd.DataFrame, result: batch.BatchResult, check_pool: str | None) -> list[dict]:
    check = pd.DataFrame(index=pd.Index([], dtype=object))
    if check_pool:
        k = (out["pool"] == check_pool).fillna(False).astype(bool)
        g = out[k].groupby("plate")
        check = pd.DataFrame({"before": np.exp(g["log_value"].mean()), "after": np.exp(g["log_corrected"].mean())})
    rows = []
    for s in result.shifts.itertuples(index=False):
        before = check["before"].get(s.plate) if len(check) else None
        after = check["after"].get(s.plate) if len(check) else None
        rows.append(
            {
                "run_id": run_id,
                "plate_id": int(s.plate),
                "kit_lot": None if s.kit_lot == NO_LOT else str(s.kit_lot),
                "shift": _num(s.shift),
                "ci_low": _num(s.ci_low),
                "ci_high": _num(s.ci_high),
                "n": int(s.n),
                "check_before_pg_ml": _num(before),
                "check_after_pg_ml": _num(after),
            }
        )
    return rows


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


# --- reading runs back ---------------------------------------------------------------------------------------------
