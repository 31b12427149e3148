"""qc.batchfit: the batched fitter gives the single fit's answers (same optimum, statistics, failures), fast."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from qc import batchfit
from qc.acceptance import QcPolicy
from qc.batchfit import fit_curves
from qc.curves import FitResult, build_fit, fit_curve, prepare_data, select_model
from qc.models import FIVE_PL, FOUR_PL, get_model

X_STD = np.repeat(np.r_[4000 / 2 ** np.arange(7), 0.0], 2)  # S1..S7 two-fold from 4000 + zero standard, duplicates
WEIGHTINGS = ("1/y2", "1/y", "none", "1/var")


def simulate(n: int, seed: int, model=FOUR_PL, g: float | None = None, b=(0.8, 1.5), c=(800, 2500)) -> np.ndarray:
    """(n, 16) plates: a~U(0.03, 0.08), d~U(2.5, 3.5), b, c uniform; OD noise 3.5% multiplicative + 0.003 additive."""
    rng = np.random.default_rng(seed)
    params = [rng.uniform(0.03, 0.08, (n, 1)), rng.uniform(*b, (n, 1)), rng.uniform(*c, (n, 1)), rng.uniform(2.5, 3.5, (n, 1))]
    true = model.evaluate(X_STD, params + ([g] if g is not None else []))
    return true * (1 + 0.035 * rng.standard_normal(true.shape)) + 0.003 * rng.standard_normal(true.shape)


PLATES = simulate(200, seed=2024)


def assert_same_fit(batched: FitResult, single: FitResult, params_rtol: float = 1e-4) -> None:
    """Same optimum (SSE within 1e-6 relative or lower, parameters to params_rtol) and the same result fields."""
    assert (batched.model, batched.weighting, batched.converged) == (single.model, single.weighting, single.converged)
    assert (batched.ndata, batched.nfree) == (single.ndata, single.nfree)
    if not single.converged:
        assert batched.message == single.message
        return
    assert batched.message == single.message, (batched.message, single.message)
    assert batched.sse <= single.sse * (1 + 1e-6)
    for name, value in single.params.items():
        assert batched.params[name] == pytest.approx(value, rel=params_rtol), name
    assert batched.r2 == pytest.approx(single.r2, rel=1e-6)
    assert batched.aic == pytest.approx(single.aic, rel=1e-6, abs=1e-6)
    assert (batched.covar is None) == (single.covar is None)
    for name, value in single.stderr.items():
        assert (batched.stderr[name] is None) == (value is None)
        if value is not None:
            assert batched.stderr[name] == pytest.approx(value, rel=1e-3), name


# --- the same optimum as fit_curve ----------------------------------------------------------------------


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_4pl_batched_equals_single_fits_on_200_plates(weighting):
    batched = fit_curves(X_STD, PLATES, "4pl", weighting)
    for y, fit in zip(PLATES, batched, strict=True):
        assert fit.converged and fit.message == "converged."
        assert_same_fit(fit, fit_curve(X_STD, y, "4pl", weighting))


# 5PL on these 4PL plates is the hard case (g is barely determined, often at its bound). Single 5PL fits take
# ~35 ms, so the 200 plates are shared out, 50 to each weighting, to keep this file well under 30 s.
@pytest.mark.parametrize(("weighting", "rows"), [(w, slice(50 * i, 50 * i + 50)) for i, w in enumerate(WEIGHTINGS)])
def test_5pl_batched_equals_single_fits_on_200_plates(weighting, rows):
    batched = fit_curves(X_STD, PLATES[rows], "5pl", weighting)
    assert sum("reached the bounds" in f.message for f in batched) > 0  # the bound handling is exercised
    for y, fit in zip(PLATES[rows], batched, strict=True):
        assert_same_fit(fit, fit_curve(X_STD, y, "5pl", weighting))


@pytest.mark.parametrize("model", ["4pl", "5pl"])
def test_statistics_are_build_fits_to_rounding(model):
    """The vectorised statistics equal build_fit's at the batched parameters, for every weighting."""
    curve_model = get_model(model)
    for weighting in WEIGHTINGS:
        for y, fit in zip(PLATES[:50], fit_curves(X_STD, PLATES[:50], model, weighting), strict=True):
            params = np.array([fit.params[p] for p in curve_model.param_names])
            ref = build_fit(curve_model, weighting, prepare_data(curve_model, X_STD, y, weighting), params, True, fit.message)
            for field in ("sse", "r2", "aic"):
                assert getattr(fit, field) == pytest.approx(getattr(ref, field), rel=1e-10), field
            assert (fit.covar is None) == (ref.covar is None)
            if ref.covar is not None:
                np.testing.assert_allclose(fit.covar, ref.covar, rtol=1e-8)
            for name, value in ref.stderr.items():
                assert fit.stderr[name] == (None if value is None else pytest.approx(value, rel=1e-8))
            assert (fit.converged, fit.ndata, fit.nfree) == (ref.converged, ref.ndata, ref.nfree)


