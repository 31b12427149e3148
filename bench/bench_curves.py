"""Standard-curve fitting throughput: a plain scipy curve_fit loop, our single fit_curve loop, batched fit_curves.

Curves are simulated BDNF plates: 7 standards two-fold from 4000 pg/mL in duplicate plus a zero standard,
truth a~U(0.03, 0.08), d~U(2.5, 3.5), c~U(800, 2500), b~U(0.8, 1.5), OD noise 3.5% multiplicative + 0.003
additive. All fits are 4PL with 1/y^2 weighting. `python bench/bench_curves.py [--curves N]` runs it alone.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from qc.batchfit import fit_curves
from qc.curves import fit_curve
from qc.models import FOUR_PL

X_STD = np.repeat(np.r_[4000 / 2 ** np.arange(7), 0.0], 2)
SINGLE_MAX = 200  # fit_curve takes ~8 ms a curve: time it on this many
REPEATS = 5  # the curve_fit loop and the batched fits: fastest of 5 runs (the machine may be shared)


def simulate(n: int, seed: int) -> np.ndarray:
    """(n, 16) simulated standard ODs."""
    rng = np.random.default_rng(seed)
    a, d = rng.uniform(0.03, 0.08, (n, 1)), rng.uniform(2.5, 3.5, (n, 1))
    c, b = rng.uniform(800, 2500, (n, 1)), rng.uniform(0.8, 1.5, (n, 1))
    true = FOUR_PL.evaluate(X_STD, (a, b, c, d))
    return true * (1 + 0.035 * rng.standard_normal(true.shape)) + 0.003 * rng.standard_normal(true.shape)


def four_pl(x, a, b, c, d):
    return d + (a - d) / (1.0 + (x / c) ** b)


def curve_fit_one(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """What a careful user writes: p0 from the data, sigma = level mean OD (1/y^2 weights), failures caught."""
    levels, index = np.unique(x, return_inverse=True)
    means = np.bincount(index, weights=y) / np.bincount(index)
    half = means[0] + 0.5 * (means[-1] - means[0])
    c0 = levels[np.argmin(np.abs(means - half))] or np.median(levels[levels > 0])
    p0 = [means[0], 1.0, c0, means[-1]]
    try:
        params, _ = curve_fit(four_pl, x, y, p0=p0, sigma=means[index], maxfev=10_000)
    except (RuntimeError, ValueError):
        return None
    return params


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.0f} curves/s ({n} curves in {seconds * 1000:.0f} ms)"


def _best_of(repeats: int, work):
    """Fastest time of `repeats` runs (the machine may be shared) and the last result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    return min(times), result


def run(args) -> dict[str, str]:
    n = int(getattr(args, "curves", None) or 2000)
    seed = int(getattr(args, "seed", None) or 11)
    y, y_10k = simulate(n, seed), simulate(10_000, seed + 1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", OptimizeWarning)
        for y_row in y[:5]:  # warm-up
            curve_fit_one(X_STD, y_row), fit_curve(X_STD, y_row)
        fit_curves(X_STD, y[:20])
        t_scipy, scipy_params = _best_of(REPEATS, lambda: [curve_fit_one(X_STD, y_row) for y_row in y])
    n_single = min(n, SINGLE_MAX)
    t_single, singles = _best_of(1, lambda: [fit_curve(X_STD, y_row) for y_row in y[:n_single]])
    t_batch, batched = _best_of(REPEATS, lambda: fit_curves(X_STD, y))
    t_10k, batched_10k = _best_of(REPEATS, lambda: fit_curves(X_STD, y_10k))

    # how good curve_fit's answers are (weighted SSE against ours), and batched against single fits
    _, index = np.unique(X_STD, return_inverse=True)
    excess, failed = [], 0
    for y_row, params, fit in zip(y, scipy_params, batched, strict=True):
        if params is None or not np.all(np.isfinite(params)):
            failed += 1
            continue
        w = 1.0 / (np.bincount(index, weights=y_row) / np.bincount(index))[index] ** 2
        excess.append(np.sum(w * (four_pl(X_STD, *params) - y_row) ** 2) / fit.sse - 1)
    agree = max(abs(b.sse / s.sse - 1) for b, s in zip(batched, singles, strict=False))
    return {
        "scipy curve_fit loop": _rate(n, t_scipy),
        "fit_curve loop (6 starts, trf)": _rate(n_single, t_single),
        "fit_curves batched": _rate(n, t_batch),
        "batched / curve_fit loop": f"{t_scipy / t_batch:.1f}x faster",
        "batched / fit_curve loop": f"{(t_single / n_single) / (t_batch / n):.0f}x faster",
        "10,000 plates' curves batched": f"{t_10k:.2f} s ({sum(not f.converged for f in batched_10k)} not converged, "
        f"{sum('singly' in f.message for f in batched_10k)} refitted singly)",
        "curve_fit answers": f"{failed} failed; weighted SSE above ours by median {np.median(excess):.1e}, "
        f"worst {np.max(excess, initial=0):.1e} (relative)",
        "batched vs fit_curve": f"worst relative SSE difference {agree:.1e} over {n_single} curves",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--curves", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"{key}: {value}")
