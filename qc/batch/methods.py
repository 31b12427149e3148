"""Batch effects (docs/domain.md section 7): estimate them, correct them, prove the correction keeps the biology.

All methods work on natural-log concentration. Input: a tidy frame, one row per measured value, with columns
`value` (pg/mL), `plate`, `kit_lot`, optional `role` ('sample' or 'bridge'; default all samples), `pool` (pool name
for bridge rows, e.g. BP1, QC2) and covariates (default PROTECTED, those present are used). Every method returns
`(frame, BatchResult)`: the input plus `log_value`, `batch_shift` (what was subtracted on the log scale),
`log_corrected` and `corrected` (pg/mL), and a result with method, parameters, per-plate shift with 95% CI and
diagnostics (see `diagnose`).

Methods (`correct(df, method=...)`):
- 'bridge' `bridge_correct`: log C* = log C - (log P_plate - log P_target); P_plate = geometric mean of the bridge
  pool's wells on the plate; target = the pool's long-run geometric mean (mean of plate means) or a given value
  (e.g. its reference-lot value). Uses no sample, so it cannot absorb biology.
- 'lot' `lot_correct`: subtract the per-lot shift S fitted from the standards (`qc.batch.lot`).
- 'combat' `combat_correct`: ComBat location/scale with empirical Bayes shrinkage across plates, protected
  covariates (and non-check pools) in the design.
- 'mixed' `mixed_correct`: REML mixed model with plate and lot random intercepts and protected covariates as fixed
  effects; subtract the BLUPs u_plate + u_lot.
ComBat and the mixed model estimate the batch effect from the samples, so they first run `check_design`: a protected
covariate confounded with batch raises `ConfoundedDesign`, unless `override=True` (recorded in the result).
The check pool (default QC2) is never used to fit a correction; it is the independent proof.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from qc.batch.check import (
    MAX_CRAMERS_V,
    PROTECTED,
    check_design,
    diagnose,
)
from qc.batch.lot import LotShifts, lot_shifts_from_standards
from qc.batch.models import combat, dummies, fit_reml, independent_columns
from qc.vocab import CORRECTION_METHODS

METHODS = CORRECTION_METHODS


@dataclass(frozen=True, eq=False)
class BatchResult:
    """What a correction did. `shifts`: plate, kit_lot, shift (log, subtracted), ci_low, ci_high, n."""

    method: str
    params: dict
    shifts: pd.DataFrame
    diagnostics: dict
    override: bool = False
    warnings: tuple[str, ...] = ()
    design: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> dict:
        """Plain Python types for a JSON column."""
        return _plain(
            {
                "method": self.method,
                "params": self.params,
                "override": self.override,
                "warnings": list(self.warnings),
                "diagnostics": self.diagnostics,
                "design": None if self.design is None else self.design.to_dict("records"),
                "shifts": self.shifts.to_dict("records"),
            }
        )


def _plain(obj):
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --- preparation ---------------------------------------------------------------------------------------------------


@dataclass
class _Prep:
    out: pd.DataFrame
    y: np.ndarray
    plate: np.ndarray
    plates: pd.Index
    lot: np.ndarray
    lots: pd.Index
    is_sample: np.ndarray
    pool: np.ndarray  # pool name per row ('' for samples)
    covariates: list[str]


def _prepare(df: pd.DataFrame, covariates: Sequence[str] | None) -> _Prep:
    missing = {"value", "plate", "kit_lot"} - set(df.columns)
    if missing:
        raise ValueError(f"batch correction: missing column(s) {', '.join(sorted(missing))}; expected value (pg/mL), plate, kit_lot.")
    out = df.copy()
    v = out["value"].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(v > 0, np.log(v), np.nan)
    out["log_value"] = y
    plate, plates = pd.factorize(out["plate"])
    lot, lots = pd.factorize(out["kit_lot"])
    role = out["role"].astype(str).to_numpy() if "role" in out else np.full(len(out), "sample")
    pool = out["pool"].astype(object).where(out["pool"].notna(), "").astype(str).to_numpy() if "pool" in out else np.full(len(out), "")
    is_sample = (role == "sample") & (pool == "")
    covs = [c for c in (PROTECTED if covariates is None else covariates) if c in out.columns]
    if covariates is not None and len(covs) < len(covariates):
        absent = [c for c in covariates if c not in out.columns]
        raise ValueError(f"batch correction: protected covariate(s) {', '.join(absent)} not in the frame.")
    covs = [c for c in covs if out.loc[is_sample, c].nunique(dropna=True) > 1]
    return _Prep(out, y, plate, plates, lot, lots, is_sample, pool, covs)


def _finish(
    p: _Prep,
    shift_row: np.ndarray,
    method: str,
    params: dict,
    shifts: pd.DataFrame,
    check_pool: str | None,
    override: bool = False,
    warnings: Sequence[str] = (),
    design: pd.DataFrame | None = None,
    corrected: np.ndarray | None = None,
) -> tuple[pd.DataFrame, BatchResult]:
    out = p.out
    log_c = p.y - shift_row if corrected is None else corrected
    out["batch_shift"] = p.y - log_c
    out["log_corrected"] = log_c
    out["corrected"] = np.exp(log_c)
    diag = diagnose(out, covariates=p.covariates, check_pool=check_pool)
    warns = list(warnings)
    if check_pool and check_pool in set(params.get("fit_pools", ())) | {params.get("pool")}:
        warns.append(f"check pool {check_pool} was used to fit the correction: its CV is not independent proof.")
    return out, BatchResult(method, params, shifts, diag, override, tuple(warns), design)


def _plate_lots(p: _Prep) -> np.ndarray:
    """Each plate's (most common) kit lot name."""
    counts = np.bincount(p.plate * len(p.lots) + p.lot, minlength=len(p.plates) * len(p.lots))
    return np.asarray(p.lots)[counts.reshape(len(p.plates), len(p.lots)).argmax(1)]


