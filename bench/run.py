"""Benchmark runner: `python bench/run.py [NAME...] [--plates N]`. Prints figures; asserts nothing.

Each benchmark is a module in bench/ with `run(args) -> dict[str, str]`; later issues add theirs to BENCHMARKS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = {
    "ingest": "bench_ingest",
    "parse": "bench_parse",
    "curves": "bench_curves",
    "export": "bench_export",
    "batch": "bench_batch",
    "pages": "bench_pages",
    "correction": "bench_correction",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), help=f"benchmarks to run ({', '.join(BENCHMARKS)})")
    parser.add_argument("--plates", type=int, default=200, help="simulated plates for the ingest benchmark")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    for name in args.names:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        figures = importlib.import_module(BENCHMARKS[name]).run(args)
        print(f"[{name}]")
        for key, value in figures.items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
