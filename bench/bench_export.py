"""Export 500,000 sample results with metadata to Parquet and CSV: rows per second and peak memory, streamed.

The database (SQLite) is filled directly with SQLAlchemy Core executemany (not the ingest pipeline): 12,500
approved plates with a current curve fit, 40 sample results each, 250,000 samples with every manifest column
and two extra columns, 2 sites. Each export runs in a child process so its peak RSS is its own; one more child
loads the whole export into one DataFrame, the all-in-memory size the streamed export avoids.

    python bench/run.py export            # 500,000 rows
    python bench/bench_export.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROWS = 500_000
PER_PLATE = 40
BATCH = 25_000


def build(url: str, n_rows: int, seed: int = 11) -> dict[str, float]:
    """Fill a migrated database with `n_rows` approved sample results and their metadata; returns timings."""
    from sqlmodel import SQLModel

    from labdb.core.db import get_engine
    from labdb.core.migrate import upgrade

    t0 = time.perf_counter()
    upgrade(url)
    rng = np.random.default_rng(seed)
    t = SQLModel.metadata.tables
    n_plates = -(-n_rows // PER_PLATE)
    n_samples = max(n_rows // 2, 1)  # every sample measured twice (a re-assay on a later plate)
    now = datetime.now(UTC)
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(
            t["raw_file"].insert(),
            [
                {
                    "sha256": f"{i:064x}",
                    "kind": "reader_export" if i else "template",
                    "original_name": f"BDNF-P{i:05d}.txt",
                    "size_bytes": 10,
                    "content": b"0123456789",
                    "stored_at": now,
                    "stored_by": "bench",
                }
                for i in range(n_plates + 1)
            ],
        )
        conn.execute(t["kit_lot"].insert(), [{"id": 1, "lot": "L2301", "created_at": now}, {"id": 2, "lot": "L2402", "created_at": now}])
        conn.execute(t["site"].insert(), [{"id": 1, "code": "AMS", "hemisphere": "north"}, {"id": 2, "code": "SYD", "hemisphere": "south"}])
        n_subjects = max(n_samples // 4, 1)  # 2 visits x serum + plasma
        conn.execute(
            t["subject"].insert(),
            [{"id": i + 1, "code": f"P{i:06d}", "site_id": 1 + i % 2, "sex": "FM"[i % 3 == 0]} for i in range(n_subjects)],
        )
        start = datetime(2022, 1, 1, 7, 0)
        for lo in range(0, n_samples, BATCH):
            ids = np.arange(lo, min(lo + BATCH, n_samples))
            minutes = rng.integers(0, 3 * 365 * 24 * 60, len(ids))
            conn.execute(
                t["sample"].insert(),
                [
                    {
                        "id": int(i) + 1,
                        "code": f"S{i:07d}",
                        "subject_id": int(i) // 4 + 1,
                        "sample_type": "serum" if i % 2 == 0 else "plasma_edta",
                        "visit": ("baseline", "followup")[(i // 2) % 2],
                        "collected_at": start + timedelta(minutes=int(m)),
                        "age": float(20 + i % 60),
                        "platelet_count": float(150 + i % 250),
                        "platelet_poor": False,
                        "clotting_minutes": float(30 + i % 30),
                        "minutes_to_centrifugation": float(20 + i % 40),
                        "centrifuge_g": 2000.0,
                        "storage_days": float(i % 900),
                        "freeze_thaw_cycles": int(i % 3),
                        "fasting": bool(i % 2),
                        "exercise_within_24h": bool(i % 5 == 0),
                        "antidepressant": bool(i % 7 == 0),
                        "diagnosis": ("control", "MDD")[i % 2],
                        "smoking": bool(i % 4 == 0),
                        "notes": "haemolysed" if i % 97 == 0 else None,
                        "extra": {"freezer_box": f"BOX-{i // 81}", "aliquot": str(i % 4)},
                    }
                    for i, m in zip(ids.tolist(), minutes.tolist(), strict=True)
                ],
            )
        conn.execute(
            t["plate"].insert(),
            [
                {
                    "id": p + 1,
                    "file_sha256": f"{p + 1:064x}",
                    "index_in_file": 0,
                    "name": f"BDNF-P{p + 1:05d}",
                    "original_filename": f"BDNF-P{p + 1:05d}.txt",
                    "reader_format": "gen5_text",
                    "read_time": start + timedelta(hours=p),
                    "n_wells": 96,
                    "operator": ("KM", "JS")[p % 2],
                    "kit_lot_id": 1 + p % 2,
                    "template_name": "bdnf_standard_96",
                    "template_sha256": f"{0:064x}",
                    "status": "approved",
                    "verdict": "pass",
                    "ingested_at": now,
                    "ingested_by": "bench",
                    "reviewed_by": "dr.pi",
                    "reviewed_at": now,
                }
                for p in range(n_plates)
            ],
        )
        conn.execute(
            t["curve_fit"].insert(),
            [
                {
                    "id": p + 1,
                    "plate_id": p + 1,
                    "is_current": True,
                    "model": "4pl",
                    "weighting": "1/y2",
                    "converged": True,
                    "n_points": 8,
                    "df": 4,
                    "lloq_pg_ml": 62.5,
                    "uloq_pg_ml": 4000.0,
                    "engine_version": "qc.curves 0.1.0",
                    "fitted_at": now,
                }
                for p in range(n_plates)
            ],
        )
        for lo in range(0, n_rows, BATCH):
            idx = np.arange(lo, min(lo + BATCH, n_rows))
            conc = rng.lognormal(8.5, 0.6, len(idx))
            od = rng.uniform(0.1, 2.5, len(idx))
            cv = rng.gamma(2.0, 2.0, len(idx))
            rows = []
            for k, r in enumerate(idx.tolist()):
                sample = r // 2 if r // 2 < n_samples else r % n_samples
                dilution = 50.0 if sample % 2 == 0 else 2.0
                censoring = "above_uloq" if conc[k] > 4000 * dilution else "none"
                rows.append(
                    {
                        "id": r + 1,
                        "plate_id": r // PER_PLATE + 1,
                        "curve_fit_id": r // PER_PLATE + 1,
                        "role": "sample",
                        "name": f"S{sample:07d}",
                        "sample_id": sample + 1,
                        "dilution": dilution,
                        "n_replicates": 2,
                        "mean_od": float(od[k]),
                        "sd_od": float(od[k] * cv[k] / 100),
                        "cv_pct": float(cv[k]),
                        "conc_pg_ml": float(conc[k]),
                        "censoring": censoring,
                        "lloq_pg_ml": 62.5 * dilution,
                        "uloq_pg_ml": 4000.0 * dilution,
                        "flags": ["cv_high"] if cv[k] > 15 else [],
                    }
                )
            conn.execute(t["result"].insert(), rows)
    return {"build_s": time.perf_counter() - t0, "plates": n_plates, "samples": n_samples}


def child(kind: str, url: str, out: str) -> dict:
    """One measurement in this (fresh) process: a streamed export to `out`, or ('memory') the whole frame at once."""
    import pyarrow.parquet  # noqa: F401  (imported before the baseline, as it is for every kind)

    from labdb.core.db import session_scope
    from labdb.export import export_frame, write_export

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with session_scope(url) as session:
        if kind == "memory":
            df = export_frame(session)
            rows, frame_bytes = len(df), int(df.memory_usage(deep=True).sum())
        else:
            summary = write_export(session, Path(out), actor="bench")
            rows, frame_bytes = summary.rows, 0
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": seconds,
        "base_kib": base,
        "peak_kib": peak,
        "frame_bytes": frame_bytes,
        "file_bytes": Path(out).stat().st_size if kind != "memory" else 0,
    }


def _in_child(kind: str, url: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, url, str(out)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"export child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args) -> dict[str, str]:
    n_rows = int(getattr(args, "rows", None) or ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = f"sqlite:///{tmp / 'bench.sqlite'}"
        built = build(url, n_rows, getattr(args, "seed", 11))
        figures = {
            "result rows": f"{n_rows:,} ({built['plates']:,} plates, {built['samples']:,} samples)",
            "build database (s)": f"{built['build_s']:.1f}",
        }
        for fmt in ("parquet", "csv"):
            m = _in_child(fmt, url, tmp / f"export.{fmt}")
            figures[f"{fmt}: rows per second"] = f"{m['rows'] / m['seconds']:,.0f} ({m['rows']:,} rows in {m['seconds']:.1f} s)"
            figures[f"{fmt}: peak RSS (MiB)"] = (
                f"{m['peak_kib'] / 1024:.0f} (+{(m['peak_kib'] - m['base_kib']) / 1024:.0f} "
                f"over the process after imports); file {m['file_bytes'] / 2**20:.0f} MiB"
            )
        whole = _in_child("memory", url, tmp / "unused")
        figures["all in memory (for comparison)"] = (
            f"DataFrame {whole['frame_bytes'] / 2**20:.0f} MiB; peak RSS {whole['peak_kib'] / 1024:.0f} MiB "
            f"(+{(whole['peak_kib'] - whole['base_kib']) / 1024:.0f} over the process after imports), {whole['seconds']:.1f} s; "
            "it grows with the rows, the streamed exports' peak does not"
        )
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