def test_start_values_are_the_models():
    _, levels, means, _, _ = batchfit._levels(np.broadcast_to(X_STD, PLATES.shape), PLATES, np.isfinite(PLATES))
    decreasing = batchfit._levels(np.broadcast_to(X_STD, PLATES.shape), PLATES[:, ::-1], np.isfinite(PLATES))
    for model in (FOUR_PL, FIVE_PL):
        with np.errstate(all="ignore"):
            starts = batchfit._start_params(model, levels, means)
            starts_dec = batchfit._start_params(model, decreasing[1], decreasing[2])
        for i in range(0, 200, 7):
            np.testing.assert_allclose(starts[i], model.start_values(X_STD, PLATES[i]), rtol=1e-10)
            np.testing.assert_allclose(starts_dec[i], model.start_values(X_STD, PLATES[i, ::-1]), rtol=1e-10)


def test_first_start_only_is_the_optimum_of_all_starts():
    for model in ("4pl", "5pl"):
        adaptive, every = fit_curves(X_STD, PLATES, model), fit_curves(X_STD, PLATES, model, all_starts=True)
        for a, e in zip(adaptive, every, strict=True):
            assert a.sse <= e.sse * (1 + 1e-9)


def test_noiseless_curves_are_recovered_exactly():
    truths = [(0.05, 1.1, 1500.0, 3.2), (3.0, 1.0, 300.0, 0.1)]  # rising, and falling (competitive)
    y = np.array([FOUR_PL.evaluate(X_STD, t) for t in truths])
    for fit, truth in zip(fit_curves(X_STD, y), truths, strict=True):
        assert fit.converged
        assert [fit.params[k] for k in "abcd"] == pytest.approx(truth, rel=1e-8)
    fit5 = fit_curves(X_STD, FIVE_PL.evaluate(X_STD, (0.05, 1.6, 900.0, 3.3, 0.7))[None], "5pl")[0]
    assert [fit5.params[k] for k in "abcdg"] == pytest.approx((0.05, 1.6, 900.0, 3.3, 0.7), rel=1e-6)


# --- ragged and padded batches ---------------------------------------------------------------------------


def test_ragged_padded_curves_equal_single_fits():
    """Rows with missing wells, lost levels, triplicates, other dilution series and NaN padding at the end."""
    rng = np.random.default_rng(7)
    x = np.full((60, 24), np.nan)
    y = np.full((60, 24), np.nan)
    for i in range(60):
        kind = i % 4
        if kind == 0:  # duplicates with 1-3 wells lost
            xi, yi = X_STD.copy(), PLATES[i].copy()
            yi[rng.choice(16, rng.integers(1, 4), replace=False)] = np.nan
        elif kind == 1:  # top standard and a replicate dropped, x missing too
            xi, yi = X_STD[2:].copy(), PLATES[i, 2:].copy()
            xi[3] = np.nan
        elif kind == 2:  # triplicates, three-fold from 10000
            xi = np.repeat(np.r_[10000 / 3 ** np.arange(7), 0.0], 3)
            yi = FOUR_PL.evaluate(xi, (0.06, 1.2, 900.0, 3.0)) * (1 + 0.04 * rng.standard_normal(24))
        else:  # singlets, shuffled
            perm = rng.permutation(8)
            xi, yi = X_STD[::2][perm], PLATES[i, ::2][perm]
        x[i, : xi.size], y[i, : yi.size] = xi, yi
    for weighting in ("1/y2", "none"):
        for i, fit in enumerate(fit_curves(x, y, "4pl", weighting)):
            assert_same_fit(fit, fit_curve(x[i], y[i], "4pl", weighting))


