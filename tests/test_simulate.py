"""The study simulator: deterministic, the right sizes, realistic enough, and its truth recoverable."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import wellmap

from labdb.demo.simulate import TEMPLATE, SimPlate, Study, simulate_study


@pytest.fixture(scope="module")
def study() -> Study:
    return simulate_study()


@pytest.fixture(scope="module")
def layout() -> pd.DataFrame:
    return wellmap.load(TEMPLATE)


def _same_plates(p: SimPlate, q: SimPlate) -> bool:
    return (
        (p.name, p.operator, p.kit_lot, p.read_time, p.reader, p.flags, p.fails_acceptance, p.defects)
        == (q.name, q.operator, q.kit_lot, q.read_time, q.reader, q.flags, q.fails_acceptance, q.defects)
        and p.plate_map.equals(q.plate_map)
        and all(np.array_equal(p.od[w], q.od[w], equal_nan=True) for w in (450, 630))
    )


def _all_maps(study: Study) -> pd.DataFrame:
    return pd.concat([p.plate_map.assign(plate=p.name) for p in study.plates], ignore_index=True)


def test_same_seed_same_study_other_seed_differs(study):
    again = simulate_study(seed=0)
    pd.testing.assert_frame_equal(study.manifest, again.manifest)
    pd.testing.assert_frame_equal(study.truth.samples, again.truth.samples)
    assert all(_same_plates(p, q) for p, q in zip(study.plates, again.plates))
    other = simulate_study(seed=1)
    assert not study.manifest["collected_at"].equals(other.manifest["collected_at"])
    assert not np.allclose(study.plates[0].od[450], other.plates[0].od[450], equal_nan=True)


def test_explicit_layout_and_one_without_positions_give_the_same_study(study, layout):
    assert all(_same_plates(p, q) for p, q in zip(study.plates, simulate_study(layout=layout).plates))
    bare = layout[["well", "row", "col", "role", "level", "nominal", "dilution"]]
    assert all(_same_plates(p, q) for p, q in zip(study.plates, simulate_study(layout=bare).plates))


def test_sites_and_manifest_columns(study):
    assert study.sites.set_index("site_code")["hemisphere"].to_dict() == {"AMS": "north", "SYD": "south"}
    m = study.manifest
    expected = [
        "sample_id",
        "subject_id",
        "sample_type",
        "collected_at",
        "site",
        "visit",
        "sex",
        "age",
        "platelet_count",
        "platelet_poor",
        "clotting_minutes",
        "minutes_to_centrifugation",
        "centrifuge_g",
        "storage_days",
        "freeze_thaw_cycles",
        "fasting",
        "exercise_within_24h",
        "antidepressant",
        "diagnosis",
        "smoking",
        "notes",
    ]
    assert list(m.columns) == expected
    assert m["sample_id"].is_unique
    assert pd.api.types.is_datetime64_dtype(m["collected_at"]) and m["collected_at"].dt.tz is None
    assert m["collected_at"].min() >= pd.Timestamp("2023-01-01")
    assert m["collected_at"].max() <= pd.Timestamp("2025-09-30")
    assert (m["collected_at"].dt.hour.between(7, 17)).all() and m["collected_at"].dt.minute.nunique() > 30
    assert set(m["sample_type"]) == {"serum", "plasma_edta"} and set(m["visit"]) == {"baseline", "followup"}
    assert set(m["sex"]) == {"F", "M"} and set(m["diagnosis"]) == {"control", "MDD"}
    assert set(m["site"]) == {"AMS", "SYD"} and set(m["freeze_thaw_cycles"]) <= {0, 1, 2}
    assert m["platelet_count"].between(120, 460).all() and not m["platelet_poor"].any()
    serum = m["sample_type"] == "serum"
    assert m.loc[serum, "clotting_minutes"].between(30, 60).all() and m.loc[~serum, "clotting_minutes"].isna().all()
    assert (m["storage_days"] > 0).all()
    assert (m["notes"] == "").mean() > 0.9
    per_subject = m.groupby("subject_id").agg(
        n=("sample_id", "size"), types=("sample_type", "nunique"), visits=("visit", "nunique"), sites=("site", "nunique")
    )
    assert (per_subject["n"] == 4).all() and (per_subject[["types", "visits"]] == 2).all().all()
    assert (per_subject["sites"] == 1).all()
    visits = m.groupby(["subject_id", "visit"])["collected_at"].first().unstack()
    gap = (visits["followup"] - visits["baseline"]).dt.days
    assert gap.between(600, 800).all()


def test_sizes_and_filled_slots(study, layout):
    assert len(study.plates) == 24
    assert 180 <= study.manifest["subject_id"].nunique() <= 230
    slot_wells = set(layout.loc[layout["role"] == "sample", "well"])
    for p in study.plates[:-1]:
        assert set(p.plate_map["well"]) == slot_wells and len(p.plate_map) == 70
    last = study.plates[-1].plate_map
    assert 0 < len(last) <= 70 and set(last["well"]) <= slot_wells
    assert [p.name for p in study.plates][:2] == ["BDNF-P001", "BDNF-P002"]
    assert {p.kit_lot for p in study.plates} == {"L2301", "L2402"}
    assert study.plates[0].kit_lot == "L2301" and study.plates[-1].kit_lot == "L2402"
    assert len({p.operator for p in study.plates}) == 3


def test_duplicate_pairs_share_id_and_dilution(study):
    for p in study.plates:
        pm = p.plate_map.set_index("well")
        for well in pm.index:
            row, col = well[0], int(well[1:])
            partner = f"{row}{col + 1 if col % 2 else col - 1}"
            assert pm.loc[partner, "sample_id"] == pm.loc[well, "sample_id"]
            assert pm.loc[partner, "dilution"] == pm.loc[well, "dilution"]


def test_linking_typos_unplaced_and_reruns(study):
    maps, m = _all_maps(study), study.manifest.set_index("sample_id")
    unknown = set(maps["sample_id"]) - set(m.index)
    assert len(unknown) == 2 and unknown == set(study.truth.typos)
    assert set(study.truth.typos.values()) <= set(m.index)
    measured = set(maps["sample_id"]) | set(study.truth.typos.values())
    assert set(m.index) - measured == set(study.truth.unplaced) and len(study.truth.unplaced) == 5
    plates_per_sample = maps.groupby("sample_id")["plate"].nunique()
    assert set(plates_per_sample[plates_per_sample > 1].index) == set(study.truth.reruns)
    assert len(study.truth.reruns) == 1
    expected_dilution = maps["sample_id"].map(m["sample_type"]).map({"serum": 50.0, "plasma_edta": 2.0})
    known = maps["sample_id"].isin(m.index)
    assert (maps.loc[known, "dilution"] == expected_dilution[known]).all()


def test_read_times_follow_collection(study):
    times = [p.read_time for p in study.plates]
    assert times == sorted(times) and all(t.weekday() < 5 and 8 <= t.hour < 18 for t in times)
    m = study.manifest.set_index("sample_id")["collected_at"]
    for p in study.plates:
        ids = p.plate_map["sample_id"][p.plate_map["sample_id"].isin(m.index)]
        assert m[ids].max() < pd.Timestamp(p.read_time)
    assert 30 <= (times[-1] - times[0]).days / 7  # spread over the study, not one afternoon


def test_exactly_one_plate_fails_acceptance(study):
    failing = [i for i, p in enumerate(study.plates) if p.fails_acceptance]
    assert len(failing) == 1 and 6 <= failing[0] <= 18
    assert "standard" in " ".join(study.plates[failing[0]].defects)
    assert study.truth.plates["fails_acceptance"].sum() == 1


def test_od_arrays(study):
    for p in study.plates:
        assert set(p.od) == {450, 630}
        od450, od630 = p.od[450], p.od[630]
        assert od450.shape == od630.shape == (8, 12)
        ok = ~np.isnan(od450)
        assert (od450[ok] > 0).all() and (od450[ok] < 4).all()
        both = ok & ~np.isnan(od630)
        assert (od630[both] < od450[both]).all() and ((od630[both] > 0.02) & (od630[both] < 0.08)).all()
        assert od450[0, 0] > 1.5 and od450[7, 0] < 0.2  # top standard high, blank low


def test_flags_match_nans(study):
    kinds = set()
    for p in study.plates:
        nan_wells = {f"{'ABCDEFGH'[r]}{c + 1}" for r, c in zip(*np.nonzero(np.isnan(p.od[450])))}
        assert nan_wells == set(p.flags)
        for well, kind in p.flags.items():
            r, c = "ABCDEFGH".index(well[0]), int(well[1:]) - 1
            assert np.isnan(p.od[630][r, c]) == (kind == "missing")
            assert well in set(p.plate_map["well"])
            kinds.add(kind)
    assert kinds == {"overflow", "missing"}
    assert 1 <= sum("overflow" in p.flags.values() for p in study.plates) <= 3


def test_bubble_gives_a_high_replicate_cv(study):
    bubbles = [(p, d) for p in study.plates for d in p.defects if d.startswith("bubble")]
    assert 2 <= len(bubbles) <= 5
    p, d = bubbles[0]
    well = d.split()[2].rstrip(":")
    r, c = "ABCDEFGH".index(well[0]), int(well[1:]) - 1
    partner = c + 1 if c % 2 == 0 else c - 1
    net = p.od[450] - p.od[630]
    assert net[r, c] / net[r, partner] > 1.2 or net[r, partner] / net[r, c] > 1.2


def test_truth_levels_and_serum_plasma_ratio(study):
    t = study.truth.samples
    assert list(t["sample_id"]) == list(study.manifest["sample_id"])
    gm = np.exp(t.groupby("sample_type")["log_conc"].mean())
    assert 20000 < gm["serum"] < 40000 and 700 < gm["plasma_edta"] < 2000
    assert 10 < gm["serum"] / gm["plasma_edta"] < 40
    sd = t.groupby("sample_type")["log_conc"].std()
    assert 0.18 < sd["serum"] < 0.35 and sd["plasma_edta"] > sd["serum"]
    pivot = t.pivot_table(index=["subject_id", "visit"], columns="sample_type", values="log_conc")
    assert 0.2 < pivot.corr().loc["serum", "plasma_edta"] < 0.8


def test_season_effect_and_hemisphere(study):
    t = study.truth.samples.merge(study.manifest[["sample_id", "collected_at"]], on="sample_id")
    centred = t["log_conc"] - t.groupby("sample_type")["log_conc"].transform("mean")
    high = t["season"].isin(["spring", "summer"])
    assert centred[high].mean() > centred[~high].mean() + 0.05  # true difference ~0.17 on the log scale
    serum = t["sample_type"] == "serum"
    assert centred[high & serum].mean() > centred[~high & serum].mean()
    jan = t[t["collected_at"].dt.month == 1]
    assert set(jan.loc[jan["site"] == "AMS", "season"]) == {"winter"}
    assert set(jan.loc[jan["site"] == "SYD", "season"]) == {"summer"}


def test_diagnosis_effect_in_truth(study):
    t = study.truth.samples.merge(study.manifest[["sample_id", "diagnosis", "antidepressant"]], on="sample_id")
    t["centred"] = t["log_conc"] - t.groupby("sample_type")["log_conc"].transform("mean")
    means = t[~t["antidepressant"]].groupby("diagnosis")["centred"].mean()
    assert means["MDD"] < means["control"]  # true effect -0.13 on the log scale; ~45 untreated MDD subjects


def test_pools_carry_plate_and_lot_effects(study, layout):
    """Back-calculating the bridging pool with the true plate curve gives 32 ng/mL x exp(plate log shift)."""
    tp = study.truth.plates.set_index("plate")
    bp1 = layout.loc[layout["level"] == "BP1", "well"]
    measured, shifts = [], []
    for p in study.plates:
        if p.fails_acceptance:
            continue
        a, b, c, d = tp.loc[p.name, ["a", "b", "c", "d"]]
        net = np.array([p.od[450][ord(w[0]) - 65, int(w[1:]) - 1] - p.od[630][ord(w[0]) - 65, int(w[1:]) - 1] for w in bp1])
        x = c * ((a - d) / (net - d) - 1) ** (1 / b) * 50
        measured.append(np.exp(np.log(x).mean()))
        shifts.append(tp.loc[p.name, "log_shift"])
    ratio = np.log(np.array(measured) / study.truth.pools["BP1"])
    assert np.abs(ratio - np.array(shifts)).max() < 0.2  # pool aliquot + OD noise, sd ~0.05
    assert np.corrcoef(ratio, shifts)[0, 1] > 0.6
    lots = study.truth.plates.groupby("kit_lot")["log_shift_lot"].first()
    assert lots["L2402"] - lots["L2301"] == pytest.approx(np.log(1.12))
    assert study.truth.lots.set_index("kit_lot").loc["L2402", "c"] == pytest.approx(1500 * 1.12)


def test_default_is_fast():
    start = time.perf_counter()
    simulate_study(24, seed=5)
    assert time.perf_counter() - start < 1.0


@pytest.mark.slow
def test_large_study_is_fast_and_scales():
    start = time.perf_counter()
    big = simulate_study(2500, seed=2)
    assert time.perf_counter() - start < 5.0
    assert len(big.plates) == 2500 and sum(p.fails_acceptance for p in big.plates) == 1
    assert all(len(p.plate_map) == 70 for p in big.plates[:-1])
    assert big.manifest["sample_id"].is_unique and len(big.truth.typos) == 2
