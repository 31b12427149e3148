"""Ingest N simulated plates (Gen5 text files) into a fresh SQLite database: plates per second, peak memory."""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from labdb.core.db import session_scope
from labdb.core.migrate import upgrade
from labdb.demo.run import write_study_files
from labdb.demo.simulate import simulate_study
from labdb.ingest import IngestOutcome, IngestRequest, Upload, ingest
from labdb.samples import import_manifest, set_site
from labdb.templates import load_plate_map, load_template


def run(args) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = f"sqlite:///{tmp / 'bench.sqlite'}"
        upgrade(url)
        t0 = time.perf_counter()
        study = simulate_study(n_plates=args.plates, seed=args.seed)
        paths = write_study_files(study, tmp / "files")
        t_files = time.perf_counter() - t0
        template = load_template(paths["template"])
        plate_map = load_plate_map(paths["plate_map"])
        with session_scope(url) as session:
            for site in study.sites.itertuples(index=False):
                set_site(session, site.site_code, site.hemisphere, site.name, actor="bench")
            import_manifest(session, paths["manifest"], actor="bench")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        request = IngestRequest(template, plate_map, "L2301", "bench", actor="bench")
        outcomes = list(ingest(url, (Upload.from_path(p) for p in paths["plates"]), request))
        assert all(isinstance(o, IngestOutcome) and not o.duplicate for _, o in outcomes)
        elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = len(study.plates)
    return {
        "plates": str(n),
        "simulate + write files (s)": f"{t_files:.2f}",
        "ingest (s)": f"{elapsed:.2f}",
        "plates per second": f"{n / elapsed:.1f}",
        "peak RSS (MiB)": f"{peak / 1024:.0f} (before ingest {rss_before / 1024:.0f})",
    }
