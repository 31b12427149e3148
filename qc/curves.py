"""Standard-curve fitting: weighted least squares of a `qc.models` model, returned as an immutable `FitResult`.

The pipeline is split so a batched fitter can reuse the pieces: `prepare_data` (clean, check, weight),
an optimiser (here `_solve`, one curve at a time), and `build_fit` (statistics and the result object).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from qc.models import MODELS, CurveModel, get_model

ENGINE_VERSION = "qc.curves 0.1.0"
AUTO = "auto"  # model choice: 4PL or 5PL by AIC, see select_model
WEIGHTINGS = ("none", "1/y", "1/y2", "1/var")
_WEIGHTING_ALIASES = {"1/y^2": "1/y2", "1/y**2": "1/y2", "1/variance": "1/var", "": "none", "unweighted": "none"}
AIC_MARGIN = 2.0  # 5PL must beat 4PL by this much AIC, beyond the +2 AIC already charges for its extra parameter
MIN_LEVELS_5PL = 6  # docs/domain.md section 4
MONOTONE_TOLERANCE = 0.15  # share of the response range that may run against the overall trend

Array = NDArray[np.float64]


def normalize_weighting(weighting: str) -> str:
    """Canonical weighting name; ValueError naming the choices for anything else."""
    key = str(weighting).strip().lower().replace(" ", "")
    key = _WEIGHTING_ALIASES.get(key, key)
    if key not in WEIGHTINGS:
        raise ValueError(f"unknown weighting '{weighting}'; expected one of {', '.join(WEIGHTINGS)}.")
    return key


def _clean(value: float) -> float | None:
    """Plain float for JSON; NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, eq=False)
class FitResult:
    """Result of one curve fit; `model` names an entry of `qc.models.MODELS`. A failed fit is data, not an error."""

    model: str
    weighting: str
    params: dict[str, float]
    stderr: dict[str, float | None]
    covar: np.ndarray | None
    converged: bool
    message: str
    ndata: int
    nfree: int
    sse: float
    r2: float
    aic: float

    @property
    def curve_model(self) -> CurveModel:
        return MODELS[self.model]

    def _param_list(self) -> list[float]:
        return [self.params[name] for name in self.curve_model.param_names]

    def predict(self, x: ArrayLike) -> float | Array:
        """Response at concentration(s) x (float for a scalar, array otherwise)."""
        out = self.curve_model.evaluate(x, self._param_list())
        return float(out) if np.ndim(out) == 0 else out

    def inverse(self, y: ArrayLike) -> float | Array:
        """Concentration at response(s) y; NaN outside the open interval between the asymptotes or if not converged."""
        y_arr = np.asarray(y, dtype=float)
        if self.converged:
            out = self.curve_model.inverse(y_arr, self._param_list())
        else:
            out = np.full(y_arr.shape, np.nan)
        return float(out) if np.ndim(out) == 0 else out

    def summary(self) -> dict:
        """Plain-Python dict (JSON-ready, NaN -> None) for a database JSON column."""
        return {
            "engine_version": ENGINE_VERSION,
            "model": self.model,
            "weighting": self.weighting,
            "params": {k: _clean(v) for k, v in self.params.items()},
            "stderr": {k: None if v is None else _clean(v) for k, v in self.stderr.items()},
            "covar": None if self.covar is None else [[_clean(v) for v in row] for row in self.covar],
            "converged": bool(self.converged),
            "message": self.message,
            "ndata": int(self.ndata),
            "nfree": int(self.nfree),
            "sse": _clean(self.sse),
            "r2": _clean(self.r2),
            "aic": _clean(self.aic),
        }


@dataclass(frozen=True)
class CurveData:
    """Finite (x, y) pairs ready to fit, with their least-squares weights."""

    x: Array
    y: Array
    w: Array


def failed_fit(model: CurveModel, weighting: str, message: str, ndata: int = 0) -> FitResult:
    """A non-converged FitResult with NaN parameters and the reason in `message`."""
    nan = float("nan")
    return FitResult(
        model=model.name,
        weighting=weighting,
        params={p: nan for p in model.param_names},
        stderr={p: None for p in model.param_names},
        covar=None,
        converged=False,
        message=message,
        ndata=ndata,
        nfree=max(ndata - model.nparams, 0),
        sse=nan,
        r2=nan,
        aic=nan,
    )


