"""qc.acceptance.evaluate_plate on seeded simulated 96-well plates laid out like bdnf_96_duplicate.toml."""
# long module: every acceptance rule of qc.acceptance with its edge cases, one test per rule, kept beside each other.

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qc.acceptance import (
    PlateEvaluation,
    QcPolicy,
    evaluate_plate,
    evaluate_plates,
    standard_levels_pass,
)
from qc.models import FIVE_PL, FOUR_PL

TRUE_4PL = (0.05, 1.1, 1500.0, 3.2)
STANDARDS = [(f"S{i + 1}", 4000.0 / 2**i) for i in range(7)]  # 4000 ... 62.5 pg/mL
CONTROLS = [("low", 150.0), ("mid", 600.0), ("high", 2000.0)]
# Serum at 1:50; in-well 150-2000 pg/mL, inside the range where the curve is steep enough to read.
SAMPLES = [(f"P{k:03d}", float(c), 50.0) for k, c in enumerate(np.geomspace(7_500, 100_000, 20))]
# Duplicates side by side (A1/A2, B1/B2, ...), filling columns 1-2 top to bottom, then 3-4, and so on.
PAIRS = [(f"{row}{col}", f"{row}{col + 1}") for col in range(1, 12, 2) for row in "ABCDEFGH"]


def simulate_plate(
    seed: int = 0,
    cv: float = 0.035,
    samples: list[tuple[str, float, float]] = SAMPLES,
    controls: bool = True,
    control_bias: float = 1.0,
    params: tuple[float, ...] = TRUE_4PL,
    model=FOUR_PL,
) -> pd.DataFrame:
    """A plate as evaluate_plate gets it: standards + blank, kit controls, a bridging pool, samples; OD = truth x (1 + cv N)."""
    groups = [("standard", level, nominal, 1.0, None, nominal) for level, nominal in STANDARDS]
    groups.append(("blank", "S0", 0.0, 1.0, None, 0.0))
    if controls:
        groups += [("control", level, nominal, 1.0, None, nominal * control_bias) for level, nominal in CONTROLS]
    groups.append(("bridge", "BP1", np.nan, 50.0, None, 20_000.0 / 50))
    groups += [("sample", None, np.nan, dilution, sid, conc / dilution) for sid, conc, dilution in samples]
    rows = []
    for pair, (role, level, nominal, dilution, sid, in_well) in zip(PAIRS, groups, strict=False):
        for well in pair:
            rows.append(
                {"well": well, "role": role, "level": level, "nominal": nominal, "dilution": dilution, "sample_id": sid, "_true": in_well}
            )
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    df["od"] = model.evaluate(df.pop("_true").to_numpy(), params) * (1 + cv * rng.standard_normal(len(df)))
    df["masked"] = False
    return df


def set_od(df: pd.DataFrame, wells: list[str], od: float | list[float]) -> pd.DataFrame:
    """Copy of df with new OD values in some wells."""
    out = df.copy()
    out.loc[out["well"].isin(wells), "od"] = od
    return out


def result(ev: PlateEvaluation, name: str) -> pd.Series:
    rows = ev.results[ev.results["name"] == name]
    assert len(rows) == 1, f"expected one result named {name}, got {len(rows)}"
    return rows.iloc[0]


# --- a good plate -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_good_plate_passes_and_recovers_samples_within_10_percent(seed):
    ev = evaluate_plate(simulate_plate(seed))
    assert ev.verdict == "pass", ev.reasons
    assert not any(r.startswith(("Standards:", "Kit controls:", "Standard curve:")) for r in ev.reasons)
    assert ev.fit.converged and ev.fit.ndata == 16  # 7 standards + zero standard, in duplicate
    assert ev.lloq == 62.5 and ev.uloq == 4000.0
    assert ev.standards["passed"].all() and len(ev.standards) == 7
    controls = ev.results[ev.results["role"] == "control"]
    assert ((controls["recovery_pct"] - 100).abs() < 20).all()
    samples = ev.results[ev.results["role"] == "sample"].set_index("name")
    truth = {sid: conc for sid, conc, _ in SAMPLES}
    recovered = samples["conc"] / pd.Series(truth)
    assert ((recovered - 1).abs() < 0.10).all(), recovered.sort_values()
    assert (samples["censoring"] == "none").all()
    assert (samples["lloq"] == 62.5 * 50).all() and (samples["uloq"] == 4000.0 * 50).all()


