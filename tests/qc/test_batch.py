"""Batch correction (qc.batch) proved on a simulated study with known plate, lot and season effects.

The study (`simulate` below, pure numpy, seed 1): 60 plates x 38 samples run in collection order (collection day
+ N(0, 25 d)), so season and plate are partly confounded (Cramer's V 0.85) and the second lot (+log 1.12, from plate
25 on) coincides with spring-autumn; plate noise SD 0.06, well noise 0.04, subject SD 0.25; season effects winter
-0.15, spring 0, summer +0.15, autumn 0 (summer - winter = 0.30). BP1 (3 wells) bridges, QC2 (2 wells) is the
independent check, used by no correction. Numbers achieved (seed 1):

  QC2 across-plate CV  before 7.7 %  | within-plate CV 3.9 %
    bridge 3.8 % (0.98x within) | ComBat 4.5 % (1.17x) | mixed 4.1 % (1.06x) | lot only 6.2 % (plate noise stays)
  summer - winter (OLS on samples, truth 0.30): before 0.42 (lot shift leaks into season)
    bridge 0.30 | ComBat 0.32 | mixed 0.31
  plate share of variance (REML, samples): before 5.7 % plate + 5.9 % lot, after < 0.01 % for every method
  lot shift from 2 x 100 simulated standard curves: 0.111 vs truth 0.113 (2 % off), 95 % CI covers the truth
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qc.batch import (
    ConfoundedDesign,
    bridge_correct,
    check_design,
    combat_correct,
    correct,
    lot_correct,
    lot_shifts_from_standards,
    mixed_correct,
    pool_cv,
)

# --- the simulated study (pure numpy) -------------------------------------------------------------------------------
# Natural-log model of one well: true sample value (sample type + season + diagnosis + subject) + plate shift (lot
# shift + plate noise) + well noise. Plates are filled in collection order (collection day + N(0, sd) days), so season
# and plate are partly confounded; the second lot starts at 40 % of the plates, so lot and season are too. Each plate
# carries 3 wells of bridge pool BP1 and 2 wells of check pool QC2 (with a plate-level aliquot noise on top).

SEASONS = ("autumn", "spring", "summer", "winter")
SEASON_EFFECT = {"winter": -0.15, "spring": 0.0, "summer": 0.15, "autumn": 0.0}
TYPE_LEVEL = {"serum": np.log(30000.0), "plasma_edta": np.log(1200.0)}
MDD_EFFECT = -0.13
LOT_SHIFT = {"L1": 0.0, "L2": float(np.log(1.12))}
POOLS = {"BP1": 32000.0, "QC2": 20000.0}
WELL_SD, PLATE_SD, SUBJECT_SD, ALIQUOT_SD = 0.04, 0.06, 0.25, 0.01


def simulate(
    n_plates: int = 60, per_plate: int = 38, seed: int = 1, order_sd_days: float = 25.0, season_by_plate: bool = False
) -> tuple[pd.DataFrame, dict]:
    """Tidy frame (value, plate, kit_lot, role, pool, sample_type, season, diagnosis, visit) and the truth."""
    rng = np.random.default_rng(seed)
    n = n_plates * per_plate
    day = rng.uniform(0, 365, n)
    order = np.argsort(day + rng.normal(0, order_sd_days, n)) if order_sd_days > 0 else np.argsort(day)
    day = day[order]
    season = np.array(["winter", "spring", "summer", "autumn"])[np.minimum((day // 91.25).astype(int), 3)]
    plate_i = np.arange(n) // per_plate
    if season_by_plate:  # fully confounded: whole plates per season
        season = np.array(["winter", "spring", "summer", "autumn"])[np.minimum(plate_i * 4 // n_plates, 3)]
    stype = np.where(rng.random(n) < 0.5, "serum", "plasma_edta")
    mdd = rng.random(n) < 0.45
    visit = np.where(rng.random(n) < 0.5, "baseline", "followup")
    true = (
        np.where(stype == "serum", TYPE_LEVEL["serum"], TYPE_LEVEL["plasma_edta"])
        + pd.Series(season).map(SEASON_EFFECT).to_numpy(float)
        + MDD_EFFECT * mdd
        + SUBJECT_SD * rng.standard_normal(n)
    )
    lot = np.where(np.arange(n_plates) >= round(0.4 * n_plates), "L2", "L1")
    plate_shift = pd.Series(lot).map(LOT_SHIFT).to_numpy(float) + rng.normal(0, PLATE_SD, n_plates)
    names = np.array([f"P{i + 1:05d}" for i in range(n_plates)])
    samples = pd.DataFrame(
        {
            "value": np.exp(true + plate_shift[plate_i] + WELL_SD * rng.standard_normal(n)),
            "plate": names[plate_i],
            "kit_lot": lot[plate_i],
            "role": "sample",
            "pool": None,
            "sample_type": stype,
            "season": season,
            "diagnosis": np.where(mdd, "MDD", "control"),
            "visit": visit,
        }
    )
    parts = [samples]
    for pool, wells in (("BP1", 3), ("QC2", 2)):
        aliquot = ALIQUOT_SD * rng.standard_normal(n_plates)
        pi = np.repeat(np.arange(n_plates), wells)
        v = np.log(POOLS[pool]) + plate_shift[pi] + aliquot[pi] + WELL_SD * rng.standard_normal(len(pi))
        parts.append(pd.DataFrame({"value": np.exp(v), "plate": names[pi], "kit_lot": lot[pi], "role": "bridge", "pool": pool}))
    truth = {"plate_shift": pd.Series(plate_shift, index=names), "season": SEASON_EFFECT, "lot": LOT_SHIFT}
    return pd.concat(parts, ignore_index=True), truth


def simulate_standards(n_plates_per_lot: int = 100, seed: int = 2, plate_sd: float = 0.03) -> pd.DataFrame:
    """Standard wells (plate, kit_lot, x, y): 7 two-fold levels from 4000 pg/mL + zero, in duplicate. The lot's
    standards are under-assigned by LOT_SHIFT, so its curve fitted to nominal values has c * exp(S)."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.r_[4000 / 2 ** np.arange(7), 0.0], 2)
    rows = []
    for lot, s in LOT_SHIFT.items():
        k = n_plates_per_lot
        a = 0.05 * np.exp(rng.normal(0, 0.05, (k, 1)))
        b = 1.1 * np.exp(rng.normal(0, 0.02, (k, 1)))
        c = 1500.0 * np.exp(s + rng.normal(0, plate_sd, (k, 1)))
        d = 3.2 * np.exp(rng.normal(0, 0.03, (k, 1)))
        y = d + (a - d) / (1 + (x / c) ** b)
        y = y * (1 + 0.03 * rng.standard_normal(y.shape)) + 0.003 * rng.standard_normal(y.shape)
        plates = np.repeat([f"{lot}-P{i:04d}" for i in range(k)], len(x))
        rows.append(pd.DataFrame({"plate": plates, "kit_lot": lot, "x": np.tile(x, k), "y": y.ravel()}))
    return pd.concat(rows, ignore_index=True)