def _shift_table(p: _Prep, shift: np.ndarray, se: np.ndarray, n: np.ndarray, q: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plate": np.asarray(p.plates),
            "kit_lot": _plate_lots(p),
            "shift": shift,
            "ci_low": shift - q * se,
            "ci_high": shift + q * se,
            "n": n.astype(int),
        }
    )


# --- methods -------------------------------------------------------------------------------------------------------


def bridge_correct(
    df: pd.DataFrame,
    pool: str = "BP1",
    target: float | None = None,
    *,
    check_pool: str | None = "QC2",
    covariates: Sequence[str] | None = None,
    level: float = 0.95,
) -> tuple[pd.DataFrame, BatchResult]:
    """Bridging-pool normalisation. target: the pool's value in pg/mL (e.g. assigned on the reference lot); default
    its long-run geometric mean (mean over plates of the plate's mean log). CI: pooled within-plate SD of the pool's
    wells / sqrt(wells on the plate), t quantile (the target's own uncertainty is not included).
    Plates without the pool get NaN corrected values and a warning."""
    p = _prepare(df, covariates)
    if pool == check_pool:
        raise ValueError(f"bridge pool '{pool}' is also the check pool; pass another check_pool (or None).")
    m = (p.pool == pool) & np.isfinite(p.y)
    if not m.any():
        raise ValueError(
            f"bridge correction: no finite values for pool '{pool}'; pools present: {', '.join(sorted(set(p.pool) - {''})) or 'none'}."
        )
    n_pl = len(p.plates)
    n = np.bincount(p.plate[m], minlength=n_pl).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(p.plate[m], p.y[m], n_pl) / n
    log_target = float(np.nanmean(mean)) if target is None else float(np.log(target))
    shift = mean - log_target
    resid = p.y[m] - mean[p.plate[m]]
    dof = int(m.sum() - (n > 0).sum())
    s_w = float(np.sqrt(np.sum(resid**2) / dof)) if dof > 0 else np.nan
    q = float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else np.nan
    with np.errstate(divide="ignore"):
        se = s_w / np.sqrt(n)
    warns = []
    if (n == 0).any():
        names = list(np.asarray(p.plates)[n == 0])
        warns.append(
            f"{len(names)} plate(s) without pool {pool} left uncorrected (NaN): {', '.join(map(str, names[:5]))}"
            + (" ..." if len(names) > 5 else "")
        )
    params = {
        "pool": pool,
        "target_pg_ml": float(np.exp(log_target)),
        "target_source": "long-run geometric mean" if target is None else "given",
        "within_plate_sd_log": s_w,
        "dof": dof,
    }
    return _finish(p, shift[p.plate], "bridge", params, _shift_table(p, shift, se, n, q), check_pool, warnings=warns)


