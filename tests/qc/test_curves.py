"""qc.models and qc.curves: formulas against hand-computed values, round trips, recovery, and failure as data."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import curve_fit

from qc.curves import ENGINE_VERSION, FitResult, fit_curve, predict_params
from qc.models import FIVE_PL, FOUR_PL, get_model

X_STD = np.repeat(np.r_[4000 / 2 ** np.arange(7), 0.0], 2)  # S1..S7 two-fold from 4000 + blank, duplicates
TRUE_4PL = (0.05, 1.1, 1500.0, 3.2)
TRUE_5PL = (0.05, 1.6, 900.0, 3.3, 0.7)  # asymmetric, and the standards span most of the curve


def noisy(model, params, seed: int, cv: float = 0.035) -> np.ndarray:
    """Simulated standards: true response times (1 + cv * N(0, 1))."""
    rng = np.random.default_rng(seed)
    return model.evaluate(X_STD, params) * (1 + cv * rng.standard_normal(X_STD.size))


# --- formulas -------------------------------------------------------------------------------------


def test_4pl_at_inflection_is_midway_between_asymptotes():
    assert FOUR_PL.evaluate(800.0, (0.05, 1.2, 800.0, 3.2)) == pytest.approx((0.05 + 3.2) / 2, rel=1e-12)


def test_4pl_hand_computed_values_and_inverse():
    p = (0.05, 1.2, 800.0, 3.2)
    # x = 1600: (x/c)^b = 2^1.2 = 2.2973967; y = 3.2 - 3.15 / 3.2973967 = 2.2447009
    assert FOUR_PL.evaluate(1600.0, p) == pytest.approx(2.2447009, rel=1e-7)
    assert FOUR_PL.evaluate(0.0, p) == pytest.approx(0.05, rel=1e-12)  # zero standard reads a
    assert FOUR_PL.inverse(1.625, p) == pytest.approx(800.0, rel=1e-12)
    assert FOUR_PL.inverse(2.2447009, p) == pytest.approx(1600.0, rel=1e-6)


def test_5pl_hand_computed_values_and_inverse():
    p = (0.05, 1.2, 800.0, 3.2, 0.5)
    # x = c: (1 + 1)^0.5 = 1.4142136; y = 3.2 - 3.15 / 1.4142136 = 0.9726136
    assert FIVE_PL.evaluate(800.0, p) == pytest.approx(0.9726136, rel=1e-7)
    assert FIVE_PL.inverse(0.9726136, p) == pytest.approx(800.0, rel=1e-6)
    # g = 1 is the 4PL
    x = np.array([0.0, 10.0, 800.0, 5000.0])
    np.testing.assert_allclose(FIVE_PL.evaluate(x, (*p[:4], 1.0)), FOUR_PL.evaluate(x, p[:4]), rtol=1e-14)


def test_jacobians_match_finite_differences():
    x = np.r_[0.0, np.geomspace(5, 20000, 12)]
    for model, p in ((FOUR_PL, np.array(TRUE_4PL)), (FIVE_PL, np.array((0.05, 1.2, 800.0, 3.2, 0.5)))):
        jac = model.jacobian(x, p)
        for i in range(model.nparams):
            h = 1e-6 * max(abs(p[i]), 1e-3)
            up, down = p.copy(), p.copy()
            up[i] += h
            down[i] -= h
            numeric = (model.evaluate(x, up) - model.evaluate(x, down)) / (2 * h)
            np.testing.assert_allclose(jac[:, i], numeric, rtol=1e-5, atol=1e-9)


def test_models_broadcast_for_a_batched_fitter():
    a = np.array([[0.05], [0.1]])
    y = FOUR_PL.evaluate(np.array([[100.0, 1000.0], [100.0, 1000.0]]), (a, 1.1, 1500.0, 3.2))
    assert y.shape == (2, 2)
    assert y[1, 0] > y[0, 0]


def curve(model: str, **params: float) -> FitResult:
    """A converged FitResult with given parameters (what a fit would return), for exercising predict/inverse."""
    return FitResult(
        model=model,
        weighting="1/y2",
        params=params,
        stderr=dict.fromkeys(params),
        covar=None,
        converged=True,
        message="converged.",
        ndata=16,
        nfree=12,
        sse=0.0,
        r2=1.0,
        aic=0.0,
    )


@settings(max_examples=300, deadline=None)
@given(
    a=st.floats(0.01, 0.2),
    d=st.floats(1.5, 4.0),
    c=st.floats(50, 5000),
    b=st.floats(0.5, 2.5),
    log_ratio=st.floats(-2, 2),
    g=st.floats(0.3, 3.0),
)
def test_inverse_undoes_predict(a, d, c, b, log_ratio, g):
    """x from c/100 to 100c: inverse(predict(x)) == x to 1e-6 wherever the response is at least 1 ppm of the
    range away from an asymptote (closer than that, float64 cannot tell y from the asymptote; readers give 0.001 OD)."""
    x = c * 10**log_ratio
    for fitted in (curve("4pl", a=a, b=b, c=c, d=d), curve("5pl", a=a, b=b, c=c, d=d, g=g)):
        y = fitted.predict(x)
        if min(y - a, d - y) > 1e-6 * (d - a):
            assert fitted.inverse(y) == pytest.approx(x, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(a=st.floats(0.01, 0.2), d=st.floats(1.5, 4.0), c=st.floats(50, 5000), b=st.floats(0.5, 2.5), t=st.floats(0, 1))
def test_inverse_is_nan_outside_the_asymptotes(a, d, c, b, t):
    p = (a, b, c, d)
    span = d - a
    assert math.isnan(FOUR_PL.inverse(a - t * span - 1e-9, p))
    assert math.isnan(FOUR_PL.inverse(d + t * span + 1e-9, p))
    assert math.isnan(FOUR_PL.inverse(a, p)) and math.isnan(FOUR_PL.inverse(d, p))  # open interval
    # a decreasing (competitive) curve has the interval the other way round
    q = (d, b, c, a)
    assert math.isnan(FOUR_PL.inverse(d + 1e-9, q)) and math.isnan(FOUR_PL.inverse(a - 1e-9, q))
    assert not math.isnan(FOUR_PL.inverse((a + d) / 2, q))


def test_get_model_rejects_unknown_names():
    assert get_model(" 5PL ") is FIVE_PL
    with pytest.raises(ValueError, match="unknown curve model 'logit'"):
        get_model("logit")


# --- fitting: recovery and optimality ------------------------------------------------------------


def test_recovers_4pl_params_from_noiseless_standards_to_8_significant_digits():
    fit = fit_curve(X_STD, FOUR_PL.evaluate(X_STD, TRUE_4PL))
    assert fit.converged, fit.message
    for name, true in zip("abcd", TRUE_4PL, strict=True):
        assert fit.params[name] == pytest.approx(true, rel=1e-8)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.ndata == 16 and fit.nfree == 12


def test_recovers_5pl_params_from_noiseless_standards_to_6_significant_digits():
    fit = fit_curve(X_STD, FIVE_PL.evaluate(X_STD, TRUE_5PL), model="5pl")
    assert fit.converged, fit.message
    for name, true in zip("abcdg", TRUE_5PL, strict=True):
        assert fit.params[name] == pytest.approx(true, rel=1e-6)


# Median / worst relative error of (a, b, c, d) over 20 seeded plates with OD CV 3.5%, and the worst
# relative error of the fitted curve over 62.5-4000 pg/mL, per weighting (measured: 1/y2 gives
# median a 1.3%, b 2.1%, c 6.6%, d 3.3%; unweighted fits are poor for multiplicative noise, as expected).
ACCURACY = {
    "1/y2": ((0.02, 0.03, 0.08, 0.05), 0.06),
    "1/y": ((0.03, 0.03, 0.10, 0.05), 0.07),
    "1/var": ((0.03, 0.03, 0.13, 0.06), 0.07),
    "none": ((0.20, 0.07, 0.16, 0.08), 0.12),
}


@pytest.mark.parametrize("weighting", ACCURACY)
def test_noisy_4pl_standards_recover_params_with_stated_accuracy(weighting):
    """20 seeded plates, OD CV 3.5%: median parameter errors and worst curve error below ACCURACY[weighting]."""
    grid = np.geomspace(62.5, 4000, 40)
    errors, curve_errors = [], []
    for seed in range(20):
        fit = fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, seed), weighting=weighting)
        assert fit.converged, fit.message
        errors.append([abs(fit.params[k] / t - 1) for k, t in zip("abcd", TRUE_4PL, strict=True)])
        curve_errors.append(np.max(np.abs(fit.predict(grid) / FOUR_PL.evaluate(grid, TRUE_4PL) - 1)))
    param_limits, curve_limit = ACCURACY[weighting]
    assert (np.median(errors, axis=0) < param_limits).all(), np.median(errors, axis=0)
    assert max(curve_errors) < curve_limit


def test_noisy_5pl_curve_within_8_percent_of_truth():
    grid = np.geomspace(62.5, 4000, 40)
    for seed in range(10):
        fit = fit_curve(X_STD, noisy(FIVE_PL, TRUE_5PL, seed), model="5pl")
        assert fit.converged, fit.message
        assert np.max(np.abs(fit.predict(grid) / FIVE_PL.evaluate(grid, TRUE_5PL) - 1)) < 0.08


def _fittedsse(model, params, y: np.ndarray) -> float:
    """Weighted SSE of scipy's curve_fit started from the true parameters, with our 1/y2 weights."""
    levels, index = np.unique(X_STD, return_inverse=True)
    sigma = (np.bincount(index, weights=y) / np.bincount(index))[index]  # 1/y2 of the level mean
    best, _ = curve_fit(lambda x, *p: model.evaluate(x, p), X_STD, y, p0=params, sigma=sigma, maxfev=20000)
    return float(np.sum(((model.evaluate(X_STD, best) - y) / sigma) ** 2))