def test_output_tables_have_the_documented_columns():
    df = simulate_plate()
    df.index = range(100, 100 + len(df))
    ev = evaluate_plate(df)
    assert list(ev.wells.index) == list(df.index)  # input rows keep their labels
    assert {"conc", "conc_diluted", "flags", "od_net"} <= set(ev.wells.columns)
    assert len(ev.wells) == 64  # 32 duplicate groups
    assert list(ev.standards.columns[:9]) == ["level", "nominal", "n", "mean_od", "cv_pct", "backcalc", "recovery_pct", "counted", "passed"]
    expected = {
        "role",
        "name",
        "sample_id",
        "level",
        "dilution",
        "n_replicates",
        "mean_od",
        "sd_od",
        "cv_pct",
        "conc_well",
        "conc",
        "censoring",
        "lloq",
        "uloq",
        "nominal",
        "recovery_pct",
        "flags",
    }
    assert expected <= set(ev.results.columns)
    assert len(ev.results) == 3 + 1 + 20
    assert all(isinstance(f, list) for f in ev.results["flags"]) and all(isinstance(f, list) for f in ev.wells["flags"])
    bridge = result(ev, "BP1")
    assert bridge["conc"] == pytest.approx(bridge["conc_well"] * 50)
    assert bridge["conc"] == pytest.approx(20_000, rel=0.1)


def test_string_dtype_with_pd_na_is_accepted():
    """Layouts from labdb.templates use the nullable 'string' dtype with <NA> for missing levels and IDs."""
    df = simulate_plate()
    for column in ("well", "role", "level", "sample_id"):
        df[column] = df[column].astype("string")
    ev = evaluate_plate(df)
    assert ev.verdict == "pass"
    assert result(ev, "P003")["n_replicates"] == 2


# --- failures ------------------------------------------------------------------------------------


def test_three_ruined_standard_levels_fail_the_plate_with_a_standards_reason():
    df = simulate_plate()
    ruined = df["level"].isin(["S2", "S4", "S6"])
    df.loc[ruined, "od"] = df.loc[ruined, "od"] * 0.5
    ev = evaluate_plate(df)
    assert ev.verdict == "fail"
    standards_reason = next(r for r in ev.reasons if r.startswith("Standards:"))
    assert "of 7 levels within recovery limits (need 75% and at least 6)" in standards_reason
    assert ev.standards["passed"].sum() < 6


def test_one_failing_standard_level_is_allowed_and_named():
    df = simulate_plate()
    s6 = df["level"].eq("S6")
    df.loc[s6, "od"] = df.loc[s6, "od"] * 1.5
    ev = evaluate_plate(df, QcPolicy(auto_mask=False))
    failing = ev.standards.loc[~ev.standards["passed"], "level"].tolist()
    assert failing == ["S6"]
    assert ev.verdict == "pass", ev.reasons
    assert any(r.startswith("Failing standard levels: S6 (recovery") for r in ev.reasons)
    assert "standard_level_failed" in ev.wells.loc[ev.wells["level"].eq("S6"), "flags"].iloc[0]


def test_controls_off_by_30_percent_fail_the_plate():
    ev = evaluate_plate(simulate_plate(control_bias=1.3))
    assert ev.verdict == "fail"
    assert "Kit controls: 0 of 6 within ±20% of nominal (need 2/3)." in ev.reasons
    controls = ev.results[ev.results["role"] == "control"]
    assert controls["flags"].map(lambda f: "control_out_of_range" in f).all()
    assert not any(r.startswith("Standards:") for r in ev.reasons)


def test_one_control_level_failing_fails_the_per_level_rule():
    df = simulate_plate()
    high = df["level"].eq("high")
    df.loc[high, "od"] = FOUR_PL.evaluate(2000 * 1.4, TRUE_4PL)
    ev = evaluate_plate(df)
    assert ev.verdict == "fail"
    assert not any(r.startswith("Kit controls:") for r in ev.reasons)  # 4 of 6 is exactly 2/3
    assert "Kit control 'high': 0 of 2 within ±20% of nominal (need 50% at each level)." in ev.reasons


