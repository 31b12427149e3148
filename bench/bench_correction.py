"""A stored batch-correction run at full size: 12,500 approved plates, 500,000 sample results, in SQLite.

`bench_batch` times the statistics alone (qc.batch on a frame); this one times what `labdb batch correct` does end to
end: read the approved results, pool wells and standards from the database (labdb.correction.inputs), correct, and
store the run with its 12,500 shifts and 500,000 corrected values; then an export with the corrected column.
The database is filled by bench_export.build plus 2 BP1 + 2 QC2 wells and 16 standard/blank wells per plate.

    python bench/run.py correction
    python bench/bench_correction.py --rows 100000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_export import PER_PLATE, ROWS, build

BATCH = 50_000
STANDARDS = np.r_[4000 / 2 ** np.arange(7), 0.0]


def add_wells(url: str, n_plates: int, seed: int) -> float:
    """Pool and standard wells for every plate; plate and lot shifts the pools and standards carry."""
    from sqlmodel import SQLModel

    from labdb.core.db import get_engine

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    shift = rng.normal(0, 0.06, n_plates) + np.where(np.arange(n_plates) % 2 == 1, np.log(1.12), 0.0)  # lot 2 on odd ids
    well = SQLModel.metadata.tables["well"]
    rows: list[dict] = []
    with get_engine(url).begin() as conn:
        for p in range(n_plates):
            pid = p + 1
            for k, (pool, value) in enumerate((("BP1", 32000.0), ("BP1", 32000.0), ("QC2", 20000.0), ("QC2", 20000.0))):
                rows.append(
                    {
                        "plate_id": pid,
                        "position": f"H{k + 9}",
                        "row": "H",
                        "col": k + 9,
                        "role": "bridge",
                        "level": pool,
                        "nominal": None,
                        "dilution": 50.0,
                        "masked": False,
                        "od_corrected": None,
                        "conc_pg_ml": value * float(np.exp(shift[p] + 0.04 * rng.standard_normal())),
                    }
                )
            c = 1500.0 * np.exp(shift[p])
            od = 0.05 + 3.15 / (1 + (c / np.maximum(STANDARDS, 1e-9)) ** 1.1)
            for k, (x, y) in enumerate(zip(np.repeat(STANDARDS, 2), np.repeat(od, 2), strict=True)):
                rows.append(
                    {
                        "plate_id": pid,
                        "position": f"{'ABCDEFGH'[k // 2]}{1 + k % 2}",
                        "row": "ABCDEFGH"[k // 2],
                        "col": 1 + k % 2,
                        "role": "blank" if x == 0 else "standard",
                        "level": f"S{k // 2 + 1}",
                        "nominal": float(x),
                        "dilution": 1.0,
                        "masked": False,
                        "od_corrected": float(y * (1 + 0.02 * rng.standard_normal())),
                        "conc_pg_ml": None,
                    }
                )
            if len(rows) >= BATCH:
                conn.execute(well.insert(), rows)
                rows = []
        if rows:
            conn.execute(well.insert(), rows)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict[str, str]:
    from labdb.core.db import session_scope
    from labdb.correction import CorrectionOptions, _correct, inputs, run_correction
    from labdb.export import write_export

    n_rows = int(getattr(args, "rows", None) or ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        built = build(url, n_rows, getattr(args, "seed", 11))
        wells_s = add_wells(url, int(built["plates"]), getattr(args, "seed", 11))
        figures = {
            "database": f"{built['plates']:,} approved plates, {n_rows:,} sample results ({PER_PLATE} per plate), "
            f"built in {built['build_s'] + wells_s:.0f} s"
        }
        for method, options in (
            ("bridge", CorrectionOptions("bridge")),
            ("lot-shift", CorrectionOptions("lot-shift", reference_lot="L2301")),
        ):
            with session_scope(url) as s:
                t0 = time.perf_counter()
                data = inputs(s)
                t1 = time.perf_counter()
                _correct(data, options)
                t2 = time.perf_counter()
            with session_scope(url) as s:
                t3 = time.perf_counter()
                run = run_correction(s, options, "bench").run
                version, n_values = run.id, run.n_values
            t4 = time.perf_counter()  # includes the commit
            figures[f"{method}: labdb batch correct end to end"] = (
                f"{t4 - t3:.1f} s (read {t1 - t0:.1f} s, correct {t2 - t1:.1f} s, store {max(t4 - t3 - (t2 - t0), 0):.1f} s)"
                f" -> version {version}, "
                f"{n_values:,} corrected values (target < 30 s)"
            )
        with session_scope(url) as s:
            t0 = time.perf_counter()
            summary = write_export(s, Path(tmp) / "export.parquet", actor="bench")
            dt = time.perf_counter() - t0
        figures["export with bdnf_pg_ml_corrected (parquet)"] = f"{summary.rows:,} rows in {dt:.1f} s ({summary.rows / dt:,.0f} rows/s)"
        figures["peak RSS"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"  {key}: {value}")