def prepare_data(model: CurveModel, x: ArrayLike, y: ArrayLike, weighting: str) -> CurveData | str:
    """Drop NaN pairs, refuse degenerate data and compute weights; a str return is the human reason."""
    x_arr = np.asarray(x, dtype=float)
    y_arr = np.asarray(y, dtype=float)
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y must have the same shape; got {x_arr.shape} and {y_arr.shape}.")
    x_arr, y_arr = x_arr.ravel(), y_arr.ravel()
    keep = np.isfinite(x_arr) & np.isfinite(y_arr)
    x_arr, y_arr = x_arr[keep], y_arr[keep]
    if x_arr.size == 0:
        return "no usable points: every x or y is missing (NaN)."
    if np.any(x_arr < 0):
        return f"negative concentration(s) in the standards (e.g. {float(x_arr[x_arr < 0][0]):g}); check the nominal values."
    levels, index = np.unique(x_arr, return_inverse=True)
    if levels.size < model.min_levels:
        return f"only {levels.size} distinct concentration level(s); the {model.name.upper()} model needs at least {model.min_levels}."
    means = np.bincount(index, weights=y_arr) / np.bincount(index)
    span = float(np.ptp(means))
    if span <= 1e-9 * max(float(np.max(np.abs(means))), 1e-12):
        return f"the response is flat (every level reads {float(means[0]):.4g}); nothing to fit."
    problem = _monotone_problem(levels, means)
    if problem:
        return problem
    w = _weights(weighting, levels, index, y_arr, means)
    if isinstance(w, str):
        return w
    return CurveData(x=x_arr, y=y_arr, w=w)


def _monotone_problem(levels: Array, means: Array) -> str | None:
    """A sentence if the level means run against their overall trend by more than MONOTONE_TOLERANCE."""
    steps = np.diff(means)
    up, down = float(steps[steps > 0].sum()), float(-steps[steps < 0].sum())
    against = min(up, down)
    if against <= MONOTONE_TOLERANCE * max(up, down):
        return None
    worst = int(np.argmin(steps)) if up >= down else int(np.argmax(steps))
    return (
        f"the standards are not monotone: mean response goes from {means[worst]:.4g} at x={levels[worst]:g} "
        f"to {means[worst + 1]:.4g} at x={levels[worst + 1]:g}, against the overall trend."
    )


def _weights(weighting: str, levels: Array, index: NDArray[np.intp], y: Array, means: Array) -> Array | str:
    """Per-point weights; 1/y and 1/y2 use the mean response of the point's level, 1/var its replicate variance."""
    if weighting == "none":
        return np.ones_like(y)
    if weighting in ("1/y", "1/y2"):
        bad = means <= 0
        if bad.any():
            return (
                f"{weighting} weighting needs positive responses, but {int(bad.sum())} level(s) have mean "
                f"y <= 0 (e.g. {means[bad][0]:.4g} at x={levels[bad][0]:g}); use another weighting or blank handling."
            )
        return 1.0 / means[index] ** (1 if weighting == "1/y" else 2)
    counts = np.bincount(index)
    if np.any(counts < 2):
        first = levels[counts < 2][0]
        return f"1/var weighting needs replicates at every level, but x={first:g} has a single point."
    var = np.bincount(index, weights=(y - means[index]) ** 2) / (counts - 1)
    if np.any(var <= 0):
        first = levels[var <= 0][0]
        return f"1/var weighting needs replicate variance > 0, but the replicates at x={first:g} are identical."
    return 1.0 / var[index]


def predict_params(model: str, params: Mapping[str, float | None], x: ArrayLike) -> Array:
    """Response at x from a stored model name and parameters (e.g. `summary()` read back); None -> NaN."""
    curve_model = get_model(model)
    values = [float("nan") if params.get(p) is None else float(params[p]) for p in curve_model.param_names]
    return np.asarray(curve_model.evaluate(x, values), dtype=float)


def fit_curve(x: ArrayLike, y: ArrayLike, model: str = "4pl", weighting: str = "1/y2") -> FitResult:
    """Fit a standard curve (x = concentration, y = response); degenerate data give converged=False, never an error.

    model: '4pl', '5pl' or 'auto' (the better of the two by `select_model`'s rule).
    """
    if str(model).strip().lower() == AUTO:
        return select_model(x, y, weighting)[1]
    curve_model = get_model(model)
    weighting = normalize_weighting(weighting)
    data = prepare_data(curve_model, x, y, weighting)
    if isinstance(data, str):
        n = int(np.sum(np.isfinite(np.asarray(x, float).ravel()) & np.isfinite(np.asarray(y, float).ravel())))
        return failed_fit(curve_model, weighting, data, ndata=n)
    params, converged, message = _solve(curve_model, data)
    return build_fit(curve_model, weighting, data, params, converged, message)


def select_model(x: ArrayLike, y: ArrayLike, weighting: str = "1/y2") -> tuple[str, FitResult]:
    """One curve: ('5pl', its fit) if >= 6 levels and 5PL's AIC is lower by >= AIC_MARGIN (2 beyond the 2 AIC
    charges for g: Burnham and Anderson's "substantially better", about a likelihood-ratio test at p = 0.05, so
    noisy 4PL data rarely flip), or 5PL alone converged; else ('4pl', its fit)."""
    weighting = normalize_weighting(weighting)
    fit4 = fit_curve(x, y, "4pl", weighting)
    x_arr, y_arr = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    n_levels = np.unique(x_arr[np.isfinite(x_arr) & np.isfinite(y_arr)]).size
    fit5 = fit_curve(x, y, "5pl", weighting) if n_levels >= MIN_LEVELS_5PL else None
    return ("5pl", fit5) if fit5 is not None and prefer_5pl(fit4, fit5, n_levels) else ("4pl", fit4)