@pytest.mark.parametrize("seed", range(15))
def test_sse_not_worse_than_fittedstarted_at_the_truth(seed):
    y = noisy(FOUR_PL, TRUE_4PL, seed)
    fit = fit_curve(X_STD, y)
    assert fit.sse <= _fittedsse(FOUR_PL, TRUE_4PL, y) * (1 + 1e-9)
    y5 = noisy(FIVE_PL, TRUE_5PL, seed)
    fit5 = fit_curve(X_STD, y5, model="5pl")
    assert fit5.sse <= _fittedsse(FIVE_PL, TRUE_5PL, y5) * (1 + 1e-9)


def test_fits_a_decreasing_competitive_curve():
    true = (3.0, 1.0, 300.0, 0.1)  # high OD at zero dose
    fit = fit_curve(X_STD, noisy(FOUR_PL, true, seed=3, cv=0.02))
    assert fit.converged
    assert fit.params["a"] == pytest.approx(3.0, rel=0.05)
    assert fit.params["c"] == pytest.approx(300.0, rel=0.15)
    assert fit.inverse(fit.predict(500.0)) == pytest.approx(500.0, rel=1e-9)
    assert math.isnan(fit.inverse(3.5))


def test_nan_pairs_are_dropped():
    y = FOUR_PL.evaluate(X_STD, TRUE_4PL)
    y[[0, 5]] = np.nan
    x = X_STD.copy()
    x[7] = np.nan
    fit = fit_curve(x, y)
    assert fit.converged and fit.ndata == 13
    assert fit.params["c"] == pytest.approx(1500.0, rel=1e-8)


