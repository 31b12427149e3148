"""Batched standard-curve fitting: thousands of curves in one vectorised Levenberg-Marquardt run.

`fit_curves(x, y)` returns for each row of (n_curves, n_points) arrays (NaN pads) the `FitResult` of `fit_curve`:
- the checks and weights of `prepare_data` (a row a vectorised screen doubts goes through it: same messages);
- the optimum of `_solve` (b, c, g on a log scale, the `CurveModel.bounds` box, the `start_values` starts), found on
  level means weighted w * n (every weighting gives a level's replicates one weight w: same minimiser, half the
  points). Start 1 runs for every curve, the others where it did not end converged well inside the box
  (`all_starts=True`: everywhere); lowest SSE wins; a curve whose best did not converge is refitted by `fit_curve`;
- the statistics of `build_fit`, vectorised (tests/qc/test_batchfit.py checks them against it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qc.curves import (
    AUTO,
    MONOTONE_TOLERANCE,
    FitResult,
    failed_fit,
    fit_curve,
    normalize_weighting,
    prefer_5pl,
    prepare_data,
)
from qc.models import CurveModel, get_model

GTOL = 1e-10  # converged: every Jacobian column this close to orthogonal to the residuals (MINPACK's gtol) ...
FTOL = 1e-13  # ... or the Gauss-Newton step promises less than this share of the SSE
INTERIOR = 1e-4  # start 1 ending this close (share of the box) to a bound: try the other starts too
MAX_ITER = 1000
_LOG_ZERO = -1e5  # log x of the zero standard: exp(b * (log x - log c)) underflows to exactly 0

Array = NDArray[np.float64]


def fit_curves(x: ArrayLike, y: ArrayLike, model: str = "4pl", weighting: str = "1/y2", all_starts: bool = False) -> list[FitResult]:
    """Fit each row of y (n_curves, n_points) against the same row of x (or one (n_points,) x for all rows).

    model '4pl', '5pl' or 'auto' (per row, `select_model`'s rule). Degenerate rows give failed fits, never errors.
    """
    weighting = normalize_weighting(weighting)
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if y.ndim != 2 or (x.shape != y.shape and x.shape != y.shape[1:]):
        raise ValueError(f"y must be (n_curves, n_points) and x the same or (n_points,); got {y.shape} and {x.shape}.")
    x = np.array(np.broadcast_to(x, y.shape))
    if str(model).strip().lower() == AUTO:
        fits4, fits5 = (fit_curves(x, y, m, weighting, all_starts) for m in ("4pl", "5pl"))
        n_levels = _levels(x, y, np.isfinite(x) & np.isfinite(y))[0]
        return [f5 if prefer_5pl(f4, f5, k) else f4 for f4, f5, k in zip(fits4, fits5, n_levels, strict=True)]
    return _fit_batch(get_model(model), weighting, x, y, all_starts)


def _levels(x: Array, y: Array, valid: NDArray[np.bool_]) -> tuple:
    """Per row: level count; sorted levels, their means and counts (n, L), NaN/0 padded; each point's level."""
    n = y.shape[0]
    order = np.argsort(np.where(valid, x, np.inf), axis=1, kind="stable")  # stable: replicates keep their order
    xs, ys, vs = (np.take_along_axis(a, order, axis=1) for a in (x, y, valid))
    new = vs.copy()
    new[:, 1:] &= xs[:, 1:] != xs[:, :-1]
    lid = np.cumsum(new, axis=1) - 1
    n_levels = new.sum(axis=1)
    width = max(int(n_levels.max(initial=0)), 1)
    gid = (np.arange(n)[:, None] * width + lid)[vs]  # bincount sums in prepare_data's order
    counts = np.bincount(gid, minlength=n * width).reshape(n, width)
    sums = np.bincount(gid, weights=ys[vs], minlength=n * width).reshape(n, width)
    levels = np.full(n * width, np.nan)
    levels[gid] = xs[vs]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    point_level = np.empty_like(lid)
    np.put_along_axis(point_level, order, np.maximum(lid, 0), axis=1)
    return n_levels, levels.reshape(n, width), means, counts, point_level


def _fit_batch(model: CurveModel, weighting: str, x: Array, y: Array, all_starts: bool) -> list[FitResult]:
    n = y.shape[0]
    valid = np.isfinite(x) & np.isfinite(y)
    ndata = valid.sum(axis=1)
    n_levels, levels, means, counts, point_level = _levels(x, y, valid)
    lev_ok = counts > 0
    flat_level = np.arange(n)[:, None] * levels.shape[1] + point_level
    with np.errstate(all="ignore"):
        dev2 = np.where(valid, (y - means.ravel()[flat_level]) ** 2, 0.0)
        if weighting == "1/var":  # the expressions of prepare_data's _weights
            level_w = 1.0 / (np.bincount(flat_level[valid], weights=dev2[valid], minlength=means.size).reshape(means.shape) / (counts - 1))
        else:
            level_w = 1.0 / means ** {"none": 0, "1/y": 1, "1/y2": 2}[weighting]
        level_w = np.where(lev_ok, level_w, 0.0)
        # conservative screens for prepare_data's refusals; prepare_data decides every row they catch
        hi_mean, lo_mean = np.max(np.where(lev_ok, means, -np.inf), axis=1), np.min(np.where(lev_ok, means, np.inf), axis=1)
        steps = np.nan_to_num(np.diff(means, axis=1))
        up, down = np.clip(steps, 0, None).sum(axis=1), np.clip(-steps, 0, None).sum(axis=1)
        doubtful = (
            (ndata == 0)
            | np.any(valid & (x < 0), axis=1)
            | (n_levels < model.min_levels)
            | ~(hi_mean - lo_mean > 2e-9 * np.maximum(np.maximum(np.abs(hi_mean), np.abs(lo_mean)), 1e-12))
            | (np.minimum(up, down) > 0.99 * MONOTONE_TOLERANCE * np.maximum(up, down))
            | np.any(lev_ok & ~(np.isfinite(level_w) & (level_w > 0)), axis=1)
            | (weighting in ("1/y", "1/y2")) & np.any(lev_ok & ~(means > 0), axis=1)
        )
    fits: list[FitResult | None] = [None] * n
    for i in np.flatnonzero(doubtful).tolist():
        data = prepare_data(model, x[i], y[i], weighting)
        if isinstance(data, str):
            fits[i] = failed_fit(model, weighting, data, ndata=int(ndata[i]))
    todo = np.array([i for i, fit in enumerate(fits) if fit is None], dtype=int)
    if todo.size:
        w = np.where(valid, level_w.ravel()[flat_level], 0.0)[todo]
        scatter = (w * dev2[todo]).sum(axis=1)  # replicate scatter: SSE that fitting the level means cannot reduce
        sub = (levels[todo], means[todo], counts[todo], level_w[todo], x[todo], y[todo], valid[todo])
        params, messages, redo = _solve_batch(model, *sub, scatter, all_starts)
        for i, fit in zip(todo.tolist(), _build_fits(model, weighting, *sub[4:], w, params, messages), strict=True):
            fits[i] = fit
        for i in todo[redo].tolist():
            single = fit_curve(x[i], y[i], model.name, weighting)
            message = f"{single.message.rstrip('.')}; fitted singly because the batched fit did not converge."
            fits[i] = dataclasses.replace(single, message=message)
    return fits  # type: ignore[return-value]


def _start_params(model: CurveModel, levels: Array, means: Array) -> Array:
    """`model.start_values` for every row at once, (n, n_starts, nparams): `_guess_4pl`, `_logit_line` vectorised."""
    n = levels.shape[0]
    ok = np.isfinite(levels)
    pos = ok & (levels > 0)
    lx = np.log(np.where(pos, levels, 1.0))
    npos = pos.sum(axis=1)
    hi, lo = np.max(np.where(ok, means, -np.inf), axis=1), np.min(np.where(ok, means, np.inf), axis=1)
    mean_lx, mean_m = (np.where(pos, v, 0).sum(axis=1) / np.maximum(npos, 1) for v in (lx, means))
    dm = np.where(pos, means - mean_m[:, None], 0)
    cov, flat = np.einsum("nl,nl->n", np.where(pos, lx - mean_lx[:, None], 0), dm), ~(np.einsum("nl,nl->n", dm, dm) > 0)
    last = means[np.arange(n), np.maximum(ok.sum(axis=1) - 1, 0)]
    increasing = np.where(npos > 1, (cov >= 0) & ~flat, last >= means[:, 0])  # corrcoef >= 0 (NaN if flat: False)
    sign, span = np.where(increasing, 1.0, -1.0), hi - lo
    a = np.where(levels[:, 0] == 0, means[:, 0], means[:, 0] - sign * 0.02 * span)
    # the four trial d of _guess_4pl side by side on a leading axis; the lowest SSE at the levels wins
    d = np.where(increasing, hi, lo) + sign * np.array([0.02, 0.1, 0.3, 0.7])[:, None] * span
    z = (means - a[:, None]) / (d - a)[..., None]
    use = pos & (z > 0.01) & (z < 0.99)
    k = use.sum(axis=2)
    t = np.where(use, np.log(z / (1 - z)), 0.0)
    lsum, tsum = np.einsum("enl,nl->en", use, lx), t.sum(axis=2)
    sxx = np.einsum("enl,nl->en", use, lx * lx) - lsum**2 / k
    slope = (np.einsum("enl,nl->en", t, lx) - lsum * tsum / k) / np.where(sxx > 0, sxx, np.nan)
    line = (k >= 2) & (slope > 0.05)
    mid = np.take_along_axis(levels, np.argmin(np.where(pos, np.abs(z - 0.5), np.inf), axis=2).T, axis=1).T
    b = np.where(line, np.minimum(slope, 10.0), 1.0)
    c = np.where(line, np.exp((lsum * slope - tsum) / (k * slope)), mid)
    lx0 = np.where(levels == 0, _LOG_ZERO, lx)
    dev = np.where(ok, d[..., None] + (a - d)[..., None] / (1 + np.exp(b[..., None] * (lx0 - np.log(c)[..., None]))) - means, 0)
    sse = np.einsum("enl,enl->en", dev, dev)
    pick = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=0)  # first of equals, as the loop's strict <
    best = np.stack([a, *(v[pick, np.arange(n)] for v in (b, c, d))], axis=1)
    best[~np.isfinite(sse).any(axis=0)] = np.nan
    a, b, c, d = best.T
    moves = ((1.0, 3.0, 0.0), (1.0, 1 / 3, 0.0), (0.5, 1.0, 0.3), (2.0, 1.0, 0.0), (1.0, 2.0, 1.0))
    starts = [best] + [np.stack([a, b * db, c * dc, d + dd * (d - a)], axis=1) for db, dc, dd in moves]
    if model.nparams == 5:
        g_starts = [1.0] * len(starts) + [0.5, 2.0]
        starts = [np.column_stack([s, np.full(n, g)]) for s, g in zip(starts + [best, best], g_starts, strict=True)]
    return np.stack(starts, axis=1)


