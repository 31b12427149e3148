"""Westgard multirules on hand-made series (with the exact boundaries) and on simulated drift and wild values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qc.westgard import GuideSet, evaluate_rules, guide_set_from, summary

G = GuideSet(mean=100.0, sd=10.0, n=20)


def series(z: list[float], level: str | None = None) -> pd.DataFrame:
    """One value per plate at mean + z SD, plates 1..n in run order."""
    df = pd.DataFrame({"plate_id": range(1, len(z) + 1), "run_order": range(1, len(z) + 1), "value": [100.0 + 10.0 * v for v in z]})
    if level is not None:
        df["level"] = level
    return df


def rules(z: list[float]) -> list[tuple[str, int]]:
    v = evaluate_rules(series(z), G, "m")
    return list(zip(v["rule"], v["plate_id"], strict=True))


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        ([0.5, 2.0, -2.0], []),  # exactly 2 SD is not beyond 2 SD
        ([0.5, 2.01], [("1-2s", 2)]),
        ([0.5, -2.5], [("1-2s", 2)]),
        ([0.5, 3.0], [("1-2s", 2)]),  # exactly 3 SD: a warning, not 1-3s
        ([0.5, 3.01], [("1-3s", 2)]),  # 1-3s replaces the 1-2s warning of the same value
        ([0.5, -4.0], [("1-3s", 2)]),
    ],
)
def test_1_2s_and_1_3s_boundaries(z, expected):
    assert rules(z) == expected


def test_2_2s_needs_two_in_a_row_on_the_same_side():
    assert rules([0.0, 2.5, 2.2]) == [("1-2s", 2), ("1-2s", 3), ("2-2s", 3)]
    assert rules([0.0, 2.5, 2.0]) == [("1-2s", 2)]  # second value exactly at 2 SD
    assert rules([0.0, 2.5, -2.5]) == [("1-2s", 2), ("1-2s", 3)]  # opposite sides across runs: not 2-2s
    assert rules([2.5, 0.0, 2.5]) == [("1-2s", 1), ("1-2s", 3)]  # not consecutive
    v = evaluate_rules(series([0.0, -2.5, -2.2]), G, "m")
    row = v[v["rule"] == "2-2s"].iloc[0]
    assert row["severity"] == "reject" and row["plate_ids"] == [2, 3] and row["values"] == [75.0, 78.0] and row["z"] == [-2.5, -2.2]


def test_4_1s_runs_of_three_versus_four():
    assert rules([0.0, 1.5, 1.5, 1.5, 0.0]) == []  # three beyond 1 SD
    assert rules([0.0, 1.5, 1.5, 1.5, 1.5]) == [("4-1s", 5)]
    assert rules([1.5, 1.5, 1.5, 1.0]) == []  # the fourth exactly at 1 SD
    assert rules([-1.1, -1.5, -1.9, -1.2, -1.3]) == [("4-1s", 4), ("4-1s", 5)]  # each new run completing a window
    assert rules([1.5, 1.5, -1.5, 1.5]) == []  # side changes
    v = evaluate_rules(series([0.0, 1.5, 1.5, 1.5, 1.5]), G, "m")
    assert v.iloc[0]["plate_ids"] == [2, 3, 4, 5] and v.iloc[0]["severity"] == "reject"


def test_10x_runs_of_nine_versus_ten():
    assert rules([0.5] * 9 + [-0.5]) == []
    assert rules([0.5] * 10) == [("10x", 10)]
    assert rules([-0.1] * 10) == [("10x", 10)]
    assert rules([0.5] * 9 + [0.0]) == []  # exactly at the mean breaks the run
    v = evaluate_rules(series([0.5] * 10), G, "m")
    assert v.iloc[0]["plate_ids"] == list(range(1, 11))


def test_r_4s_within_one_run_across_levels():
    low = series([0.0, 2.5], "low")
    high = series([0.0, -2.5], "high")
    v = evaluate_rules(pd.concat([low, high]), G, "control")
    assert list(v["rule"]) == ["1-2s", "1-2s", "R-4s"]
    r4 = v[v["rule"] == "R-4s"].iloc[0]
    assert r4["plate_ids"] == [2, 2] and r4["values"] == [75.0, 125.0] and r4["level"] == "high|low"
    # exactly -2 SD on the other level: not R-4s
    edge = pd.concat([series([0.0, 2.5], "low"), series([0.0, -2.0], "high")])
    assert "R-4s" not in set(evaluate_rules(edge, G, "control")["rule"])
    # +2.5 and -2.5 in *different* runs of one level is not R-4s (nor 2-2s)
    assert rules([2.5, -2.5]) == [("1-2s", 1), ("1-2s", 2)]


def test_levels_are_judged_against_their_own_guide_sets_with_a_z_column():
    df = pd.concat([series([1.5] * 4, "low"), series([0.0] * 4, "high")])
    df["z"] = np.where(df["level"] == "low", 1.5, 0.0)
    v = evaluate_rules(df, None, "control")
    assert list(zip(v["rule"], v["level"])) == [("4-1s", "low")]
    df.loc[df["plate_id"] == 1, "z"] = np.nan  # not judged (no guide set yet)
    assert evaluate_rules(df, None, "control").empty
    with pytest.raises(ValueError):
        evaluate_rules(series([0.0]), None, "m")


def test_guide_set_from_first_n_and_summary():
    df = series(list(np.linspace(-1, 1, 25)))
    g = guide_set_from(df.sample(frac=1, random_state=1), n=20)  # order comes from run_order, not row order
    first = df["value"].iloc[:20]
    assert g.n == 20 and g.mean == pytest.approx(first.mean()) and g.sd == pytest.approx(first.std(ddof=1))
    assert guide_set_from(df.iloc[:5], n=20).n == 5  # not enough yet: the caller says so
    s = summary(df.assign(metric="m"))
    assert s.iloc[0]["n"] == 25 and s.iloc[0]["cv_pct"] == pytest.approx(100 * df["value"].std() / df["value"].mean())
    with pytest.raises(ValueError):
        GuideSet(100.0, 0.0, 20).z([100.0])


# --- simulations (pure numpy) -------------------------------------------------------------------

CV = 0.05  # bridging pool: 5 % CV around its target


def _pool(n: int, seed: int) -> np.ndarray:
    return 25000.0 * np.exp(CV * np.random.default_rng(seed).standard_normal(n))


def _drift_from(values: np.ndarray, start: int) -> np.ndarray:
    out = values.astype(float).copy()
    k = np.arange(1, len(values) - start + 1)
    out[start:] = values[start:] * 0.98**k  # a slow 2 % fall per plate after the guide set
    return out


def _first(v: pd.DataFrame, rules: tuple[str, ...]) -> int:
    hits = v[v["rule"].isin(rules)]
    return int(hits["plate_id"].iloc[0]) if len(hits) else 10**6


def test_noise_free_drift_is_flagged_by_4_1s_exactly_where_the_rule_implies():
    guide = GuideSet(25000.0, 25000.0 * CV, 20)
    v = evaluate_rules(series_of(_drift_from(np.full(40, 25000.0), 20)), guide, "bridge")
    beyond_1sd = 20 + math.ceil(math.log(1 - CV) / math.log(0.98))  # first plate more than 1 SD below (plate 23)
    assert beyond_1sd == 23
    assert _first(v, ("4-1s",)) == beyond_1sd + 3  # the fourth plate in a row beyond 1 SD
    assert _first(v, ("10x",)) == 30  # ten in a row below the mean
    assert _first(v, ("1-2s", "1-3s", "2-2s", "4-1s", "10x")) == beyond_1sd + 3  # 4-1s sees it before 2 SD is reached


def test_noisy_drift_is_flagged_by_4_1s_or_10x_within_the_plates_the_rules_imply():
    """Noise-free, 4-1s fires 6 plates into the drift (above). With a 5 % CV and a guide set of 20 noisy plates,
    a value near the mean can break a run, so each seed gets up to 10x's ten plates plus two of slack (a 22 % fall,
    about 4.5 SD), and the typical (median) seed is at most one plate later than the noise-free case."""
    firsts = []
    for seed in range(8):
        values = _pool(40, seed)
        guide = guide_set_from(pd.Series(values[:20]), n=20)
        v = evaluate_rules(series_of(_drift_from(values, 20)), guide, "bridge")
        first = _first(v, ("4-1s", "10x"))
        assert 20 < first <= 20 + 10 + 2, (seed, first)
        firsts.append(first)
    assert np.median(firsts) <= 26 + 1, firsts


def series_of(values: np.ndarray) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({"plate_id": np.arange(1, n + 1), "run_order": np.arange(1, n + 1), "value": values})


def seed_noise_is_wild(values: np.ndarray, guide: GuideSet) -> bool:
    return bool((np.abs(guide.z(values[:40])) > 3).any())


@pytest.mark.parametrize("seed", range(8))
def test_a_single_wild_value_is_flagged_only_by_1_3s(seed):
    values = _pool(40, seed)
    guide = guide_set_from(pd.Series(values[:20]), n=20)
    clean = evaluate_rules(series_of(values), guide, "bridge")
    z = guide.z(values)
    # a single wild value among in-control ones: its neighbours are within 1 SD (else a neighbour beyond 2 SD on
    # the same side would rightly make a 2-2s with it)
    at = next(i for i in range(25, 39) if abs(z[i - 1]) < 1 and abs(z[i + 1]) < 1)
    wild = values.copy()
    wild[at] = guide.mean + 6 * guide.sd
    v = evaluate_rules(series_of(wild), guide, "bridge")
    new = v.merge(clean, how="left", on=["rule", "plate_id"], indicator=True, suffixes=("", "_clean"))
    new = new[(new["_merge"] == "left_only") & (new["severity"] == "reject")]
    assert list(zip(new["rule"], new["plate_id"])) == [("1-3s", at + 1)]