def test_control_results_can_be_counted_per_replicate_mean():
    df = simulate_plate()
    df.loc[df["well"] == "A3", "od"] = FOUR_PL.evaluate(150 * 1.5, TRUE_4PL)  # one low replicate way off
    per_well = evaluate_plate(df)
    assert per_well.verdict == "pass"  # 5 of 6 wells and 1 of 2 at 'low'
    per_mean = evaluate_plate(df, QcPolicy(control_results="mean"))
    assert per_mean.verdict == "fail"  # the low mean is +25%: 2 of 3 results pass, but 0 of 1 at 'low'
    assert "Kit control 'low': 0 of 1 within ±20% of nominal (need 50% at each level)." in per_mean.reasons


def test_plate_without_controls_passes_with_a_note_unless_controls_are_required():
    ev = evaluate_plate(simulate_plate(controls=False))
    assert ev.verdict == "pass"
    assert any("no kit controls on this plate" in r for r in ev.reasons)
    strict = evaluate_plate(simulate_plate(controls=False), QcPolicy(require_controls=True))
    assert strict.verdict == "fail"
    df = simulate_plate()
    df.loc[df["role"] == "control", "masked"] = True
    masked = evaluate_plate(df)
    assert masked.verdict == "fail"
    assert "Kit controls: none of the 6 control wells gave a result (masked or unreadable)." in masked.reasons


def test_failed_fit_fails_the_plate_with_the_fit_message():
    df = simulate_plate()
    df["od"] = 0.05 + np.random.default_rng(1).normal(0, 0.002, len(df))  # detection antibody forgotten
    ev = evaluate_plate(df)
    assert ev.verdict == "fail"
    assert not ev.fit.converged
    assert f"Standard curve: the fit failed ({ev.fit.message.rstrip('.')})." in ev.reasons
    assert ev.results["conc"].isna().all() and ev.wells["conc"].isna().all()
    assert (ev.standards["reason"] == "no standard curve").all()
    assert math.isnan(ev.lloq) and math.isnan(ev.uloq)


# --- censoring, masking, CV --------------------------------------------------------------------------


def test_censoring_flags_and_loqs_scaled_by_dilution():
    samples = [
        ("LOW", 25.0 * 10, 10.0),  # in-well 25 pg/mL: below the LLOQ (62.5), still on the curve
        ("HIGH", 9000.0 * 10, 10.0),  # in-well 9000: above the ULOQ (4000), still on the curve
        ("ZERO", 1.0, 20.0),  # OD set below the lower asymptote
        ("SAT", 1.0, 50.0),  # OD set above the upper asymptote
        ("MID", 500.0 * 20, 20.0),
    ]
    df = simulate_plate(samples=samples, cv=0.0)
    df = set_od(df, list(df.loc[df["sample_id"] == "ZERO", "well"]), 0.01)
    df = set_od(df, list(df.loc[df["sample_id"] == "SAT", "well"]), 3.9)
    ev = evaluate_plate(df)
    assert ev.verdict == "pass", ev.reasons
    low, high, zero, sat, mid = (result(ev, n) for n in ("LOW", "HIGH", "ZERO", "SAT", "MID"))
    assert low["censoring"] == "below_lloq" and "below_lloq" in low["flags"]
    assert low["conc"] == pytest.approx(250.0, rel=1e-6)  # a number is kept with the flag
    assert (low["lloq"], low["uloq"]) == (625.0, 40_000.0)
    assert high["censoring"] == "above_uloq" and high["conc"] == pytest.approx(90_000.0, rel=1e-6)
    assert zero["censoring"] == "below_lloq" and math.isnan(zero["conc"]) and "outside_curve" in zero["flags"]
    assert (zero["lloq"], zero["uloq"]) == (62.5 * 20, 4000.0 * 20)
    assert sat["censoring"] == "above_uloq" and math.isnan(sat["conc"])
    assert (sat["lloq"], sat["uloq"]) == (62.5 * 50, 4000.0 * 50)
    assert mid["censoring"] == "none" and mid["flags"] == []
    assert "Censored results: 2 below LLOQ, 2 above ULOQ (re-assay at a lower / higher dilution)." in ev.reasons
    zero_wells = ev.wells[ev.wells["sample_id"] == "ZERO"]
    assert zero_wells["flags"].map(lambda f: "below_lloq" in f and "outside_curve" in f).all()