def lot_correct(
    df: pd.DataFrame,
    lot_shifts: LotShifts | Mapping[str, float],
    *,
    check_pool: str | None = "QC2",
    covariates: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, BatchResult]:
    """Subtract each kit lot's shift S (natural log), from `lot_shifts_from_standards` or a {lot: S} mapping."""
    p = _prepare(df, covariates)
    fit = lot_shifts if isinstance(lot_shifts, LotShifts) else None
    S = dict(fit.shift if fit else lot_shifts)
    absent = [str(v) for v in p.lots if str(v) not in S]
    if absent:
        raise ValueError(
            f"lot correction: no shift for kit lot(s) {', '.join(absent)}; lots with a shift: "
            f"{', '.join(map(str, S))}. Fit the standards of every lot in the data."
        )
    lot_s = np.array([S[str(v)] for v in p.lots])
    plate_lot = _plate_lots(p)
    shift = np.array([S[str(v)] for v in plate_lot])
    se = np.array([fit.stderr[str(v)] for v in plate_lot]) if fit else np.zeros(len(shift))
    q = 1.959964 if fit else 0.0
    params = {"shift": S, "reference_lot": fit.reference_lot if fit else None, "standards_fit": fit.summary() if fit else None}
    n = np.bincount(p.plate, minlength=len(p.plates))
    return _finish(p, lot_s[p.lot], "lot-shift", params, _shift_table(p, shift, se, n, q), check_pool)


