"""Batch-correction throughput: 12,500 plates x 40 samples (500,000 samples) + 3 BP1 and 2 QC2 wells per plate.

Times each `qc.batch` method end to end (including its diagnostics: two REML fits and the check-pool CVs) and the
lot-shift fit on 12,500 simulated standard curves (16 wells each). Target: under 30 s in all.
`python bench/bench_batch.py [--plates N]` runs it alone (default 12,500 plates here; bench/run.py passes --plates,
whose default of 200 is meant for ingest, so below 1,000 this benchmark uses 12,500).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from qc.batch import correct, lot_shifts_from_standards

PER_PLATE = 40
SEASON = np.array(["winter", "spring", "summer", "autumn"])


def simulate(n_plates: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy study frame (collection order, two lots, plate and season effects) and standard wells.

    With 40 samples per plate, strict collection order would put one season on every plate (ComBat and the mixed
    model rightly refuse); here placement is collection order blurred by N(0, 60 days)."""
    rng = np.random.default_rng(seed)
    n = n_plates * PER_PLATE
    day = rng.uniform(0, 365, n)
    day = day[np.argsort(day + rng.normal(0, 60, n))]  # plates in collection order, +-60 days: partly confounded
    season = SEASON[np.minimum((day // 91.25).astype(int), 3)]
    serum, mdd = rng.random(n) < 0.5, rng.random(n) < 0.45
    lot = np.where(np.arange(n_plates) >= 0.4 * n_plates, "L2", "L1")
    shift = np.where(lot == "L2", np.log(1.12), 0.0) + rng.normal(0, 0.06, n_plates)
    names = np.char.add("P", np.char.zfill(np.arange(1, n_plates + 1).astype(str), 6))
    pi = np.arange(n) // PER_PLATE
    season_effect = np.array([-0.15, 0.0, 0.15, 0.0])[np.minimum((day // 91.25).astype(int), 3)]
    true = np.where(serum, np.log(30000), np.log(1200)) + season_effect - 0.13 * mdd + 0.25 * rng.standard_normal(n)
    parts = [
        pd.DataFrame(
            {
                "value": np.exp(true + shift[pi] + 0.04 * rng.standard_normal(n)),
                "plate": names[pi],
                "kit_lot": lot[pi],
                "role": "sample",
                "pool": None,
                "sample_type": np.where(serum, "serum", "plasma_edta"),
                "season": season,
                "diagnosis": np.where(mdd, "MDD", "control"),
                "visit": np.where(rng.random(n) < 0.5, "baseline", "followup"),
            }
        )
    ]
    for pool, value, wells in (("BP1", 32000.0, 3), ("QC2", 20000.0, 2)):
        pj = np.repeat(np.arange(n_plates), wells)
        v = np.log(value) + shift[pj] + 0.04 * rng.standard_normal(len(pj))
        parts.append(pd.DataFrame({"value": np.exp(v), "plate": names[pj], "kit_lot": lot[pj], "role": "bridge", "pool": pool}))
    x = np.repeat(np.r_[4000 / 2 ** np.arange(7), 0.0], 2)
    c = 1500 * np.exp(np.where(lot == "L2", np.log(1.12), 0.0) + rng.normal(0, 0.03, n_plates))[:, None]
    y = 3.2 + (0.05 - 3.2) / (1 + (x / c) ** 1.1)
    y = y * (1 + 0.03 * rng.standard_normal(y.shape))
    std = pd.DataFrame({"plate": np.repeat(names, len(x)), "kit_lot": np.repeat(lot, len(x)), "x": np.tile(x, n_plates), "y": y.ravel()})
    return pd.concat(parts, ignore_index=True), std


def run(args: argparse.Namespace) -> dict[str, str]:
    plates = getattr(args, "plates", 12500)
    plates = 12500 if plates < 1000 else plates
    t0 = time.perf_counter()
    df, std = simulate(plates, getattr(args, "seed", 11))
    out = {"rows": f"{len(df):,} ({plates:,} plates, {plates * PER_PLATE:,} samples)", "simulate": f"{time.perf_counter() - t0:.1f} s"}
    total = 0.0
    t = time.perf_counter()
    fit = lot_shifts_from_standards(std)
    dt = time.perf_counter() - t
    total += dt
    out["lot shift fit (standards)"] = f"{dt:.2f} s  S(L2) = {fit.shift['L2']:.4f} (truth {np.log(1.12):.4f})"
    for method, kw in (("bridge", {}), ("lot-shift", {"lot_shifts": fit}), ("combat", {}), ("mixed", {})):
        t = time.perf_counter()
        _, res = correct(df, method, **kw)
        dt = time.perf_counter() - t
        total += dt
        cp = res.diagnostics["check_pool"]
        out[method] = (
            f"{dt:.2f} s  QC2 across-plate CV {100 * cp['before']['across_plate_cv']:.1f}% -> "
            f"{100 * cp['after']['across_plate_cv']:.1f}% (within {100 * cp['after']['within_plate_cv']:.1f}%)"
        )
    out["total"] = f"{total:.1f} s (target < 30 s)"
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plates", type=int, default=12500)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"{key}: {value}")