# --- failures are data and stay out of the way ------------------------------------------------------------


def _pad(v: np.ndarray, n: int = 16) -> np.ndarray:
    return np.r_[v, np.full(n - v.size, np.nan)]


DEGENERATE = {  # (x, y, model, weighting): the cases of test_curves.py, padded to 16 points
    "flat": (X_STD, np.full(16, 0.8), "4pl", "1/y2"),
    "all NaN": (X_STD, np.full(16, np.nan), "4pl", "1/y2"),
    "three levels": (_pad(X_STD[:6]), _pad(FOUR_PL.evaluate(X_STD[:6], (0.05, 1.1, 1500.0, 3.2))), "4pl", "1/y2"),
    "5pl with five levels": (_pad(X_STD[6:]), _pad(FOUR_PL.evaluate(X_STD[6:], (0.05, 1.1, 1500.0, 3.2))), "5pl", "1/y2"),
    "hook": (X_STD, np.r_[[0.9, 0.92], FOUR_PL.evaluate(X_STD[2:], (0.05, 1.1, 1500.0, 3.2))], "4pl", "none"),
    "noise only": (X_STD, np.random.default_rng(0).normal(0.5, 0.05, 16), "4pl", "none"),
    "negative y for 1/y2": (X_STD, FOUR_PL.evaluate(X_STD, (0.05, 1.1, 1500.0, 3.2)) - 0.08, "4pl", "1/y2"),
    "negative y for 1/y": (X_STD, FOUR_PL.evaluate(X_STD, (0.05, 1.1, 1500.0, 3.2)) - 0.08, "4pl", "1/y"),
    "identical replicates": (X_STD, FOUR_PL.evaluate(X_STD, (0.05, 1.1, 1500.0, 3.2)), "4pl", "1/var"),
    "single replicates": (_pad(X_STD[::2]), _pad(FOUR_PL.evaluate(X_STD[::2], (0.05, 1.1, 1500.0, 3.2))), "4pl", "1/var"),
    "negative concentration": (X_STD - 100, FOUR_PL.evaluate(X_STD, (0.05, 1.1, 1500.0, 3.2)), "4pl", "none"),
    "one point": (_pad(X_STD[:1]), _pad(PLATES[0, :1]), "5pl", "none"),
}


@pytest.mark.parametrize(("model", "weighting"), sorted({(m, w) for _, _, m, w in DEGENERATE.values()}))
def test_degenerate_curves_in_a_batch_fail_like_single_fits_and_leave_the_others_alone(model, weighting):
    cases = [c for c in DEGENERATE.values() if c[2:] == (model, weighting)]
    good_y = PLATES[:30]
    alone = fit_curves(X_STD, good_y, model, weighting)
    x = np.vstack([np.broadcast_to(X_STD, good_y.shape)] + [c[0][None] for c in cases])
    y = np.vstack([good_y] + [c[1][None] for c in cases])
    order = np.random.default_rng(1).permutation(len(y))  # degenerate rows scattered among the good ones
    fits = fit_curves(x[order], y[order], model, weighting)
    for row, fit in zip(order, fits, strict=True):
        if row < len(good_y):
            assert fit.converged and fit.params == pytest.approx(alone[row].params, rel=1e-12)
        else:
            single = fit_curve(x[row], y[row], model, weighting)
            assert not fit.converged and fit.message == single.message and fit.ndata == single.ndata
            assert math.isnan(fit.inverse(1.0))
            json.dumps(fit.summary(), allow_nan=False)