TRUE_SW = SEASON_EFFECT["summer"] - SEASON_EFFECT["winter"]


@pytest.fixture(scope="module")
def study():
    return simulate()


@pytest.fixture(scope="module")
def confounded():
    return simulate(season_by_plate=True)[0]


def _season(result, when="after") -> dict[str, float]:
    e = result.diagnostics["covariate_effects"][when]
    return {k[len("season[") : -1]: v for k, v in e.items() if k.startswith("season[")}  # relative to autumn


@pytest.mark.parametrize("method", ["bridge", "combat", "mixed"])
def test_correction_brings_check_pool_to_within_plate_cv_and_keeps_season(study, method):
    df, _ = study
    out, res = correct(df, method)
    cp = res.diagnostics["check_pool"]
    assert cp["before"]["across_plate_cv"] > 1.8 * cp["before"]["within_plate_cv"]  # there is a batch effect
    assert cp["after"]["across_plate_cv"] <= 1.5 * cp["after"]["within_plate_cv"]
    s = _season(res)
    assert abs((s["summer"] - s["winter"]) - TRUE_SW) <= 0.2 * TRUE_SW
    for level in ("spring", "summer", "winter"):
        assert abs(s[level] - (SEASON_EFFECT[level] - SEASON_EFFECT["autumn"])) < 0.05
    before = _season(res, "before")
    assert abs((before["summer"] - before["winter"]) - TRUE_SW) > 0.2 * TRUE_SW  # uncorrected, lot leaks in
    assert {"log_value", "batch_shift", "log_corrected", "corrected"} <= set(out.columns)
    assert len(out) == len(df)