def prefer_5pl(fit4: FitResult, fit5: FitResult, n_levels: int) -> bool:
    better = not fit4.converged or fit4.aic - fit5.aic >= AIC_MARGIN  # both AIC -inf (exact fits): NaN, so 4PL
    return bool(n_levels >= MIN_LEVELS_5PL and fit5.converged and better)


def _solve(model: CurveModel, data: CurveData) -> tuple[Array, bool, str]:
    """Trust-region least squares from several starts (log scale for positive parameters); lowest SSE wins."""
    logged = np.array([p in model.positive for p in model.param_names])
    lower, upper = model.bounds(data.x, data.y)
    lower_t = np.where(logged, np.log(np.where(logged, lower, 1.0)), lower)
    upper_t = np.where(logged, np.log(np.where(logged, upper, 1.0)), upper)
    sqrt_w = np.sqrt(data.w)

    def to_params(theta: Array) -> Array:
        return np.where(logged, np.exp(theta), theta)

    def residuals(theta: Array) -> Array:
        return sqrt_w * (model.evaluate(data.x, to_params(theta)) - data.y)

    def jac(theta: Array) -> Array:
        params = to_params(theta)
        scale = np.where(logged, params, 1.0)
        return sqrt_w[:, None] * model.jacobian(data.x, params) * scale

    best = None
    for start in model.start_values(data.x, data.y):
        start = np.asarray(start, dtype=float)
        if not np.all(np.isfinite(start)) or np.any(start[logged] <= 0):
            continue
        theta0 = np.where(logged, np.log(np.where(logged, start, 1.0)), start)
        margin = 1e-6 * (upper_t - lower_t)
        theta0 = np.clip(theta0, lower_t + margin, upper_t - margin)
        with np.errstate(all="ignore"):
            res = least_squares(
                residuals,
                theta0,
                jac=jac,
                bounds=(lower_t, upper_t),
                method="trf",
                x_scale="jac",
                ftol=1e-12,
                xtol=1e-12,
                gtol=1e-12,
                max_nfev=2000,
            )
        if not np.isfinite(res.cost):
            continue
        if best is None or (res.status > 0, -res.cost) > (best.status > 0, -best.cost):
            best = res
    if best is None:
        return np.full(model.nparams, np.nan), False, "the optimiser failed from every start value."
    params = to_params(best.x)
    if best.status <= 0:
        return params, False, f"did not converge: {best.message}"
    at_bound = [
        name for name, t, lo, hi in zip(model.param_names, best.x, lower_t, upper_t, strict=True) if min(t - lo, hi - t) <= 1e-6 * (hi - lo)
    ]
    if at_bound:
        return params, True, f"converged, but {', '.join(at_bound)} reached the bounds, so the data barely determine them."
    return params, True, "converged."


def build_fit(model: CurveModel, weighting: str, data: CurveData, params: Array, converged: bool, message: str) -> FitResult:
    """Statistics (SSE, R2, AIC, covariance from the weighted Jacobian) around fitted parameters."""
    names = model.param_names
    pred = model.evaluate(data.x, params)
    resid = data.y - pred
    sse = float(np.sum(data.w * resid**2))
    ss_tot = float(np.sum((data.y - data.y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    n, k = data.x.size, model.nparams
    aic = n * math.log(sse / n) + 2 * k if sse > 0 else float("-inf")
    covar = _covariance(model, data, params, sse, n - k)
    stderr: dict[str, float | None] = {p: None for p in names}
    if covar is not None:
        diag = np.diag(covar)
        stderr = {p: (float(np.sqrt(v)) if np.isfinite(v) and v >= 0 else None) for p, v in zip(names, diag, strict=True)}
    return FitResult(
        model=model.name,
        weighting=weighting,
        params={p: float(v) for p, v in zip(names, params, strict=True)},
        stderr=stderr,
        covar=covar,
        converged=bool(converged and np.all(np.isfinite(params))),
        message=message,
        ndata=n,
        nfree=n - k,
        sse=sse,
        r2=r2,
        aic=aic,
    )


def _covariance(model: CurveModel, data: CurveData, params: Array, sse: float, nfree: int) -> np.ndarray | None:
    """(J' W J)^-1 * SSE / nfree, or None when it cannot be estimated (no free points, singular, non-finite)."""
    if nfree <= 0 or not np.all(np.isfinite(params)):
        return None
    jw = np.sqrt(data.w)[:, None] * model.jacobian(data.x, params)
    jtj = jw.T @ jw
    if not np.all(np.isfinite(jtj)) or np.linalg.cond(jtj) > 1e15:
        return None
    try:
        covar = np.linalg.inv(jtj) * (sse / nfree)
    except np.linalg.LinAlgError:
        return None
    return covar if np.all(np.isfinite(covar)) else None