def _solve_batch(model, levels, means, counts, level_w, x, y, valid, scatter, all_starts):
    """Best parameters (n, p) over the starts, `_solve`'s message for each, and which rows to refit singly."""
    n, p = levels.shape[0], model.nparams
    logged = np.array([name in model.positive for name in model.param_names])
    ok = np.isfinite(levels)
    with np.errstate(all="ignore"):
        lx = np.where(ok & (levels == 0), _LOG_ZERO, np.where(ok, np.log(levels), 0.0))
        sw = np.sqrt(level_w * counts)
        yv, xpos = np.where(valid, y, np.nan), np.where(valid & (x > 0), x, np.nan)  # model.bounds, per row:
        y_lo, y_hi = np.nanmin(yv, axis=1), np.nanmax(yv, axis=1)
        span = np.maximum(y_hi - y_lo, 1e-9 * np.maximum(1.0, np.maximum(np.abs(y_lo), np.abs(y_hi))))
        asym = (y_lo - 10 * span, y_hi + 10 * span)
        box = {
            "a": asym,
            "d": asym,
            "b": (0.05, 20.0),
            "g": (0.05, 20.0),
            "c": (np.nanmin(xpos, axis=1) / 1000, np.nanmax(xpos, axis=1) * 1000),
        }
        lo, hi = (np.column_stack([np.broadcast_to(box[q][j], n) for q in model.param_names]) for j in (0, 1))
        lo, hi = np.where(logged, np.log(lo), lo), np.where(logged, np.log(hi), hi)
        starts = _start_params(model, levels, means)
        usable = np.all(np.isfinite(starts) & ((starts > 0) | ~logged), axis=2)
        theta0 = np.where(logged, np.log(np.where(usable[:, :, None], np.abs(starts), 1.0)), starts)
    margin = 1e-6 * (hi - lo)
    theta0 = np.clip(theta0, (lo + margin)[:, None], (hi - margin)[:, None])
    data = (lx, np.where(ok, sw * means, 0.0), sw, scatter, lo, hi)
    theta, sse = np.full(theta0.shape, np.nan), np.full(theta0.shape[:2], np.inf)
    state = np.zeros(theta0.shape[:2], dtype=np.int8)

    def run(ci: NDArray[np.intp], si: NDArray[np.intp]) -> None:
        if ci.size:
            theta[ci, si], sse[ci, si], state[ci, si] = _lm(p == 5, theta0[ci, si], *(a[ci] for a in data))

    run(np.flatnonzero(usable[:, 0]), np.zeros(int(usable[:, 0].sum()), dtype=int))
    gap = INTERIOR * (hi - lo)
    inside = np.all((theta[:, 0] - lo > gap) & (hi - theta[:, 0] > gap), axis=1)
    again = np.arange(n) if all_starts else np.flatnonzero((state[:, 0] != 1) | ~inside)
    ci, si = np.nonzero(usable[again, 1:])
    run(again[ci], si + 1)
    th, lowest = theta[np.arange(n), np.argmin(sse, axis=1)], sse.min(axis=1)
    redo = ~np.isfinite(lowest) | ~(np.where(state == 1, sse, np.inf).min(axis=1) <= lowest * (1 + 1e-9))
    messages = np.full(n, "converged.", dtype=object)
    at_bound = np.minimum(th - lo, hi - th) <= 1e-6 * (hi - lo)  # _solve's rule and words
    for i in np.flatnonzero(at_bound.any(axis=1)).tolist():
        names = ", ".join(q for q, hit in zip(model.param_names, at_bound[i], strict=True) if hit)
        messages[i] = f"converged, but {names} reached the bounds, so the data barely determine them."
    return np.where(logged, np.exp(th), th), messages, redo


