"""Storing a plate evaluation: the curve fit, the results and the wells' derived values (raw values untouched).

Used by ingest (first evaluation) and by refits after a mask changes; a refit adds a new current fit and
new results and keeps the old ones, so every earlier number stays traceable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sqlmodel import Session, select, update

from labdb.core.models import CurveFit, Plate, Result, Sample, Well
from qc.acceptance import PlateEvaluation
from qc.curves import ENGINE_VERSION
from qc.layout import read_flags

AUTO_MASKER = "auto (qc.acceptance)"


def number(value) -> float | None:
    """A finite float or None (NaN, inf, None, text all become None)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def records(df: pd.DataFrame) -> list[dict]:
    """A DataFrame as JSON-ready records (NaN -> None, numpy scalars -> Python)."""
    out = []
    for record in df.to_dict("records"):
        clean = {}
        for k, v in record.items():
            if isinstance(v, np.generic):
                v = v.item()
            if v is pd.NA or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
                v = None
            if isinstance(v, tuple):
                v = list(v)
            clean[str(k)] = v
        out.append(clean)
    return out


def sample_ids(session: Session, codes: list[str]) -> dict[str, int]:
    """Sample code -> sample.id for the codes already in a manifest."""
    if not codes:
        return {}
    return dict(session.exec(select(Sample.code, Sample.id).where(Sample.code.in_(codes))).all())


def store_evaluation(session: Session, plate: Plate, wells: list[Well], evaluation: PlateEvaluation) -> CurveFit:
    """Add the fit and results of `evaluation` as the plate's current ones and update the wells' derived values."""
    session.exec(update(CurveFit).where(CurveFit.plate_id == plate.id).values(is_current=False))
    fit = evaluation.fit
    summary = fit.summary()
    curve = CurveFit(
        plate_id=plate.id,
        is_current=True,
        model=fit.model,
        weighting=fit.weighting,
        params=summary.get("params"),
        stderr=summary.get("stderr"),
        converged=bool(fit.converged),
        message=fit.message,
        n_points=int(fit.ndata),
        df=int(fit.nfree),
        sse=number(fit.sse),
        r2=number(fit.r2),
        aic=number(fit.aic),
        lloq_pg_ml=number(evaluation.lloq),
        uloq_pg_ml=number(evaluation.uloq),
        standards=records(evaluation.standards),
        engine_version=ENGINE_VERSION,
    )
    session.add(curve)
    session.flush()
    evaluated = evaluation.wells.set_index("well")
    for well in wells:
        e = evaluated.loc[well.position]
        base = read_flags(well.raw_flags, plate.measure_nm, plate.reference_nm)
        derived = [f for f in (e.get("flags") or []) if f not in base]
        well.flags = (base + derived) or None
        well.conc_pg_ml = number(e.get("conc_diluted"))
        reason = e.get("mask_reason") if "mask_reason" in evaluated.columns else None
        if bool(e.get("masked")) and not well.masked and isinstance(reason, str):
            well.masked, well.mask_reason, well.masked_by = True, reason, AUTO_MASKER
        session.add(well)
    ids = sample_ids(session, [w.sample_code for w in wells if w.sample_code])
    for r in evaluation.results.to_dict("records"):
        code = None if r["role"] != "sample" or pd.isna(r.get("sample_id")) else str(r["sample_id"])
        session.add(
            Result(
                plate_id=plate.id,
                curve_fit_id=curve.id,
                role=r["role"],
                name=str(r["name"]),
                sample_id=ids.get(code) if code else None,
                dilution=float(r["dilution"]),
                n_replicates=int(r["n_replicates"]),
                mean_od=number(r.get("mean_od")),
                sd_od=number(r.get("sd_od")),
                cv_pct=number(r.get("cv_pct")),
                conc_pg_ml=number(r.get("conc")),
                censoring=str(r.get("censoring") or "none"),
                lloq_pg_ml=number(r.get("lloq")),
                uloq_pg_ml=number(r.get("uloq")),
                nominal_pg_ml=number(r.get("nominal")),
                recovery_pct=number(r.get("recovery_pct")),
                flags=list(r.get("flags") or []) or None,
            )
        )
    plate.verdict = evaluation.verdict
    reasons = list(evaluation.reasons)
    if plate.reference_nm is None:
        reasons.append("No reference wavelength was subtracted (the file has no reference read).")
    plate.verdict_reasons = reasons
    session.add(plate)
    session.flush()
    return curve