@pytest.mark.parametrize("method", ["bridge", "combat", "mixed"])
def test_variance_shares_drop(study, method):
    _, res = correct(study[0], method)
    var = res.diagnostics["variance"]
    assert var["before"]["shares"]["plate"] + var["before"]["shares"]["kit_lot"] > 0.05
    assert var["after"]["shares"]["plate"] + var["after"]["shares"]["kit_lot"] < 0.01


def test_bridge_shifts_track_truth_with_ci(study):
    df, truth = study
    _, res = bridge_correct(df, "BP1")
    sh = res.shifts.set_index("plate")
    true = truth["plate_shift"] - truth["plate_shift"].mean()
    est = sh["shift"] - sh["shift"].mean()
    assert np.corrcoef(est, true[est.index])[0, 1] > 0.95
    covered = ((sh["ci_low"] - sh["shift"].mean() <= true) & (true <= sh["ci_high"] - sh["shift"].mean())).mean()
    assert covered > 0.8  # nominal 95 %; the pool's aliquot noise is outside the CI
    assert res.params["target_source"] == "long-run geometric mean"
    _, given = bridge_correct(df, "BP1", target=32000.0)
    assert given.params["target_pg_ml"] == pytest.approx(32000.0)


def test_lot_shift_recovered_from_standards(study):
    fit = lot_shifts_from_standards(simulate_standards())
    true = LOT_SHIFT["L2"]
    assert fit.reference_lot == "L1" and fit.converged
    assert abs(fit.shift["L2"] - true) <= 0.10 * true
    assert fit.ci_low["L2"] <= true <= fit.ci_high["L2"]
    out, res = lot_correct(study[0], fit)
    l2 = out["kit_lot"] == "L2"
    assert np.allclose(out.loc[l2, "batch_shift"], fit.shift["L2"])
    cp = res.diagnostics["check_pool"]
    assert cp["after"]["across_plate_cv"] < cp["before"]["across_plate_cv"]
    json.dumps(res.summary())


def test_confounded_design_refused_with_names(confounded):
    for fn in (combat_correct, mixed_correct):
        with pytest.raises(ConfoundedDesign) as err:
            fn(confounded)
        msg = str(err.value)
        assert "season" in msg and "plate" in msg and "P00001" in msg and "override=True" in msg
        assert err.value.table["confounded"].any()


def test_override_recorded(confounded):
    _, res = combat_correct(confounded, override=True)
    assert res.override and res.summary()["override"] is True
    assert res.design is not None and res.design["confounded"].any()
    _, res = mixed_correct(confounded, override=True)
    assert res.override


def test_bridge_never_refuses_on_confounded_design(confounded):
    _, res = bridge_correct(confounded)
    cp = res.diagnostics["check_pool"]["after"]
    assert cp["across_plate_cv"] <= 1.5 * cp["within_plate_cv"]