def test_curves_the_batch_does_not_converge_are_fitted_singly_and_say_so(monkeypatch):
    monkeypatch.setattr(batchfit, "MAX_ITER", 2)
    fits = fit_curves(X_STD, PLATES[:3])
    for y, fit in zip(PLATES[:3], fits, strict=True):
        single = fit_curve(X_STD, y)
        assert fit.message == "converged; fitted singly because the batched fit did not converge."
        assert fit.params == single.params and fit.sse == single.sse


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"x": X_STD, "y": X_STD}, "n_curves, n_points"),
        ({"x": X_STD[:5], "y": PLATES}, "n_curves, n_points"),
        ({"x": X_STD, "y": PLATES, "model": "6pl"}, "unknown curve model"),
        ({"x": X_STD, "y": PLATES, "weighting": "1/x"}, "unknown weighting"),
    ],
)
def test_misuse_raises_value_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        fit_curves(**kwargs)


def test_an_empty_batch_gives_no_fits():
    assert fit_curves(X_STD, np.empty((0, 16))) == []


def test_results_are_curve_fits_that_predict_and_invert():
    fit = fit_curves(X_STD, PLATES[:1])[0]
    assert isinstance(fit, FitResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.converged = False  # type: ignore[misc]
    assert fit.inverse(fit.predict(700.0)) == pytest.approx(700.0, rel=1e-9)
    assert json.loads(json.dumps(fit.summary(), allow_nan=False))["params"]["c"] == pytest.approx(fit.params["c"])


# --- automatic model choice --------------------------------------------------------------------------------

ASYMMETRIC = simulate(200, seed=5, model=FIVE_PL, g=0.4, b=(2.0, 3.0), c=(100, 300))  # both plateaus in range


def test_auto_picks_4pl_on_4pl_data():
    """AIC margin 2 is about a likelihood-ratio test at 5%: measured 7% of noisy 4PL plates go to 5PL."""
    fits = fit_curves(X_STD, PLATES, "auto")
    assert sum(f.model == "4pl" for f in fits) >= 0.88 * len(fits)


def test_auto_picks_5pl_on_clearly_asymmetric_data():
    fits = fit_curves(X_STD, ASYMMETRIC, "auto")  # 8 levels
    assert sum(f.model == "5pl" for f in fits) >= 0.9 * len(fits)  # measured 96%
    assert all(f.converged for f in fits)


def test_auto_never_picks_5pl_with_fewer_than_6_levels():
    keep = X_STD >= 500  # 4000, 2000, 1000, 500: four levels
    fits = fit_curves(X_STD[keep], ASYMMETRIC[:, keep], "auto")
    assert all(f.model == "4pl" for f in fits)
    assert sum(f.converged for f in fits) >= 190  # a few top-plateau-only curves are not monotone
    five = np.isin(X_STD, [4000, 2000, 1000, 500, 0])  # five levels
    assert all(f.model == "4pl" for f in fit_curves(X_STD[five], ASYMMETRIC[:, five], "auto"))
    assert select_model(X_STD[five], ASYMMETRIC[0, five])[0] == "4pl"


def test_auto_single_and_batched_agree():
    for y in (PLATES[0], ASYMMETRIC[0], ASYMMETRIC[1]):
        name, fit = select_model(X_STD, y)
        assert fit.model == name
        assert fit_curve(X_STD, y, model="auto").params == fit.params
        assert fit_curves(X_STD, y[None], "auto")[0].model == name
    assert select_model(X_STD, ASYMMETRIC[0])[0] == "5pl"
    flat = fit_curve(X_STD, np.full(16, 0.8), model="auto")  # failures stay data
    assert (flat.model, flat.converged) == ("4pl", False) and "flat" in flat.message


def test_policy_accepts_auto():
    assert QcPolicy(model="Auto").model == "auto"
    assert QcPolicy.from_dict({"model": "5PL"}).model == "5pl"
    with pytest.raises(ValueError, match="unknown curve model"):
        QcPolicy(model="6pl")