def test_loqs_follow_the_passing_standards():
    df = simulate_plate()
    s7 = df["level"].eq("S7")
    df.loc[s7, "od"] = df.loc[s7, "od"] * 1.6  # the lowest standard fails, so the LLOQ moves up to S6
    ev = evaluate_plate(df)
    assert ev.lloq == 125.0 and ev.uloq == 4000.0
    assert (ev.results.loc[ev.results["role"] == "sample", "lloq"] == 125.0 * 50).all()


def test_masked_wells_are_ignored_but_reported():
    df = simulate_plate()
    reference = evaluate_plate(df[~df["well"].isin(["C1", "F5"])])
    spoiled = set_od(df, ["C1", "F5"], 3.1)  # a bubble in one S3 well and one sample well
    spoiled.loc[spoiled["well"].isin(["C1", "F5"]), "masked"] = True
    ev = evaluate_plate(spoiled)
    assert ev.fit.params == pytest.approx(reference.fit.params, rel=1e-9)
    assert ev.fit.ndata == 15
    pd.testing.assert_frame_equal(ev.standards, reference.standards)
    sample = ev.wells.loc[ev.wells["well"] == "F5", "sample_id"].iloc[0]
    assert result(ev, sample)["n_replicates"] == 1
    assert result(ev, sample)["conc"] == pytest.approx(result(reference, sample)["conc"], rel=1e-9)
    masked = ev.wells.set_index("well").loc[["C1", "F5"]]
    assert masked["od"].tolist() == [3.1, 3.1]
    assert masked["conc"].isna().all()
    assert masked["flags"].map(lambda f: "masked" in f).all()


def test_unreadable_wells_are_excluded_and_flagged():
    df = set_od(simulate_plate(), ["E5"], np.nan)
    ev = evaluate_plate(df)
    sample = ev.wells.loc[ev.wells["well"] == "E5", "sample_id"].iloc[0]
    assert result(ev, sample)["n_replicates"] == 1
    assert "od_missing" in ev.wells.loc[ev.wells["well"] == "E5", "flags"].iloc[0]
    both = set_od(df, ["E6"], np.nan)
    gone = result(evaluate_plate(both), sample)
    assert gone["n_replicates"] == 0 and gone["flags"] == ["no_valid_wells"] and math.isnan(gone["conc"])


def test_high_cv_sample_is_flagged_but_does_not_fail_the_plate():
    df = simulate_plate()
    sample_wells = df.loc[df["sample_id"] == "P010", "well"].tolist()
    base = df.loc[df["well"] == sample_wells[0], "od"].iloc[0]
    df = set_od(df, sample_wells, [base * 0.85, base * 1.15])  # CV about 21%
    ev = evaluate_plate(df)
    assert ev.verdict == "pass"
    row = result(ev, "P010")
    assert row["cv_pct"] > 15 and "cv_high" in row["flags"]
    assert any(r.startswith("Sample replicate CV above 15%: P010 (") for r in ev.reasons)
    others = ev.results[(ev.results["role"] == "sample") & (ev.results["name"] != "P010")]
    assert not others["flags"].map(lambda f: "cv_high" in f).any()


def test_same_sample_at_two_dilutions_gives_two_results():
    samples = [("S-1", 30_000.0, 50.0), ("S-1", 30_000.0, 100.0)]
    ev = evaluate_plate(simulate_plate(samples=samples, cv=0.0))
    rows = ev.results[ev.results["name"] == "S-1"].sort_values("dilution")
    assert rows["dilution"].tolist() == [50.0, 100.0]
    assert rows["conc"].to_numpy() == pytest.approx([30_000.0, 30_000.0], rel=1e-6)
    assert rows["conc_well"].to_numpy() == pytest.approx([600.0, 300.0], rel=1e-6)