def _fit_rows(p: _Prep, check_pool: str | None, fit_pools: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    pools = sorted(set(p.pool) - {"", check_pool}) if fit_pools is None else [x for x in fit_pools if x != check_pool]
    rows = (p.is_sample | np.isin(p.pool, pools)) & np.isfinite(p.y)
    return rows, pools


def _design(p: _Prep, rows: np.ndarray, pools: list[str], intercept: bool) -> tuple[np.ndarray, list[str]]:
    """Covariate dummies (NaN -> reference) + one indicator per fitted pool, on `rows`; dependent columns dropped."""
    X, names = dummies(p.out.loc[rows, p.covariates], p.covariates)
    X = np.column_stack([X] + [(p.pool[rows] == q).astype(float) for q in pools])
    names = names + [f"pool[{q}]" for q in pools]
    if intercept:
        X, names = np.column_stack([np.ones(int(rows.sum())), X]), ["intercept"] + names
    keep = independent_columns(X)
    return X[:, keep], [names[i] for i in keep]


def combat_correct(
    df: pd.DataFrame,
    batch: str = "plate",
    *,
    covariates: Sequence[str] | None = None,
    check_pool: str | None = "QC2",
    fit_pools: Sequence[str] | None = None,
    scale: bool = True,
    empirical_bayes: bool = True,
    override: bool = False,
    max_v: float = MAX_CRAMERS_V,
    level: float = 0.95,
) -> tuple[pd.DataFrame, BatchResult]:
    """ComBat on one analyte with batch = 'plate' (default; absorbs the lot too) or 'kit_lot'.

    Fitted on samples and pools other than the check pool (each pool gets its own design column). Rows outside the
    fit (the check pool) are adjusted with the same gamma*/delta*, their batch-free mean taken as their own
    location-corrected mean. Plate shift = gamma* x pooled SD, CI from gamma's posterior variance."""
    if batch not in ("plate", "kit_lot"):
        raise ValueError(f"combat: batch must be 'plate' or 'kit_lot', not '{batch}'.")
    p = _prepare(df, covariates)
    rows, pools = _fit_rows(p, check_pool, fit_pools)
    table = check_design(p.out[p.is_sample], covariates=p.covariates, batches=(batch,), max_v=max_v, override=override)
    codes, n_b = (p.plate, len(p.plates)) if batch == "plate" else (p.lot, len(p.lots))
    X, names = _design(p, rows, pools, intercept=False)
    fit = combat(p.y[rows], X, codes[rows], n_b, scale=scale, empirical_bayes=empirical_bayes)
    sm = np.full(len(p.y), np.nan)
    sm[rows] = fit.stand_mean(X)
    sd = np.sqrt(fit.var_pooled)
    loc = fit.gamma_star[codes] * sd
    for name in set(p.pool[~rows & np.isfinite(p.y)]) - {""}:  # held-out pools: their own corrected mean
        k = (p.pool == name) & np.isfinite(p.y)
        sm[k] = fit.alpha + np.mean(p.y[k] - loc[k] - fit.alpha)
    n_fit = np.bincount(codes[rows], minlength=n_b)
    corr = np.where(n_fit[codes] > 0, fit.adjust(p.y, codes, sm), np.nan)
    q = float(stats.norm.ppf(0.5 + level / 2))
    shift_b, se_b = fit.gamma_star * sd, np.sqrt(fit.gamma_post_var) * sd
    if batch == "plate":
        shifts = _shift_table(p, shift_b, se_b, n_fit, q)
    else:
        pl = pd.Index(p.lots).get_indexer(_plate_lots(p))
        shifts = _shift_table(p, shift_b[pl], se_b[pl], n_fit[pl], q)
    warns = [f"{(n_fit == 0).sum()} {batch}(s) without fitted rows left uncorrected (NaN)."] if (n_fit == 0).any() else []
    params = {
        "batch": batch,
        "covariates": p.covariates,
        "fit_pools": pools,
        "design_columns": names,
        "scale": scale,
        "empirical_bayes": empirical_bayes,
        "priors": fit.priors,
        "iterations": fit.iterations,
        "var_pooled": fit.var_pooled,
        "beta": dict(zip(names, fit.beta.tolist())),
        "delta_star_range": [float(np.nanmin(fit.delta_star)), float(np.nanmax(fit.delta_star))],
    }
    return _finish(p, np.zeros(len(p.y)), "combat", params, shifts, check_pool, override, warns, table, corr)


def mixed_correct(
    df: pd.DataFrame,
    *,
    random: Sequence[str] = ("plate", "kit_lot"),
    covariates: Sequence[str] | None = None,
    check_pool: str | None = "QC2",
    fit_pools: Sequence[str] | None = None,
    override: bool = False,
    max_v: float = MAX_CRAMERS_V,
    level: float = 0.95,
) -> tuple[pd.DataFrame, BatchResult]:
    """REML mixed model log C = X beta + u_plate (+ u_lot) + e (X: intercept, protected covariates, fitted pools);
    corrected = log C - u_plate - u_lot (BLUPs). CI of the plate shift from the prediction-error variance."""
    if "plate" not in random or not set(random) <= {"plate", "kit_lot"}:
        raise ValueError(f"mixed: random must be ('plate',) or ('plate', 'kit_lot'), not {tuple(random)}.")
    p = _prepare(df, covariates)
    rows, pools = _fit_rows(p, check_pool, fit_pools)
    table = check_design(p.out[p.is_sample], covariates=p.covariates, batches=tuple(random), max_v=max_v, override=override)
    X, names = _design(p, rows, pools, intercept=True)
    with_lot = "kit_lot" in random
    plate_lot = pd.Index(p.lots).get_indexer(_plate_lots(p))
    fit = fit_reml(p.y[rows], X, p.plate[rows], len(p.plates), p.lot[rows] if with_lot else None, len(p.lots) if with_lot else 0, plate_lot)
    u_row = fit.u_plate[p.plate] + (fit.u_lot[p.lot] if with_lot else 0.0)
    shift = fit.u_plate + (fit.u_lot[plate_lot] if with_lot else 0.0)
    n = np.bincount(p.plate[rows], minlength=len(p.plates))
    shifts = _shift_table(p, shift, np.sqrt(fit.pev), n, float(stats.norm.ppf(0.5 + level / 2)))
    params = {
        "random": list(random),
        "covariates": p.covariates,
        "fit_pools": pools,
        "design_columns": names,
        "sigma2": fit.sigma2,
        "shares": fit.shares(),
        "beta": dict(zip(names, fit.beta.tolist())),
        "u_lot": dict(zip(map(str, p.lots), fit.u_lot.tolist())),
        "converged": fit.converged,
        "message": fit.message,
    }
    warns = [] if fit.converged else [f"REML did not converge: {fit.message}"]
    if with_lot and len(p.lots) < 5:
        warns.append(f"only {len(p.lots)} kit lot(s): the lot variance component is poorly determined.")
    return _finish(p, u_row, "mixed", params, shifts, check_pool, override, warns, table)


def correct(df: pd.DataFrame, method: str = "bridge", **options) -> tuple[pd.DataFrame, BatchResult]:
    """Dispatch to one method: 'bridge', 'lot-shift' (needs lot_shifts= or standards=), 'combat', 'mixed'."""
    if method == "bridge":
        return bridge_correct(df, **options)
    if method == "lot-shift":
        if "standards" in options:
            std = options.pop("standards")
            options["lot_shifts"] = lot_shifts_from_standards(std, options.pop("reference_lot", None))
        return lot_correct(df, **options)
    if method == "combat":
        return combat_correct(df, **options)
    if method == "mixed":
        return mixed_correct(df, **options)
    raise ValueError(f"unknown batch-correction method '{method}'; expected one of {', '.join(METHODS)}.")