def _residuals(five: bool, th: Array, lx: Array, swy: Array, sw: Array) -> tuple[Array, Array]:
    """Weighted residuals (K, L) of the level means (swy = sw * mean) in the log-scaled parameters, and J (p, K, L)."""
    a, b, lc, d = th[:, 0:1], np.exp(th[:, 1:2]), th[:, 2:3], th[:, 3:4]
    log_ratio = lx - lc
    u = np.exp(b * log_ratio)
    out = np.empty((th.shape[1], *lx.shape))
    if five:
        g = np.exp(th[:, 4:5])
        log1pu = np.log1p(u)
        s = np.exp(-g * log1pu)
        coef = -(a - d) * b * g * s / (1.0 + u)
    else:
        s = 1.0 / (1.0 + u)
        coef = -(a - d) * b * s * s
    np.multiply(sw, s, out=out[0])
    np.subtract(sw, out[0], out=out[3])
    r = out[0] * a + out[3] * d - swy
    t = np.multiply(coef, u, out=out[2])  # d r / d log c = -t, d r / d log b = t log(x/c)
    t *= sw
    np.multiply(t, log_ratio, out=out[1])
    np.negative(t, out=out[2])
    if five:
        np.multiply(out[0], -(a - d) * g, out=out[4])
        out[4] *= log1pu
    return r, out


