# long module: one simulated study is one model with one seed (the truth the tests check), kept in one place.
"""Deterministic simulator of a realistic BDNF sandwich-ELISA study: numbers only, no files, no database.

simulate_study() returns two sites, a sample manifest, plates (plate map, raw OD450/OD630, reader flags) and the
truth behind them, so ingest, QC and batch correction can be tested against known answers. Same seed, same study.

Model (natural-log scale). A sample's true concentration: serum ~30 ng/mL or EDTA plasma ~1.2 ng/mL, shifted by
platelet count, clotting time / time to centrifugation, season (date + site hemisphere), sex, age, MDD,
antidepressant, exercise, freeze-thaw and subject / visit noise (EFFECTS). Each plate has a physical 4PL curve (lot
values with plate-to-plate variation in a, b, c, d) and a log shift s = lot + operator + plate: its standards really
hold nominal * exp(-s) (value assignment / reconstitution error), so a curve fitted to the nominal values reads
samples and pools at true * exp(s) and has its inflection at c * exp(s) (lot L2402: +12 %). Kit controls are
value-assigned per lot, so they carry only the operator and plate parts; the pools BP1 / QC2 carry all of s, which
is what makes bridging-pool batch correction possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import wellmap

from labdb.core.config import resource_dir

TEMPLATE = resource_dir("plate_templates") / "bdnf_96_duplicate.toml"
SITES = (("AMS", "Amsterdam UMC", "north"), ("SYD", "Westmead Hospital Sydney", "south"))
LOTS = {  # physical 4PL (true units); log_shift: how high the lot reads samples (its standards are under-assigned)
    "L2301": dict(a=0.050, b=1.10, c=1500.0, d=3.20, log_shift=0.0),
    "L2402": dict(a=0.055, b=1.08, c=1500.0, d=3.10, log_shift=float(np.log(1.12))),
}
OPERATORS, OPERATOR_P = {"AvD": 0.0, "KM": 0.02, "RP": -0.015}, (0.45, 0.35, 0.20)  # log shift per operator
POOLS = {"BP1": 32000.0, "QC2": 20000.0}  # true pg/mL, undiluted
DILUTION = {"serum": 50.0, "plasma_edta": 2.0}
EFFECTS = {  # additive on natural-log concentration
    "log_gm_serum": float(np.log(30000.0)),
    "log_gm_plasma_edta": float(np.log(1200.0)),
    "season_winter": -0.10,
    "season_autumn": -0.07,
    "season_spring": 0.07,
    "season_summer": 0.10,
    "sex_female": 0.04,
    "diagnosis_MDD": -0.13,
    "antidepressant": 0.07,
    "age_per_year_over_45": -0.003,
    "exercise_within_24h": 0.05,
    "freeze_thaw_per_cycle": -0.03,
    "serum_per_log_platelets_over_250": 0.5,
    "plasma_per_log_platelets_over_250": 1.0,
    "serum_per_clotting_minute_over_45": 0.005,
    "plasma_per_centrifugation_minute_over_30": 0.003,
    "plasma_male_per_hour_after_8": -0.03,
}
SEASON_BY_MONTH = np.array(["winter"] * 2 + ["spring"] * 3 + ["summer"] * 3 + ["autumn"] * 3 + ["winter"])
STUDY_START = np.datetime64("2023-01-09", "D")
NOTES = ("slightly haemolysed", "difficult venepuncture", "lipaemic", "tube underfilled")
UNPLACED_NOTES = ("insufficient volume", "tube cracked in transport", "not found in freezer", "label unreadable")


@dataclass(frozen=True)
class Instrument:
    name: str
    serial: str

    def __str__(self) -> str:
        return f"{self.name} (SN {self.serial})"


READERS = (Instrument("BioTek Synergy HTX", "21091510"), Instrument("Tecan Infinite 200 PRO", "1510004567"))
READER_P, READER_OD_SCALE = (0.85, 0.15), (1.0, 1.03)


@dataclass
class SimPlate:
    name: str
    operator: str
    kit_lot: str
    read_time: datetime
    reader: Instrument
    plate_map: pd.DataFrame  # well, sample_id, dilution: filled sample wells only
    od: dict[int, np.ndarray]  # 450 / 630 -> (rows, cols) raw absorbance, row A first; NaN where unread
    flags: dict[str, str] = field(default_factory=dict)  # well -> "overflow" | "missing"
    fails_acceptance: bool = False
    defects: list[str] = field(default_factory=list)


@dataclass
class Truth:
    samples: pd.DataFrame  # sample_id, subject_id, sample_type, site, visit, season, log_conc, true_conc, placed
    plates: pd.DataFrame  # plate, kit_lot, operator, reader, log shifts (lot/operator/plate/total), a, b, c, d
    lots: pd.DataFrame  # kit_lot, a, b, c (as fitted against nominal standards), d, log_shift
    placements: pd.DataFrame  # plate, well, map_sample_id, sample_id (really in the well), dilution
    effects: dict[str, float]
    pools: dict[str, float]
    typos: dict[str, str]  # plate-map id -> real sample id
    reruns: list[str]
    unplaced: list[str]


@dataclass
class Study:
    sites: pd.DataFrame
    manifest: pd.DataFrame
    plates: list[SimPlate]
    truth: Truth
    layout: pd.DataFrame


def _parse_layout(layout: pd.DataFrame) -> tuple[pd.DataFrame, tuple[int, int], np.ndarray]:
    """Layout with a flat plate position per well, the plate shape, and the sample slots as (slots, 2) row numbers
    (horizontal duplicate pairs in column-then-row order; -1 for a slot with a single well)."""
    lay = layout.reset_index(drop=True).copy()
    if not {"row_i", "col_j"} <= set(lay.columns):
        parts = lay["well"].astype(str).str.upper().str.extract(r"^([A-Z]+)0*(\d+)$")
        lay["row_i"] = [sum((ord(ch) - 64) * 26**k for k, ch in enumerate(r[::-1])) - 1 for r in parts[0]]
        lay["col_j"] = parts[1].astype(int) - 1
    r, c = lay["row_i"].to_numpy(int), lay["col_j"].to_numpy(int)
    shape = (8, 12) if r.max() < 8 and c.max() < 12 else (16, 24)
    lay["pos"] = r * shape[1] + c
    samples = lay.index[lay["role"] == "sample"].to_numpy()
    at, used, pairs = {(r[i], c[i]): i for i in samples}, set(), []
    for i in sorted(samples, key=lambda i: (c[i], r[i])):
        if i not in used:
            j = at.get((r[i], c[i] + 1), -1)
            j = -1 if j in used else j
            used.update({i, j})
            pairs.append((i, j))
    return lay, shape, np.array(pairs, dtype=int).reshape(-1, 2)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Saturdays and Sundays (days since 1970-01-01, a Thursday) moved to the next Monday."""
    wd = (days + 3) % 7
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _samples(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n subjects x 2 visits x (serum, plasma): the manifest (storage_days filled in later) and the true values."""
    site = (rng.random(n) < 0.45).astype(int)
    number = pd.Series(site).groupby(site).cumcount().to_numpy() + 1  # subjects numbered per site
    codes = np.array([s[0] for s in SITES])
    subject = np.array([f"{codes[s]}-{k:04d}" for s, k in zip(site, number)])
    female, mdd = rng.random(n) < 0.6, rng.random(n) < 0.45
    age0 = np.clip(np.round(rng.normal(45, 13, n)), 18, 75).astype(int)
    smoker = rng.random(n) < np.where(mdd, 0.30, 0.15)
    log_plt = np.log(250) + 0.2 * rng.standard_normal(n) + 0.07 * female
    z = rng.standard_normal(n)  # shared serum / plasma subject level: serum-plasma correlation ~0.5
    subj = np.stack([0.15 * z + 0.08 * rng.standard_normal(n), 0.15 * z + 0.25 * rng.standard_normal(n)], 1)
    ad0 = rng.random(n) < np.where(mdd, 0.5, 0.02)
    ad = np.stack([ad0, np.where(ad0, rng.random(n) < 0.85, mdd & (rng.random(n) < 0.25))], 1)
    # visits (n, 2): baseline Jan-Jul 2023, follow-up ~23 months later (Dec 2024-Jul 2025), weekdays, mostly mornings
    d0 = _weekday(STUDY_START.astype(int) + rng.integers(0, 204, n))
    days = np.stack([d0, _weekday(d0 + np.round(rng.normal(700, 14, n)).astype(int))], 1)
    morning = rng.random((n, 2)) < 0.85
    minute = np.where(morning, rng.integers(465, 691, (n, 2)), rng.integers(720, 991, (n, 2)))
    age = age0[:, None] + (days - d0[:, None] + rng.integers(0, 365, n)[:, None]) // 365
    fasting = rng.random((n, 2)) < np.where(morning, 0.75, 0.25)
    exercise = rng.random((n, 2)) < 0.2
    plt = np.clip(np.round(np.exp(log_plt[:, None] + 0.06 * rng.standard_normal((n, 2)))), 130, 450)
    month0 = days.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12  # 0 = January
    season = SEASON_BY_MONTH[np.where(site[:, None] == 1, (month0 + 6) % 12, month0)]  # south: six months on
    # samples (n, 2, 2): last axis serum, plasma
    clot = rng.integers(30, 61, (n, 2))
    centrif = np.stack([clot + rng.integers(0, 6, (n, 2)), np.clip(np.round(rng.gamma(4, 8, (n, 2))) + 5, 10, 120).astype(int)], 2)
    ft = rng.choice(3, size=(n, 2, 2), p=[0.8, 0.15, 0.05])
    e, lp = EFFECTS, np.log(plt / 250.0)
    common = (
        np.vectorize(lambda s: e[f"season_{s}"])(season)
        + e["sex_female"] * female[:, None]
        + e["diagnosis_MDD"] * mdd[:, None]
        + e["antidepressant"] * ad
        + e["exercise_within_24h"] * exercise
        + e["age_per_year_over_45"] * (age - 45)
    )[:, :, None] + e["freeze_thaw_per_cycle"] * ft
    serum = (
        e["log_gm_serum"]
        + e["serum_per_log_platelets_over_250"] * lp
        + subj[:, None, 0]
        + e["serum_per_clotting_minute_over_45"] * (clot - 45)
        + 0.10 * rng.standard_normal((n, 2))
    )
    plasma = (
        e["log_gm_plasma_edta"]
        + e["plasma_per_log_platelets_over_250"] * lp
        + subj[:, None, 1]
        + e["plasma_per_centrifugation_minute_over_30"] * (centrif[:, :, 1] - 30)
        + e["plasma_male_per_hour_after_8"] * ~female[:, None] * (minute / 60 - 8)
        + 0.25 * rng.standard_normal((n, 2))
    )
    log_conc = (common + np.stack([serum, plasma], 2)).ravel()

    def flat(a: np.ndarray) -> np.ndarray:  # subject (n,), visit (n, 2) or type (1, 1, 2) arrays -> one per sample
        a = np.asarray(a)
        return np.broadcast_to(a.reshape(a.shape + (1,) * (3 - a.ndim)), (n, 2, 2)).ravel()

    is_serum = flat(np.array([True, False])[None, None, :])
    sample_id = np.char.add(np.char.add(flat(subject), flat(np.array(["-V1", "-V2"])[None, :])), np.where(is_serum, "-S", "-P"))
    u = rng.random(4 * n)
    info = {
        "sample_id": sample_id,
        "subject_id": flat(subject),
        "sample_type": np.where(is_serum, "serum", "plasma_edta"),
        "site": flat(codes[site]),
        "visit": flat(np.array(["baseline", "followup"])[None, :]),
    }
    manifest = pd.DataFrame(
        {
            **info,
            "collected_at": (flat(days) * 86400 + flat(minute) * 60).astype("datetime64[s]"),
            "sex": flat(np.where(female, "F", "M")),
            "age": flat(age),
            "platelet_count": flat(plt).astype(int),
            "platelet_poor": False,
            "clotting_minutes": pd.array(np.where(is_serum, flat(clot), 0), dtype="Int64"),
            "minutes_to_centrifugation": centrif.ravel(),
            "centrifuge_g": flat(np.where(site == 0, 2000, 1500)),
            "storage_days": 0,
            "freeze_thaw_cycles": ft.ravel(),
            "fasting": flat(fasting),
            "exercise_within_24h": flat(exercise),
            "antidepressant": flat(ad),
            "diagnosis": flat(np.where(mdd, "MDD", "control")),
            "smoking": flat(smoker),
            "notes": np.where(u < 0.03, np.array(NOTES)[np.minimum((u / 0.0075).astype(int), 3)], ""),
        }
    )
    manifest.loc[~is_serum, "clotting_minutes"] = pd.NA
    manifest.insert(3, "collected_at", manifest.pop("collected_at"))
    truth = pd.DataFrame({**info, "season": flat(season), "log_conc": log_conc, "true_conc": np.exp(log_conc), "placed": True})
    return manifest, truth


def _typo(sample_id: str, taken: set[str]) -> str:
    """Two adjacent digits transposed, giving an id nobody has (else a dropped hyphen)."""
    for i in range(len(sample_id) - 1):
        a, b = sample_id[i], sample_id[i + 1]
        cand = sample_id[:i] + b + a + sample_id[i + 2 :]
        if a.isdigit() and b.isdigit() and a != b and cand not in taken:
            return cand
    return sample_id.replace("-", "", 1)


def _schedule(rng: np.random.Generator, last_day: np.ndarray) -> list[datetime]:
    """Plates run in order, in 12-weekly campaigns >= 4 weeks after their last sample, Monday to Thursday."""
    first = int(_weekday(np.array([last_day.min() + 56]))[0])
    first += (-(first + 3)) % 7  # a Monday
    camp = np.maximum(0, -((first - last_day - 28) // 84))
    per_day = np.maximum(1, -(-np.bincount(camp) // 12))  # a campaign lasts at most ~3 weeks
    day, used, cur, out, jitter = -(10**9), 0, 0, [], rng.random(len(last_day))
    for p, ci in enumerate(camp):
        if first + 84 * ci > day:
            day, used, cur = first + 84 * int(ci), 0, ci
        elif used >= per_day[cur]:
            day, used = day + 1, 0
        day += 7 - (day + 3) % 7 if (day + 3) % 7 > 3 else 0  # Friday to Sunday -> Monday
        step = 450 // per_day[cur]  # minutes between plates; jitter < step / 2 keeps read times increasing
        minute = 555 + used * step + int(jitter[p] * min(40, step // 2))
        out.append((np.datetime64(day, "D") + np.timedelta64(minute, "m")).astype(datetime))
        used += 1
    return out


def simulate_study(n_plates: int = 24, seed: int = 0, layout: pd.DataFrame | None = None) -> Study:
    """A whole study: ~35 samples per plate (template), serum + EDTA plasma, two visits, two sites, two kit lots."""
    if n_plates < 1:
        raise ValueError("n_plates must be at least 1")
    rng = np.random.default_rng(seed)
    layout = wellmap.load(TEMPLATE) if layout is None else layout
    lay, shape, pairs = _parse_layout(layout)
    spp, capacity = len(pairs), n_plates * len(pairs)
    n_rerun, n_unplaced = int(n_plates >= 2), 5
    n_subj = max(2, (capacity + n_unplaced - n_rerun - min(3, spp // 8)) // 4)  # last plate: a few slots empty
    n_unplaced = max(n_unplaced, 4 * n_subj + n_rerun - capacity)
    manifest, tsamp = _samples(rng, n_subj)
    ids = manifest["sample_id"].to_numpy()
    cday = manifest["collected_at"].to_numpy().astype("datetime64[D]").astype(int)

    # placement: visits roughly in collection order, serum next to plasma; a few samples never measured
    order = np.argsort(cday[::2] + rng.normal(0, 4, 2 * n_subj), kind="stable")
    queue = (order[:, None] * 2 + np.arange(2)).ravel()
    unplaced = np.sort(rng.choice(4 * n_subj, n_unplaced, replace=False))
    queue = queue[~np.isin(queue, unplaced)]
    filled = np.clip(len(queue) + n_rerun - np.arange(n_plates) * spp, 0, spp)

    # defects: one failing plate in the middle; bubbles, overflow and missing reads on other plates' sample wells
    fail = n_plates // 2
    ok = [p for p in range(n_plates) if p != fail and filled[p] > 0]
    taken: set[tuple[int, int]] = set()

    def pick(cands: list[int], k: int) -> list[tuple[int, int, int]]:  # (plate, slot, replicate)
        out = []
        for p in sorted(rng.choice(cands, min(k, len(cands)), replace=False)) if cands else []:
            s = int(rng.choice([s for s in range(filled[p]) if (p, s) not in taken and p * spp + s < len(queue)]))
            taken.add((int(p), s))
            out.append((int(p), s, int(rng.integers(0, 2)) if pairs[s, 1] >= 0 else 0))
        return out

    bubbles = pick([p for p in ok if p != n_plates - 1], max(1, round(n_plates / 8)))
    overflows, missings = pick(ok, max(1, round(n_plates / 16))), pick(ok, max(1, round(n_plates / 24)))
    reruns = [int(queue[bubbles[0][0] * spp + bubbles[0][1]])] if n_rerun and bubbles else []  # re-assay at end
    free = [k for k in range(len(queue)) if (k // spp, k % spp) not in taken]
    queue = np.concatenate([queue, reruns]).astype(int)
    map_ids, typos, id_set = ids[queue].astype(object), {}, set(ids)
    for k in rng.choice(free, min(2, len(free)), replace=False):
        map_ids[k] = _typo(ids[queue[k]], id_set | set(typos))
        typos[map_ids[k]] = str(ids[queue[k]])

    # read times follow collection; storage days run from collection to a sample's first read
    plate_of = np.arange(len(queue)) // spp
    starts = np.searchsorted(plate_of, np.arange(n_plates))
    last_day = np.where(filled > 0, np.maximum.reduceat(cday[queue], np.minimum(starts, len(queue) - 1)), cday.max())
    read_times = _schedule(rng, last_day)
    read_day = np.array([np.datetime64(t, "D").astype(int) for t in read_times])
    first_slot = np.full(len(ids), -1)
    first_slot[np.unique(queue)] = np.unique(queue, return_index=True)[1]
    manifest["storage_days"] = np.where(first_slot >= 0, read_day[plate_of[first_slot]], read_day.max()) - cday
    manifest.loc[unplaced, "notes"] = rng.choice(UNPLACED_NOTES, n_unplaced)
    tsamp.loc[unplaced, "placed"] = False
    plates, tplates, placements = _plates(
        rng, lay, shape, pairs, fail, queue, map_ids, manifest, tsamp, read_times, [bubbles, overflows, missings]
    )
    lots = pd.DataFrame([{"kit_lot": k, **v, "c": v["c"] * np.exp(v["log_shift"])} for k, v in LOTS.items()])
    truth = Truth(
        tsamp, tplates, lots, placements, dict(EFFECTS), dict(POOLS), typos, [str(ids[i]) for i in reruns], [str(i) for i in ids[unplaced]]
    )
    return Study(pd.DataFrame(SITES, columns=["site_code", "name", "hemisphere"]), manifest, plates, truth, layout)


def _plates(
    rng: np.random.Generator,
    lay: pd.DataFrame,
    shape: tuple[int, int],
    pairs: np.ndarray,
    fail: int,
    queue: np.ndarray,
    map_ids: np.ndarray,
    manifest: pd.DataFrame,
    tsamp: pd.DataFrame,
    read_times: list[datetime],
    defects_at: list[list[tuple[int, int, int]]],
) -> tuple[list[SimPlate], pd.DataFrame, pd.DataFrame]:
    """OD450 / OD630 for every plate at once from the per-plate curves, shifts, contents and defects."""
    n, (R, C), spp, P = len(read_times), shape, len(pairs), len(queue)
    lot = (np.arange(n) >= max(1, round(0.4 * n))).astype(int) if n >= 2 else np.zeros(1, int)
    op, rd = rng.choice(len(OPERATORS), n, p=OPERATOR_P), rng.choice(len(READERS), n, p=READER_P)
    par = {k: np.array([list(LOTS.values())[i][k] for i in lot]) for k in ("a", "b", "c", "d", "log_shift")}
    s_op, s_plate = np.array(list(OPERATORS.values()))[op], np.clip(rng.normal(0, 0.035, n), -0.07, 0.07)
    s = par["log_shift"] + s_op + s_plate
    a, b = par["a"] * np.exp(rng.normal(0, 0.08, n)), par["b"] * np.exp(rng.normal(0, 0.03, n))
    c = par["c"] * np.exp(rng.normal(0, 0.06, n))
    d = par["d"] * np.exp(rng.normal(0, 0.04, n)) * np.array(READER_OD_SCALE)[rd]

    X = np.zeros((n, R * C))  # true in-well concentration, pg/mL (0 for blanks, empty and unused wells)
    level_idx = pd.factorize(lay["role"].astype(str) + ":" + lay["level"].astype(str))[0]
    lvl_noise = rng.standard_normal((n, level_idx.max() + 1))[:, level_idx]  # control vial / pool aliquot
    nom, pos, role = lay["nominal"].to_numpy(float), lay["pos"].to_numpy(), lay["role"].to_numpy(str)
    std, ctl, br = role == "standard", role == "control", role == "bridge"
    X[:, pos[std]] = nom[std] * np.exp(-s)[:, None]
    levels = np.sort(np.unique(nom[std]))[::-1]  # failing plate: tubes S3<->S5 and S4<->S6 mixed up
    swap = dict(zip(levels[2:6], levels[[4, 5, 2, 3]])) if len(levels) >= 6 else {}
    X[fail, pos[std]] = np.array([swap.get(v, v) for v in nom[std]]) * np.exp(-s[fail])
    X[:, pos[ctl]] = nom[ctl] * np.exp(-par["log_shift"][:, None] + 0.02 * lvl_noise[:, ctl])
    pool = [POOLS.get(str(v), 25000.0) for v in lay["level"][br]] / lay["dilution"][br].fillna(50).to_numpy()
    X[:, pos[br]] = pool * np.exp(0.03 * lvl_noise[:, br])
    k_slot, k_rep = np.nonzero(pairs[np.arange(P) % spp] >= 0)  # one entry per filled sample well
    rows, pl = pairs[k_slot % spp, k_rep], k_slot // spp
    dil = manifest["sample_type"].map(DILUTION).to_numpy(float)[queue]
    conc = tsamp["true_conc"].to_numpy()[queue] / dil * np.exp(rng.normal(0, 0.03, P))  # dilution error per slot
    X[pl, pos[rows]] = conc[k_slot]

    y = d[:, None] + (a - d)[:, None] / (1 + (X / c[:, None]) ** b[:, None])
    y = np.maximum(y * (1 + rng.normal(0, 0.03, y.shape)) + rng.normal(0, 0.004, y.shape), 0.002)
    od630 = np.maximum(rng.uniform(0.04, 0.06, n)[:, None] + rng.normal(0, 0.0015, y.shape), 0.03)
    wells, ids = lay["well"].astype(str).to_numpy(), manifest["sample_id"].to_numpy()
    od450, defects, flags = y + od630, [[] for _ in range(n)], [{} for _ in range(n)]
    for kind, items in zip(("bubble", "overflow", "missing"), defects_at):
        for p, slot, rep in items:
            q, w, sid = pos[pairs[slot, rep]], wells[pairs[slot, rep]], ids[queue[p * spp + slot]]
            if kind == "bubble":
                od450[p, q] += 0.4 * y[p, q]
                defects[p].append(f"bubble in {w}: OD450 x1.4 on one replicate of {sid}")
                continue
            flags[p][w], od450[p, q] = kind, np.nan
            od630[p, q] = np.nan if kind == "missing" else od630[p, q]
            defects[p].append(f"{kind} read in {w} ({sid})")
    stray = 1 if n > 2 and fail != 1 and len(levels) >= 3 else None  # a bubble in one S3 standard well
    if stray is not None:
        q = pos[std][nom[std] == levels[2]][0]
        od450[stray, q] += 0.5 * y[stray, q]
        defects[stray].append(f"bubble in standard well {wells[lay['pos'].to_numpy() == q][0]}: OD450 x1.5 on one S3 replicate")
    od450, od630 = np.round(od450, 4), np.round(od630, 4)
    defects[fail].append("standard preparation error: tubes S3<->S5 and S4<->S6 mixed up; curve fails acceptance")

    names = [f"BDNF-P{i + 1:0{max(3, len(str(n)))}d}" for i in range(n)]
    placements = pd.DataFrame(
        {
            "plate": np.array(names)[pl],
            "well": wells[rows],
            "map_sample_id": map_ids[k_slot].astype(str),
            "sample_id": ids[queue][k_slot],
            "dilution": dil[k_slot],
        }
    )
    bounds = np.searchsorted(pl, np.arange(n + 1))
    pm_all = placements[["well", "map_sample_id", "dilution"]].rename(columns={"map_sample_id": "sample_id"})
    plates = [
        SimPlate(
            names[i],
            list(OPERATORS)[op[i]],
            list(LOTS)[lot[i]],
            read_times[i],
            READERS[rd[i]],
            pm_all.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True),
            {450: od450[i].reshape(R, C), 630: od630[i].reshape(R, C)},
            flags[i],
            i == fail,
            defects[i],
        )
        for i in range(n)
    ]
    tplates = pd.DataFrame(
        {
            "plate": names,
            "kit_lot": np.array(list(LOTS))[lot],
            "operator": np.array(list(OPERATORS))[op],
            "reader": [READERS[i].name for i in rd],
            "log_shift_lot": par["log_shift"],
            "log_shift_operator": s_op,
            "log_shift_plate": s_plate,
            "log_shift": s,
            "a": a,
            "b": b,
            "c": c * np.exp(s),
            "d": d,
            "fails_acceptance": np.arange(n) == fail,
        }
    )
    return plates, tplates, placements
