"""Linear-algebra cores of `qc.batch`: design matrices, REML variance components, single-analyte ComBat.

statsmodels is not a dependency, so the mixed model is fitted here with numpy/scipy:
- `fit_reml`: y = X beta + u_plate (+ u_lot) + e, u ~ N(0, s2_plate I), N(0, s2_lot I), e ~ N(0, s2 I). REML profiled
  over s2 and written with Henderson's mixed-model equations; the plate block of those equations is diagonal, so it is
  absorbed analytically (Schur complement) and every evaluation costs O(plates x (p + lots)^2), whatever the number of
  samples. The two variance ratios are optimised on a log scale (grid, then L-BFGS-B). Plates need not be nested in
  lots. Returns BLUPs and their prediction-error variances (for per-plate CIs).
- `combat`: ComBat (Johnson, Li & Rabinovic 2007, Biostatistics 8:118) for ONE analyte. With a single feature the
  empirical Bayes priors (normal for the batch location, inverse gamma for the batch variance) are estimated across
  batches instead of across genes: strength is borrowed from the other plates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy import linalg, optimize

Array = NDArray[np.float64]
LOG_RATIO_BOUNDS = (-14.0, 6.0)  # log(s2_effect / s2_residual): e^-14 is "no effect"


def is_categorical(s: pd.Series) -> bool:
    """Numeric columns with more than two distinct values are numeric covariates; everything else is a factor."""
    return not is_numeric_dtype(s) or is_bool_dtype(s) or s.nunique(dropna=True) <= 2


def dummies(frame: pd.DataFrame, covariates: list[str]) -> tuple[Array, list[str]]:
    """Treatment-coded columns (first sorted level is the reference; NaN rows get zeros) and their names."""
    cols, names = [], []
    for cov in covariates:
        s = frame[cov]
        if not is_categorical(s):
            v = s.to_numpy(dtype=float, na_value=np.nan)
            cols.append(np.where(np.isnan(v), 0.0, v - np.nanmean(v)))
            names.append(cov)
            continue
        codes, levels = pd.factorize(s, sort=True)
        for k in range(1, len(levels)):
            cols.append((codes == k).astype(float))
            names.append(f"{cov}[{levels[k]}]")
    return (np.column_stack(cols) if cols else np.zeros((len(frame), 0))), names


def independent_columns(X: Array, tol: float = 1e-10) -> NDArray[np.intp]:
    """Indices of a maximal linearly independent, order-preserving subset of X's columns (pivoted QR of X'X)."""
    if X.shape[1] == 0:
        return np.arange(0)
    xtx = X.T @ X
    scale = np.sqrt(np.maximum(np.diag(xtx), 1e-300))
    _, r, piv = linalg.qr(xtx / np.outer(scale, scale), pivoting=True)
    rank = int(np.sum(np.abs(np.diag(r)) > tol * max(1.0, abs(r[0, 0]))))
    return np.sort(piv[:rank])


def group_sums(codes: NDArray[np.intp], n: int, X: Array) -> Array:
    """(n, k) sums of X's columns per group code."""
    return np.column_stack([np.bincount(codes, X[:, j], n) for j in range(X.shape[1])]) if X.shape[1] else np.zeros((n, 0))


@dataclass(frozen=True)
class MixedFit:
    """REML fit; `sigma2` has 'plate', 'kit_lot' (when fitted) and 'residual'."""

    sigma2: dict[str, float]
    beta: Array
    u_plate: Array  # BLUP per plate code
    u_lot: Array  # BLUP per lot code (empty without a lot effect)
    pev: Array  # prediction-error variance of u_plate + u_lot(plate's lot), per plate
    converged: bool
    message: str
    neg2_reml: float

    def shares(self) -> dict[str, float]:
        total = sum(self.sigma2.values())
        return {k: (v / total if total > 0 else float("nan")) for k, v in self.sigma2.items()}