def _lm(five, theta, lx, swy, sw, scatter, lo, hi):
    """Levenberg-Marquardt for K problems at once (Marquardt's scaling, Nielsen's damping), projected on the box;
    a problem leaves the working set when done. Returns theta, SSE, state (1 converged, 2 stuck, 0 out of steps)."""
    k, p = theta.shape
    out_theta, out_sse, out_state = theta.copy(), np.full(k, np.inf), np.zeros(k, dtype=np.int8)
    pairs, eye = [(i, j) for i in range(p) for j in range(i, p)], np.arange(p)
    with np.errstate(all="ignore"):
        th, rows = theta.copy(), np.arange(k)
        tiny = 1e-26 * np.sum(swy**2, axis=1) + 1e-300
        r, jac = _residuals(five, th, lx, swy, sw)
        s = np.einsum("km,km->k", r, r) + scatter
        lam, nu = np.full(k, 1e-3), np.full(k, 2.0)
        for _ in range(MAX_ITER):
            hess = np.empty((p, p, th.shape[0]))  # parameter-major: (p, p, K)
            for i, j in pairs:
                hess[i, j] = hess[j, i] = np.einsum("km,km->k", jac[i], jac[j])
            grad = np.einsum("ikm,km->ik", jac, r)
            edge = 1e-12 * (hi - lo).T  # a parameter on the box stays there while the gradient points out
            at_lo, at_hi = th.T <= lo.T + edge, th.T >= hi.T - edge
            held = (at_lo & (grad > 0)) | (at_hi & (grad < 0))
            dh = hess[eye, eye]
            cos = np.max(np.abs(np.where(held, 0.0, grad)) / (np.sqrt(dh * s) + 1e-300), axis=0)
            damp = np.maximum(np.where(held, 1.0, dh), 1e-12 * dh.max(axis=0) + 1e-300)
            broken = ~(np.isfinite(s) & np.all(np.isfinite(hess), axis=(0, 1)))
            done = (cos <= GTOL) | (s - scatter <= tiny)
            near = np.flatnonzero(~done & ~broken & (cos <= 1e-6))  # rounding can keep cos above GTOL: ask GN
            if near.size:
                gn_step = _step(hess[:, :, near], grad[:, near], held[:, near], 1e-10, damp[:, near])
                done[near] = -np.einsum("ik,ik->k", grad[:, near], gn_step) <= FTOL * s[near]
            stop = done | broken | (lam > 1e10)
            if stop.any():
                out_theta[rows[stop]], out_sse[rows[stop]] = th[stop], s[stop]
                out_state[rows[stop]] = np.where(done[stop] & ~broken[stop], 1, 2)
                keep = ~stop
                if not keep.any():
                    break
                th, s, r, lam, nu, rows, lx, swy, sw, scatter, lo, hi, tiny = (
                    v[keep] for v in (th, s, r, lam, nu, rows, lx, swy, sw, scatter, lo, hi, tiny)
                )
                jac = jac[:, keep]
                hess, grad, damp, held, at_lo, at_hi = (v[..., keep] for v in (hess, grad, damp, held, at_lo, at_hi))
            step = _step(hess, grad, held, lam, damp)
            push = (at_lo & (step < 0)) | (at_hi & (step > 0))  # ... or the step does (projected Newton)
            redo = np.flatnonzero(np.any(push & ~held, axis=0))
            if redo.size:
                held[:, redo] |= push[:, redo]
                step[:, redo] = _step(hess[:, :, redo], grad[:, redo], held[:, redo], lam[redo], damp[:, redo])
            trial = np.clip(th + step.T, lo, hi)
            step = trial.T - th.T
            r2, jac2 = _residuals(five, trial, lx, swy, sw)
            s2 = np.einsum("km,km->k", r2, r2) + scatter
            gain = -np.einsum("ik,ik->k", step, 2.0 * grad + np.einsum("ijk,jk->ik", hess, step))  # GN model's
            better, worse = s2 < s, ~(s2 < s)
            shrink = np.maximum(1 / 3, 1 - (2 * np.clip((s - s2) / gain, 0, 1) - 1) ** 3)
            lam, nu = np.where(better, np.maximum(lam * shrink, 1e-10), lam * nu), np.where(better, 2.0, nu * 2)
            trial[worse], s2[worse], r2[worse], jac2[:, worse] = th[worse], s[worse], r[worse], jac[:, worse]
            th, s, r, jac = trial, s2, r2, jac2
    out_theta[rows], out_sse[rows] = th, s  # out of iterations (or, harmlessly, the last ones stopped)
    return out_theta, out_sse, out_state