def test_result_is_frozen_and_summary_is_json_ready():
    fit = fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.converged = False  # type: ignore[misc]
    summary = fit.summary()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text)["params"]["c"] == pytest.approx(fit.params["c"])
    assert summary["engine_version"] == ENGINE_VERSION
    assert all(isinstance(v, float) for v in summary["stderr"].values())
    assert np.asarray(summary["covar"]).shape == (4, 4)
    assert isinstance(fit.predict(100.0), float) and fit.predict([1.0, 2.0]).shape == (2,)


def test_stderr_is_consistent_with_the_scatter_of_refits():
    """Reported stderr of c is within a factor 2 of the spread of c over 40 simulated plates."""
    cs = [fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, s)).params["c"] for s in range(40)]
    reported = fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, 99)).stderr["c"]
    assert 0.5 < reported / np.std(cs, ddof=1) < 2.0


# --- failures are data, misuse is an error -------------------------------------------------------

DEGENERATE = {
    "flat": (X_STD, np.full(X_STD.size, 0.8), "4pl", "1/y2", "flat"),
    "all NaN": (X_STD, np.full(X_STD.size, np.nan), "4pl", "1/y2", "NaN"),
    "three levels": (X_STD[:6], FOUR_PL.evaluate(X_STD[:6], TRUE_4PL), "4pl", "1/y2", "at least 4"),
    "5pl with five levels": (X_STD[6:], FOUR_PL.evaluate(X_STD[6:], TRUE_4PL), "5pl", "1/y2", "at least 6"),
    "hook (non-monotone)": (X_STD, np.r_[[0.9, 0.92], FOUR_PL.evaluate(X_STD[2:], TRUE_4PL)], "4pl", "none", "not monotone"),
    "noise only": (X_STD, np.random.default_rng(0).normal(0.5, 0.05, X_STD.size), "4pl", "none", "not monotone"),
    "zero and negative y for 1/y2": (X_STD, FOUR_PL.evaluate(X_STD, TRUE_4PL) - 0.08, "4pl", "1/y2", "positive"),
    "negative y for 1/y": (X_STD, FOUR_PL.evaluate(X_STD, TRUE_4PL) - 0.08, "4pl", "1/y", "positive"),
    "identical replicates for 1/var": (X_STD, FOUR_PL.evaluate(X_STD, TRUE_4PL), "4pl", "1/var", "identical"),
    "single replicates for 1/var": (X_STD[::2], FOUR_PL.evaluate(X_STD[::2], TRUE_4PL), "4pl", "1/var", "single"),
    "negative concentration": (X_STD - 100, FOUR_PL.evaluate(X_STD, TRUE_4PL), "4pl", "none", "negative"),
}