def test_design_check_reports_partial_confounding(study):
    samples = study[0][study[0]["role"] == "sample"]
    table = check_design(samples, batches=("plate",)).set_index("covariate")
    assert 0.5 < table.loc["season", "cramers_v"] < 0.9 and not table["confounded"].any()
    assert table.loc["sample_type", "cramers_v"] < 0.3


def test_summary_is_json_and_misuse_raises(study):
    df, _ = study
    _, res = correct(df, "combat")
    s = json.loads(json.dumps(res.summary()))
    assert s["method"] == "combat" and len(s["shifts"]) == df["plate"].nunique()
    with pytest.raises(ValueError, match="unknown batch-correction method"):
        correct(df, "quantile")
    with pytest.raises(ValueError, match="no finite values for pool 'BPX'"):
        bridge_correct(df, "BPX")
    with pytest.raises(ValueError, match="no shift for kit lot"):
        lot_correct(df, {"L1": 0.0})
    with pytest.raises(ValueError, match="missing column"):
        correct(df.drop(columns="plate"))


def test_pool_cv_and_repeated_samples(study):
    df, truth = study
    assert pool_cv(df.assign(log_value=np.log(df["value"])), "QC2")["n_plates"] == 60
    first = df[df["role"] == "sample"].head(80)  # plates 1-2 (lot L1), re-assayed on the last plate (lot L2)
    moved = truth["plate_shift"]["P00060"] - truth["plate_shift"][first["plate"]].to_numpy()
    rng = np.random.default_rng(5)
    rep = first.assign(
        plate="P00060",
        kit_lot="L2",
        sample_id="S" + first.index.astype(str),
        value=first["value"] * np.exp(moved + 0.04 * rng.standard_normal(len(first))),
    )
    d = df.assign(sample_id=np.where(df["role"] == "sample", "S" + df.index.astype(str), None))
    _, res = bridge_correct(pd.concat([d, rep], ignore_index=True))
    r = res.diagnostics["repeated_samples"]
    assert r["across_plate_cv_after"] < 0.7 * r["across_plate_cv_before"]
    assert r["n_samples"] == 80


def test_simulated_study_from_labdb_runs():
    """labdb's own simulator: its truth carries the plate log shifts; tests may import labdb (qc may not)."""
    from labdb.demo.simulate import simulate_study

    study = simulate_study(8, seed=3)
    tp = study.truth.plates.set_index("plate")
    assert {"log_shift", "kit_lot"} <= set(tp.columns)
    rng = np.random.default_rng(0)
    pools = pd.DataFrame(
        [
            {
                "plate": p,
                "kit_lot": r.kit_lot,
                "role": "bridge",
                "pool": name,
                "value": v * np.exp(r.log_shift + 0.03 * rng.standard_normal()),
            }
            for p, r in tp.iterrows()
            for name, v in study.truth.pools.items()
            for _ in range(2)
        ]
    )
    _, res = bridge_correct(pools)
    sh = res.shifts.set_index("plate")["shift"]
    assert np.corrcoef(sh, tp["log_shift"][sh.index])[0, 1] > 0.9


def test_reml_matches_balanced_anova():
    """Balanced one-way layout: REML equals the ANOVA estimators (MSB - MSW) / n and MSW when positive."""
    from qc.batch.models import fit_reml

    rng = np.random.default_rng(4)
    k, n = 30, 8
    plate = np.repeat(np.arange(k), n)
    y = 2.0 + rng.normal(0, 0.3, k)[plate] + rng.normal(0, 0.2, k * n)
    means = np.bincount(plate, y) / n
    msw = np.sum((y - means[plate]) ** 2) / (k * (n - 1))
    msb = n * np.sum((means - y.mean()) ** 2) / (k - 1)
    fit = fit_reml(y, np.ones((k * n, 1)), plate, k)
    assert fit.sigma2["residual"] == pytest.approx(msw, rel=1e-4)
    assert fit.sigma2["plate"] == pytest.approx((msb - msw) / n, rel=1e-4)
    assert fit.converged