# --- other curve set-ups -----------------------------------------------------------------------------


def test_decreasing_competitive_curve():
    params = (3.0, 1.0, 600.0, 0.08)
    samples = [("LOW", 10.0, 1.0), ("MID", 800.0, 1.0), ("HIGH", 20_000.0, 1.0)]
    df = simulate_plate(samples=samples, params=params, cv=0.01)
    ev = evaluate_plate(df, QcPolicy(weighting="1/y"))
    assert ev.verdict == "pass", ev.reasons
    assert ev.fit.params["a"] > ev.fit.params["d"]
    assert result(ev, "LOW")["censoring"] == "below_lloq"
    assert result(ev, "HIGH")["censoring"] == "above_uloq"
    assert result(ev, "MID")["conc"] == pytest.approx(800.0, rel=0.05)


def test_blank_subtraction_takes_blanks_out_of_the_fit():
    ev = evaluate_plate(simulate_plate(), QcPolicy(blank="subtract"))
    assert ev.verdict == "pass", ev.reasons
    assert ev.fit.ndata == 14
    assert ev.blank_od == pytest.approx(0.05, rel=0.1)
    assert ev.fit.params["a"] == pytest.approx(0.0, abs=0.01)
    wells = ev.wells
    assert (wells["od_net"] == wells["od"] - ev.blank_od).all()
    no_blank = simulate_plate()
    no_blank = no_blank[no_blank["role"] != "blank"]
    failed = evaluate_plate(no_blank, QcPolicy(blank="subtract"))
    assert failed.verdict == "fail" and any(r.startswith("Blanks:") for r in failed.reasons)


def test_5pl_policy_on_an_asymmetric_plate():
    params = (0.05, 1.6, 900.0, 3.3, 0.7)
    df = simulate_plate(params=params, model=FIVE_PL, cv=0.02)
    df.loc[df["role"] == "control", "od"] = FIVE_PL.evaluate(df.loc[df["role"] == "control", "nominal"], params)
    ev = evaluate_plate(df, QcPolicy(model="5pl"))
    assert ev.fit.model == "5pl" and ev.fit.converged
    assert ev.verdict == "pass", ev.reasons


# --- the policy and the standards rule ------------------------------------------------------------


def test_policy_from_dict_overrides_and_rejects_unknown_keys():
    policy = QcPolicy.from_dict({"model": "5PL", "weighting": "1/y^2", "sample_cv_max_pct": 10, "anchor_levels": ["S8"]})
    assert (policy.model, policy.weighting, policy.sample_cv_max_pct, policy.anchor_levels) == ("5pl", "1/y2", 10, ("S8",))
    with pytest.raises(ValueError, match=r"'sample_cv_pct' \(did you mean 'sample_cv_max_pct'\?\)") as info:
        QcPolicy.from_dict({"sample_cv_pct": 10, "colour": "red"})
    assert "'colour'" in str(info.value)
    for bad in (
        {"blank": "ignore"},
        {"model": "3pl"},
        {"weighting": "1/x"},
        {"control_min_pass_fraction": 1.5},
        {"standard_recovery_pct": -1},
        {"control_results": "plate"},
    ):
        with pytest.raises(ValueError):
            QcPolicy.from_dict(bad)


def test_standards_rule_allows_25_percent_only_at_the_lloq_and_uloq():
    policy = QcPolicy()
    nominal = pd.Series([4000, 2000, 1000, 500, 250, 125, 62.5])
    counted = pd.Series([True] * 7)
    cv = pd.Series([2.0] * 7)
    edges = standard_levels_pass(nominal, pd.Series([123, 105, 98, 100, 95, 90, 77]), cv, counted, policy)
    assert edges.tolist() == [True] * 7
    inner = standard_levels_pass(nominal, pd.Series([123, 122, 98, 100, 95, 90, 100]), cv, counted, policy)
    assert inner.tolist() == [True, False, True, True, True, True, True]
    top_out = standard_levels_pass(nominal, pd.Series([140, 122, 98, 100, 95, 90, 100]), cv, counted, policy)
    assert top_out.tolist() == [False, True, True, True, True, True, True]  # S2 is now the ULOQ
    high_cv = standard_levels_pass(nominal, pd.Series([100] * 7), pd.Series([2, 2, 25, 2, 2, 2, 2]), counted, policy)
    assert high_cv.tolist() == [True, True, False, True, True, True, True]
    flag_only = QcPolicy(standard_cv_fails_level=False)
    assert standard_levels_pass(nominal, pd.Series([100] * 7), pd.Series([2, 2, 25, 2, 2, 2, 2]), counted, flag_only).all()