def _step(hess: Array, grad: Array, held: NDArray[np.bool_], lam, damp: Array) -> Array:
    """-(H + lam D)^-1 g for (p, p, K) systems with held parameters fixed, by elimination without pivoting (stable
    for these positive definite matrices) vectorised over K. A singular system gives inf/NaN, which is rejected."""
    a, x = hess.copy(), -grad
    p = a.shape[0]
    if held.any():
        x[held] = 0.0
        a[:, held] = 0.0
        a[np.broadcast_to(held[:, None, :], a.shape)] = 0.0
    a[np.arange(p), np.arange(p)] += lam * damp
    for j in range(p):
        for i in range(j + 1, p):
            f = a[i, j] / a[j, j]
            a[i, j + 1 :] -= f * a[j, j + 1 :]
            x[i] -= f * x[j]
    for i in range(p - 1, -1, -1):
        x[i] = (x[i] - np.einsum("jk,jk->k", a[i, i + 1 :], x[i + 1 :])) / a[i, i]
    return x


def _build_fits(model, weighting, x, y, valid, w, params, messages) -> list[FitResult]:
    """`build_fit` for every row at once, with the same formulas."""
    n, k, names = y.shape[0], model.nparams, model.param_names
    with np.errstate(all="ignore"):
        cols, xs = [params[:, [j]] for j in range(k)], np.where(valid, x, 0.0)
        resid = np.where(valid, y - model.evaluate(xs, cols), 0.0)
        sse, ndata = np.sum(w * resid**2, axis=1), valid.sum(axis=1)
        ss_tot = np.sum(np.where(valid, (y - (np.where(valid, y, 0.0).sum(axis=1) / ndata)[:, None]) ** 2, 0.0), axis=1)
        r2 = np.where(ss_tot > 0, 1.0 - np.sum(resid**2, axis=1) / ss_tot, np.nan)
        aic = np.where(sse > 0, ndata * np.log(sse / ndata) + 2 * k, -np.inf)
        jw = np.sqrt(w)[..., None] * model.jacobian(xs, cols)  # w = 0 and x = 0 on missing points
        jtj = np.einsum("kmi,kmj->kij", jw, jw, optimize=True)
        nfree, covar = ndata - k, np.full((n, k, k), np.nan)
        ok = np.flatnonzero((nfree > 0) & np.all(np.isfinite(params), axis=1) & np.all(np.isfinite(jtj), axis=(1, 2)))
        try:
            covar[ok] = np.linalg.inv(jtj[ok])
        except np.linalg.LinAlgError:  # an exactly singular one: invert only those build_fit would
            ok = ok[np.linalg.cond(jtj[ok]) <= 1e15]
            covar[ok] = np.linalg.inv(jtj[ok])
        # build_fit drops cond(jtj) > 1e15; |A|_F |A^-1|_F >= cond(A) spares the SVD for all but a few
        check = ok[~(np.sqrt(np.sum(jtj[ok] ** 2, axis=(1, 2)) * np.sum(covar[ok] ** 2, axis=(1, 2))) <= 1e15)]
        covar[check[np.linalg.cond(jtj[check]) > 1e15] if check.size else check] = np.nan
        covar *= (sse / nfree)[:, None, None]
        has_covar = np.all(np.isfinite(covar), axis=(1, 2))
        stderr = np.sqrt(np.diagonal(covar, axis1=1, axis2=2))
    se_rows = stderr.tolist()
    for i in np.flatnonzero(~np.all(np.isfinite(stderr), axis=1)).tolist():  # None as in build_fit
        se_rows[i] = [v if np.isfinite(v) else None for v in se_rows[i]]
    covars = list(covar)
    for i in np.flatnonzero(~has_covar).tolist():
        covars[i] = None
    return [  # positional, in FitResult's field order: a third faster than keywords, which counts at 10,000 fits
        FitResult(model.name, weighting, prm, se, cv, ok, msg, nd, nd - k, sse_i, r2_i, aic_i)
        for prm, se, cv, ok, msg, nd, sse_i, r2_i, aic_i in zip(
            _dicts(names, params.tolist()),
            _dicts(names, se_rows),
            covars,
            np.all(np.isfinite(params), axis=1).tolist(),
            messages.tolist(),
            ndata.tolist(),
            sse.tolist(),
            r2.tolist(),
            aic.tolist(),
            strict=True,
        )
    ]


def _dicts(names: tuple[str, ...], rows: list[list]) -> list[dict]:
    """{name: value} per row; dict displays are three times faster than dict(zip()) for 10,000 rows."""
    if len(names) == 4:
        a_, b_, c_, d_ = names
        return [{a_: a, b_: b, c_: c, d_: d} for a, b, c, d in rows]
    a_, b_, c_, d_, g_ = names  # the 5PL
    return [{a_: a, b_: b, c_: c, d_: d, g_: g} for a, b, c, d, g in rows]