@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_data_give_converged_false_with_a_message(case):
    x, y, model, weighting, words = DEGENERATE[case]
    fit = fit_curve(x, y, model=model, weighting=weighting)
    assert isinstance(fit, FitResult)
    assert fit.converged is False
    assert words in fit.message
    assert math.isnan(fit.inverse(1.0))
    assert np.isnan(fit.inverse([0.5, 1.0])).all()
    json.dumps(fit.summary(), allow_nan=False)


def test_inverse_of_a_fit_is_nan_outside_the_asymptotes():
    fit = fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, 2))
    a, d = fit.params["a"], fit.params["d"]
    out = fit.inverse([a - 0.01, a, d, d + 0.01, np.nan, (a + d) / 2])
    assert np.isnan(out[:5]).all() and np.isfinite(out[5])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"x": [1, 2, 3], "y": [1, 2]}, "same shape"),
        ({"x": X_STD, "y": X_STD, "model": "6pl"}, "unknown curve model"),
        ({"x": X_STD, "y": X_STD, "weighting": "1/x"}, "unknown weighting"),
    ],
)
def test_misuse_raises_value_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        fit_curve(**kwargs)


def test_predict_params_redraws_a_stored_curve():
    fit = fit_curve(X_STD, noisy(FOUR_PL, TRUE_4PL, 5))
    stored = json.loads(json.dumps(fit.summary()))
    grid = np.geomspace(10, 8000, 25)
    np.testing.assert_allclose(predict_params(stored["model"], stored["params"], grid), fit.predict(grid), rtol=1e-12)
    assert np.isnan(predict_params("4pl", {"a": None, "b": 1.0, "c": 100.0, "d": 2.0}, grid)).all()


def test_weighting_aliases():
    y = noisy(FOUR_PL, TRUE_4PL, 4)
    assert fit_curve(X_STD, y, weighting="1/Y^2").weighting == "1/y2"


# --- purity of the qc package ----------------------------------------------------------------------

FORBIDDEN = {"sqlalchemy", "sqlmodel", "streamlit", "alembic", "labdb", "dashboards"}


def test_qc_package_imports_no_database_ui_or_app_code_and_opens_no_files():
    qc_dir = Path(__file__).resolve().parents[2] / "qc"
    for path in sorted(qc_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                roots = set()
            assert not roots & FORBIDDEN, f"{path.name} imports {roots & FORBIDDEN}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{path.name} opens a file"
