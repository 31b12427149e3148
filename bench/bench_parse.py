"""Parse throughput per reader format over the real exports in ../shared/fixtures/plate_exports (plates per second)."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from labdb.core.errors import InputError
from labdb.readers.registry import read_plates

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "plate_exports"
MIN_SECONDS = 0.3  # repeat each file at least this long


def run(args) -> dict[str, str]:
    if not FIXTURES.is_dir():
        return {"skipped": f"no fixtures at {FIXTURES}"}
    per_format: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])  # plates, seconds, files
    refused = []
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "SOURCES.md"):
        data = path.read_bytes()
        try:
            plates = read_plates(data, path.name)
        except InputError:
            refused.append(path.name)
            continue
        repeats, start = 0, time.perf_counter()
        while True:
            read_plates(data, path.name)
            repeats += 1
            elapsed = time.perf_counter() - start
            if elapsed >= MIN_SECONDS:
                break
        entry = per_format[plates[0].format]
        entry[0] += len(plates) * repeats
        entry[1] += elapsed
        entry[2] += 1
    out = {fmt: f"{plates / seconds:8.1f} plates/s over {files} file(s)" for fmt, (plates, seconds, files) in sorted(per_format.items())}
    out["refused (kinetic or unsupported)"] = ", ".join(refused) or "none"
    return out