def fit_reml(
    y: Array,
    X: Array,
    plate: NDArray[np.intp],
    n_plates: int,
    lot: NDArray[np.intp] | None = None,
    n_lots: int = 0,
    plate_lot: NDArray[np.intp] | None = None,
) -> MixedFit:
    """REML for plate (and optionally lot) random intercepts. X must have full column rank (see independent_columns).

    plate_lot: the lot code of each plate (for the PEV of u_plate + u_lot); defaults to the plate's most common lot.
    """
    N, p = X.shape
    y = y - y.mean()  # X holds an intercept: same fit, better conditioned sums of squares
    has_lot = lot is not None and n_lots > 0
    n_p = np.bincount(plate, minlength=n_plates).astype(float)
    yp, Xp = np.bincount(plate, y, n_plates), group_sums(plate, n_plates, X)
    XtX, Xty, yty = X.T @ X, X.T @ y, float(y @ y)
    if has_lot:
        n_l = np.bincount(lot, minlength=n_lots).astype(float)
        Xl, yl = group_sums(lot, n_lots, X), np.bincount(lot, y, n_lots)
        Npl = np.bincount(plate * n_lots + lot, minlength=n_plates * n_lots).reshape(n_plates, n_lots).astype(float)
        B, rs = np.hstack([Xp, Npl]), np.concatenate([Xty, yl])
        A0 = np.block([[XtX, Xl.T], [Xl, np.diag(n_l)]])
    else:
        B, rs, A0 = Xp, Xty, XtX
    m = A0.shape[0]

    def solve(theta: Array) -> tuple[float, Array, Array, Array, Array]:
        gp = np.exp(theta[0])
        D = n_p + 1.0 / gp
        A = A0.copy()
        if has_lot:
            A[p:, p:] += np.eye(n_lots) / np.exp(theta[1])
        F = B / D[:, None]
        S = A - B.T @ F
        rhs = rs - F.T @ yp
        try:
            cho = linalg.cho_factor(S)
        except linalg.LinAlgError:
            return np.inf, D, F, S, np.zeros(m)
        sol = linalg.cho_solve(cho, rhs)
        ypy = yty - yp @ (yp / D) - rhs @ sol
        logdet = np.sum(np.log1p(n_p * gp)) + 2 * np.sum(np.log(np.diag(cho[0])))
        if has_lot:
            logdet += n_lots * theta[1]
        obj = (N - p) * np.log(max(ypy, 1e-300)) + logdet
        return float(obj), D, F, S, sol

    k = 2 if has_lot else 1
    grid = np.array(np.meshgrid(*[np.linspace(-10, 2, 7)] * k)).reshape(k, -1).T
    start = grid[np.argmin([solve(t)[0] for t in grid])]
    res = optimize.minimize(lambda t: solve(t)[0], start, method="L-BFGS-B", bounds=[LOG_RATIO_BOUNDS] * k)
    obj, D, F, S, sol = solve(res.x)
    ypy = yty - yp @ (yp / D) - (rs - F.T @ yp) @ sol
    s2 = ypy / (N - p)
    sigma2 = {"plate": float(np.exp(res.x[0]) * s2)}
    if has_lot:
        sigma2["kit_lot"] = float(np.exp(res.x[1]) * s2)
    sigma2["residual"] = float(s2)
    u_plate = (yp - B @ sol) / D
    u_lot = sol[p:] if has_lot else np.zeros(0)
    G = F.copy()
    if has_lot:
        if plate_lot is None:
            plate_lot = np.argmax(Npl, axis=1)
        G[np.arange(n_plates), p + plate_lot] -= 1.0
    Sinv = linalg.inv(S)
    pev = s2 * (1.0 / D + np.einsum("ij,jk,ik->i", G, Sinv, G))
    beta = sol[:p]
    return MixedFit(sigma2, beta, u_plate, u_lot, pev, bool(res.success), str(res.message), obj)


