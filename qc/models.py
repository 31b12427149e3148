"""Standard-curve models (4PL, 5PL): formula, inverse, Jacobian, start values and bounds, apart from any fit.

Every function broadcasts: x and each parameter may be arrays (a batched fitter passes parameters
of shape (n_curves, 1) against x of shape (n_curves, n_points)). Parameter order is `param_names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Params = Sequence[ArrayLike]
Array = NDArray[np.float64]


def _power_term(x: ArrayLike, b: ArrayLike, c: ArrayLike) -> Array:
    """u = (x/c)^b, exactly 0 at x = 0 (the zero standard) and NaN for negative x."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = x / np.asarray(c, dtype=float)
        u = np.where(ratio > 0, np.exp(np.asarray(b, dtype=float) * np.log(np.where(ratio > 0, ratio, 1.0))), 0.0)
    return np.where(ratio < 0, np.nan, u)


def _level_means(x: Array, y: Array) -> tuple[Array, Array]:
    """Distinct x levels (sorted) and the mean response at each."""
    levels, index = np.unique(x, return_inverse=True)
    means = np.bincount(index, weights=y) / np.bincount(index)
    return levels, means


@dataclass(frozen=True)
class CurveModel:
    """A logistic dose-response model; subclasses give the formula. Stateless, so one instance serves all fits."""

    name: str
    param_names: tuple[str, ...]
    positive: tuple[str, ...]  # parameters a fitter may optimise on a log scale
    min_levels: int

    @property
    def nparams(self) -> int:
        return len(self.param_names)

    def evaluate(self, x: ArrayLike, params: Params) -> Array:
        raise NotImplementedError

    def inverse(self, y: ArrayLike, params: Params) -> Array:
        raise NotImplementedError

    def jacobian(self, x: ArrayLike, params: Params) -> Array:
        """d y / d params, shape x.shape + (nparams,)."""
        raise NotImplementedError

    def guess(self, x: ArrayLike, y: ArrayLike) -> Array:
        """Start values from the data: a ~ response at the lowest x, d ~ beyond the highest x, b and c from a logit line."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return np.array(_guess_4pl(x, y) + [1.0] * (self.nparams - 4))

    def start_values(self, x: ArrayLike, y: ArrayLike) -> list[Array]:
        """The guess first, then a few perturbed starts for when the first converges poorly."""
        first = self.guess(x, y)
        a, b, c, d = first[:4]
        rest = list(first[4:])
        span = d - a
        starts = [first]
        for db, dc, dd in ((1.0, 3.0, 0.0), (1.0, 1 / 3, 0.0), (0.5, 1.0, 0.3), (2.0, 1.0, 0.0), (1.0, 2.0, 1.0)):
            starts.append(np.array([a, b * db, c * dc, d + dd * span] + rest))
        return starts

    def bounds(self, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
        """Generous box: asymptotes within 10 response ranges, c within 1000x the dose range, b and g in 0.05-20."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        span = max(float(np.ptp(y)), 1e-9 * max(1.0, float(np.max(np.abs(y)))))
        lo_y, hi_y = float(np.min(y)) - 10 * span, float(np.max(y)) + 10 * span
        pos = x[x > 0]
        lo_c, hi_c = float(np.min(pos)) / 1000, float(np.max(pos)) * 1000
        lower = {"a": lo_y, "b": 0.05, "c": lo_c, "d": lo_y, "g": 0.05}
        upper = {"a": hi_y, "b": 20.0, "c": hi_c, "d": hi_y, "g": 20.0}
        return (
            np.array([lower[p] for p in self.param_names]),
            np.array([upper[p] for p in self.param_names]),
        )


def _guess_4pl(x: Array, y: Array) -> list[float]:
    """4PL start values; assumes at least two distinct positive x levels and a non-flat response."""
    levels, means = _level_means(x, y)
    pos = levels > 0
    lx = np.log(levels[pos])
    increasing = np.corrcoef(lx, means[pos])[0, 1] >= 0 if pos.sum() > 1 else means[-1] >= means[0]
    sign = 1.0 if increasing else -1.0
    span = float(np.ptp(means))
    a = float(means[0]) if levels[0] == 0 else float(means[0]) - sign * 0.02 * span
    best: list[float] | None = None
    best_sse = np.inf
    for extra in (0.02, 0.1, 0.3, 0.7):
        d = (max(means) if increasing else min(means)) + sign * extra * span
        b, c = _logit_line(levels[pos], means[pos], a, d)
        params = [a, b, c, d]
        sse = float(np.sum((FOUR_PL.evaluate(levels, params) - means) ** 2))
        if np.isfinite(sse) and sse < best_sse:
            best, best_sse = params, sse
    assert best is not None
    return best