def test_anchor_levels_are_fitted_but_not_counted():
    ev = evaluate_plate(simulate_plate(), QcPolicy(anchor_levels=("S1",)))
    s1 = ev.standards.set_index("level").loc["S1"]
    assert not s1["counted"] and not s1["passed"] and s1["reason"].startswith("anchor point")
    assert ev.fit.ndata == 16 and ev.uloq == 2000.0
    assert ev.verdict == "pass"  # 6 of 6 counted levels


def test_misuse_raises_value_error():
    df = simulate_plate()
    with pytest.raises(ValueError, match="missing od"):
        evaluate_plate(df.drop(columns=["od"]))
    with pytest.raises(ValueError, match="unknown role"):
        evaluate_plate(df.assign(role=df["role"].replace("sample", "smaple")))


def test_auto_mask_removes_a_failing_level_with_a_reason_and_refits():
    df = simulate_plate()
    s6 = df["level"].eq("S6")
    df.loc[s6, "od"] = df.loc[s6, "od"] * 1.5
    plain = evaluate_plate(df, QcPolicy(auto_mask=False))
    ev = evaluate_plate(df)
    masked = ev.wells[ev.wells["masked"]]
    assert set(masked["level"]) == {"S6"} and len(masked) == s6.sum()
    assert masked["mask_reason"].str.startswith("auto-masked: standard level S6 back-calculated at").all()
    assert ev.fit.ndata == plain.fit.ndata - s6.sum()
    assert ev.verdict == "pass" and any(r.startswith("Auto-masked") for r in ev.reasons)
    assert not df["masked"].any()  # the caller's frame is not changed


def test_auto_mask_takes_only_the_stray_replicate_when_its_partner_passes():
    df = simulate_plate()
    s3 = df.index[df["level"].eq("S3")]
    df.loc[s3[0], "od"] = df.loc[s3[0], "od"] * 1.8
    ev = evaluate_plate(df)
    masked = ev.wells[ev.wells["masked"]]
    assert masked["well"].tolist() == [df.loc[s3[0], "well"]]
    assert "S3 replicate" in masked["mask_reason"].iloc[0]
    assert ev.standards.set_index("level").loc["S3", "passed"]


def test_auto_mask_never_goes_beyond_the_rule():
    """7 counted levels: at least 6 must stay, so one level at most is masked and two ruined levels fail the plate."""
    df = simulate_plate()
    for level, factor in (("S3", 0.55), ("S6", 1.6)):
        rows = df["level"].eq(level)
        df.loc[rows, "od"] = df.loc[rows, "od"] * factor
    ev = evaluate_plate(df)
    assert ev.fit.converged
    assert ev.wells.loc[ev.wells["masked"], "level"].nunique() == 1
    assert ev.verdict == "fail" and any(r.startswith("Standards:") for r in ev.reasons)


def test_evaluate_plates_batched_gives_the_same_evaluations_as_one_by_one():
    plates = [simulate_plate(seed=s) for s in range(12)]
    plates[3].loc[plates[3]["level"].eq("S6"), "od"] *= 1.5  # one plate with an auto-masked level
    batched = evaluate_plates(plates)
    for df, ev in zip(plates, batched, strict=True):
        single = evaluate_plate(df)
        assert ev.verdict == single.verdict and ev.reasons == single.reasons
        assert ev.fit.sse == pytest.approx(single.fit.sse, rel=1e-6)
        pd.testing.assert_series_equal(ev.results["conc"], single.results["conc"], rtol=1e-5)