@dataclass(frozen=True)
class CombatFit:
    """Per-batch location gamma* and scale delta* (standardised units), pooled variance and the batch-free mean."""

    gamma_hat: Array
    delta_hat: Array
    gamma_star: Array
    delta_star: Array
    gamma_post_var: Array  # posterior variance of gamma (standardised units)
    var_pooled: float
    alpha: float
    beta: Array
    priors: dict[str, float]
    iterations: int

    def stand_mean(self, X: Array) -> Array:
        return self.alpha + X @ self.beta

    def adjust(self, y: Array, batch: NDArray[np.intp], stand_mean: Array) -> Array:
        sd = np.sqrt(self.var_pooled)
        s = (y - stand_mean) / sd
        return (s - self.gamma_star[batch]) / np.sqrt(self.delta_star[batch]) * sd + stand_mean


def combat(
    y: Array,
    X: Array,
    batch: NDArray[np.intp],
    n_batch: int,
    *,
    scale: bool = True,
    empirical_bayes: bool = True,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> CombatFit:
    """ComBat for one analyte. X: covariate (and pool) columns WITHOUT intercept and without batch columns."""
    n_b = np.bincount(batch, minlength=n_batch).astype(float)
    safe_n = np.maximum(n_b, 1.0)
    if X.shape[1]:  # batch fixed effects + covariates, solved within batches (no huge one-hot design)
        Xw = X - (group_sums(batch, n_batch, X) / safe_n[:, None])[batch]
        yw = y - (np.bincount(batch, y, n_batch) / safe_n)[batch]
        beta = np.linalg.lstsq(Xw, yw, rcond=None)[0]
    else:
        beta = np.zeros(0)
    r = y - X @ beta
    gamma_raw = np.bincount(batch, r, n_batch) / safe_n
    alpha = float(np.sum(n_b * gamma_raw) / n_b.sum())
    var_pooled = float(np.mean((r - gamma_raw[batch]) ** 2))
    s = (r - alpha) / np.sqrt(var_pooled)
    s1, s2 = np.bincount(batch, s, n_batch), np.bincount(batch, s * s, n_batch)
    g_hat = s1 / safe_n
    with np.errstate(invalid="ignore", divide="ignore"):
        d_hat = np.where(n_b >= 2, (s2 - n_b * g_hat**2) / (n_b - 1), np.nan)
    used = n_b > 0
    g_bar, t2 = float(np.mean(g_hat[used])), float(np.var(g_hat[used], ddof=1)) if used.sum() > 1 else 0.0
    dv = d_hat[np.isfinite(d_hat)]
    dm, dvv = (float(dv.mean()), float(dv.var(ddof=1))) if dv.size > 1 else (1.0, 0.0)
    a_prior = (2 * dvv + dm**2) / dvv if dvv > 0 else np.inf
    b_prior = (dm * dvv + dm**3) / dvv if dvv > 0 else np.inf
    d_start = np.where(np.isfinite(d_hat), d_hat, dm)
    g_star, d_star, it = g_hat.copy(), d_start.copy(), 0
    if empirical_bayes and t2 > 0:
        d_old = d_start
        for it in range(1, max_iter + 1):  # noqa: B007  (the count is returned with the fit)
            g_new = (t2 * n_b * g_hat + d_old * g_bar) / (t2 * n_b + d_old)
            if scale and np.isfinite(a_prior):
                sum2 = s2 - 2 * g_new * s1 + n_b * g_new**2
                d_new = (0.5 * sum2 + b_prior) / (n_b / 2 + a_prior - 1)
            else:
                d_new = d_old
            change = max(np.max(np.abs(g_new - g_star) / np.maximum(np.abs(g_star), 1e-12)), np.max(np.abs(d_new - d_old) / d_old))
            g_star, d_old = g_new, d_new
            if change < tol:
                break
        d_star = d_old
    if not scale:
        d_star = np.ones(n_batch)
    post_var = 1.0 / (n_b / d_star + (1.0 / t2 if empirical_bayes and t2 > 0 else 0.0))
    priors = {"gamma_bar": g_bar, "tau2": t2, "a": float(a_prior), "b": float(b_prior)}
    return CombatFit(g_hat, d_hat, g_star, d_star, post_var, var_pooled, alpha, beta, priors, it)