def _logit_line(levels: Array, means: Array, a: float, d: float) -> tuple[float, float]:
    """b and c from a straight line through log((y - a)/(d - y)) against log x."""
    z = (means - a) / (d - a)
    ok = (z > 0.01) & (z < 0.99)
    if ok.sum() >= 2:
        lx = np.log(levels[ok])
        slope, intercept = np.polyfit(lx, np.log(z[ok] / (1 - z[ok])), 1)
        if slope > 0.05:
            return float(min(slope, 10.0)), float(np.exp(-intercept / slope))
    # fallback: slope 1, c at the level whose response is nearest half-way (on a log scale)
    mid = levels[int(np.argmin(np.abs(z - 0.5)))]
    return 1.0, float(mid)


@dataclass(frozen=True)
class FourPL(CurveModel):
    """y = d + (a - d) / (1 + (x/c)^b); a = response at zero dose, d = at infinite dose."""

    name: str = "4pl"
    param_names: tuple[str, ...] = ("a", "b", "c", "d")
    positive: tuple[str, ...] = ("b", "c")
    min_levels: int = 4

    def evaluate(self, x: ArrayLike, params: Params) -> Array:
        a, b, c, d = (np.asarray(p, dtype=float) for p in params)
        return d + (a - d) / (1.0 + _power_term(x, b, c))

    def inverse(self, y: ArrayLike, params: Params) -> Array:
        """x = c ((a - d)/(y - d) - 1)^(1/b); NaN unless y lies strictly between a and d."""
        a, b, c, d = (np.asarray(p, dtype=float) for p in params)
        y = np.asarray(y, dtype=float)
        inside = (y - a) * (d - y) > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = c * np.power((a - d) / (y - d) - 1.0, 1.0 / b)
        return np.where(inside & np.isfinite(x), x, np.nan)

    def jacobian(self, x: ArrayLike, params: Params) -> Array:
        a, b, c, d = (np.asarray(p, dtype=float) for p in params)
        u = _power_term(x, b, c)
        inv = 1.0 / (1.0 + u)
        dy_du = -(a - d) * inv**2
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.where(u > 0, np.log(np.where(u > 0, u, 1.0)) / b, 0.0)  # ln(x/c)
        cols = [inv, dy_du * u * log_ratio, dy_du * u * (-b / c), 1.0 - inv]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)


@dataclass(frozen=True)
class FivePL(CurveModel):
    """y = d + (a - d) / (1 + (x/c)^b)^g; g != 1 makes the curve asymmetric. Needs at least 6 levels."""

    name: str = "5pl"
    param_names: tuple[str, ...] = ("a", "b", "c", "d", "g")
    positive: tuple[str, ...] = ("b", "c", "g")
    min_levels: int = 6

    def evaluate(self, x: ArrayLike, params: Params) -> Array:
        a, b, c, d, g = (np.asarray(p, dtype=float) for p in params)
        return d + (a - d) / np.power(1.0 + _power_term(x, b, c), g)

    def inverse(self, y: ArrayLike, params: Params) -> Array:
        """x = c (((a - d)/(y - d))^(1/g) - 1)^(1/b); NaN unless y lies strictly between a and d."""
        a, b, c, d, g = (np.asarray(p, dtype=float) for p in params)
        y = np.asarray(y, dtype=float)
        inside = (y - a) * (d - y) > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = c * np.power(np.power((a - d) / (y - d), 1.0 / g) - 1.0, 1.0 / b)
        return np.where(inside & np.isfinite(x), x, np.nan)

    def jacobian(self, x: ArrayLike, params: Params) -> Array:
        a, b, c, d, g = (np.asarray(p, dtype=float) for p in params)
        u = _power_term(x, b, c)
        s = np.power(1.0 + u, -g)
        dy_du = -(a - d) * g * s / (1.0 + u)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.where(u > 0, np.log(np.where(u > 0, u, 1.0)) / b, 0.0)
        cols = [s, dy_du * u * log_ratio, dy_du * u * (-b / c), 1.0 - s, -(a - d) * s * np.log1p(u)]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def start_values(self, x: ArrayLike, y: ArrayLike) -> list[Array]:
        """The 4PL starts with g = 1, then the first of them with g = 0.5 and g = 2."""
        starts = super().start_values(x, y)
        first = starts[0]
        return starts + [np.append(first[:4], 0.5), np.append(first[:4], 2.0)]


FOUR_PL = FourPL()
FIVE_PL = FivePL()
MODELS: dict[str, CurveModel] = {FOUR_PL.name: FOUR_PL, FIVE_PL.name: FIVE_PL}


def get_model(name: str) -> CurveModel:
    """The model called `name` ('4pl' or '5pl'); ValueError naming the choices otherwise."""
    key = str(name).strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown curve model '{name}'; expected one of {', '.join(MODELS)}.")
    return MODELS[key]
