"""Dashboard pages on a study of 2,500 plates: data-load time per page (cold and cached), full renders, query plans.

The database (SQLite, in a temporary folder) is filled directly with SQLAlchemy Core executemany (not the ingest
pipeline) in the shape ingest and review leave it: 2,500 plates of the bdnf_96_duplicate layout (96 wells: 7
standards + blank, 3 kit controls, pools BP1 and QC2, 35 samples, all in duplicate) over 5 kit lots, 97% approved,
the newest evaluated, 1% rejected; a current 4PL fit per plate with its standards table (2% also keep the superseded
fit and its results, as a refit does), 40 results per fit; 85,000 samples of 21,250 subjects at 3 sites (3,000 never
measured, a few plate codes in no manifest); the audit trail of the manifest import, ingest and review; the Westgard
guide sets and violations of labdb.runqc.reevaluate (timed: approve, reject and refit run it). Raw files hold
placeholder bytes.

Then per page: the dashboards.data functions it calls, timed cold (st.cache_data cleared) and warm (cached); the
page rendered by Streamlit's AppTest, logged in as a PI, cold and re-run; and SQLite's EXPLAIN QUERY PLAN of every
statement those functions ran: SEARCH ... USING INDEX is an indexed lookup, a bare SCAN reads the whole table.

    python bench/run.py pages             # 2,500 plates (fixed: --plates is the ingest benchmark's)
    python bench/bench_pages.py --plates 500
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

PLATES = 2500
LOTS = ("L2301", "L2302", "L2401", "L2402", "L2501")
SITES = (("AMS", "north"), ("SYD", "south"), ("CPT", "south"))
OPERATORS = ("AvD", "RP", "KM", "JS")
ACCOUNTS = (("tech", "technician"), ("pi", "pi"), ("stat", "statistician"), ("admin", "admin"))
# Replicate groups of bdnf_96_duplicate: (role, level, pg/mL in the well, dilution); each in two adjacent wells.
GROUPS = ([("standard", f"S{i + 1}", 4000.0 / 2**i, 1.0) for i in range(7)] + [("blank", "S0", 0.0, 1.0)]
          + [("control", lv, nom, 1.0) for lv, nom in (("low", 150.0), ("mid", 600.0), ("high", 2000.0))]
          + [("bridge", "BP1", 600.0, 50.0), ("bridge", "QC2", 300.0, 50.0)] + [("sample", None, np.nan, np.nan)] * 35)
SAMPLE_GROUPS = 35
LLOQ, ULOQ = 62.5, 4000.0
CHUNK = 250  # plates per executemany batch
START = datetime(2022, 1, 3, 8, 0)
APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def _positions(g: int) -> tuple[str, int]:
    """Row and first column of replicate group g (columns 1-4 in blocks of 8 groups, then an 8x8 block of pairs)."""
    return ("ABCDEFGH"[g % 8], 1 + 2 * (g // 8)) if g < 16 else ("ABCDEFGH"[(g - 16) // 4], 5 + 2 * ((g - 16) % 4))


def _sample_code(i: int) -> str:
    subject = i // 4
    return f"{SITES[subject % 3][0]}-{subject:05d}-V{1 + (i // 2) % 2}-{'SP'[i % 2]}"


def _event(at: datetime, actor: str, action: str, entity: str, entity_id: str, after: dict | None = None,
           before: dict | None = None, detail: str | None = None) -> dict[str, Any]:
    """One audit_event row (every row of an executemany needs the same keys)."""
    return {"at": at, "actor": actor, "action": action, "entity": entity, "entity_id": entity_id, "before": before,
            "after": after, "detail": detail}


def build(url: str, n_plates: int = PLATES, seed: int = 11) -> dict[str, Any]:
    """Fill a migrated database with `n_plates` plates and everything the pages read; returns counts and timings."""
    from sqlmodel import Session, SQLModel

    from labdb.db import get_engine
    from labdb.migrate import upgrade
    from labdb.runqc import reevaluate

    t0 = time.perf_counter()
    upgrade(url)
    rng = np.random.default_rng(seed)
    t = SQLModel.metadata.tables
    slots = n_plates * SAMPLE_GROUPS
    n_measured, n_samples = round(slots * 0.94), round(slots * 0.94) + round(slots * 0.0343)
    n_subjects = -(-n_samples // 4)
    truth = np.where(np.arange(n_samples) % 2 == 0, rng.lognormal(np.log(20000), 0.35, n_samples),
                     rng.lognormal(np.log(800), 0.7, n_samples))  # serum (1:50) and EDTA plasma (1:2) BDNF, pg/mL
    slot = np.arange(slots).reshape(n_plates, SAMPLE_GROUPS)
    sample = np.where(slot < n_measured, slot, (slot * 7919) % n_measured)  # the rest re-assay earlier samples
    unknown = slot % 2500 == 1234  # a code on the plate map that is in no manifest
    dil = np.where(sample % 2 == 0, 50.0, 2.0)
    x = np.tile(np.array([g[2] for g in GROUPS]), (n_plates, 1))
    x[:, 8:13] *= rng.normal(1, 0.07, (n_plates, 5))
    x[:, 13:] = truth[sample] / dil
    dilution = np.tile(np.array([g[3] for g in GROUPS]), (n_plates, 1))
    dilution[:, 13:] = dil
    a, b = rng.normal(0.05, 0.005, (n_plates, 1)), rng.normal(1.1, 0.05, (n_plates, 1))
    c, d = rng.lognormal(np.log(1300), 0.1, (n_plates, 1)), rng.normal(3.2, 0.1, (n_plates, 1))
    cv = np.where(rng.random((n_plates, len(GROUPS), 1)) < 0.03, 0.2, 0.03)
    od = (d + (a - d) / (1 + (x / c) ** b))[..., None] * (1 + cv * rng.standard_normal((n_plates, len(GROUPS), 2)))
    od = od.clip(0.001)

    def back(y: np.ndarray) -> np.ndarray:
        cc, bb, aa, dd = (np.broadcast_to(v if y.ndim == 2 else v[..., None], y.shape) for v in (c, b, a, d))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where((y > aa) & (y < dd), cc * ((aa - dd) / (y - dd) - 1) ** (1 / bb), np.nan)

    mean_od, sd_od = od.mean(axis=2), od.std(axis=2, ddof=1)
    conc_well = back(mean_od)
    well_conc = back(od) * np.nan_to_num(dilution, nan=1.0)[..., None]
    refit = (np.arange(n_plates) % 50 == 7)
    status = np.where(np.arange(n_plates) % 100 == 99, "rejected",
                      np.where(np.arange(n_plates) >= n_plates - max(n_plates * 3 // 100, 1), "evaluated", "approved"))
    read = [START + timedelta(hours=10.5 * p) for p in range(n_plates)]
    engine = get_engine(url)
    n_wells = n_results = n_events = 0
    with engine.begin() as conn:
        conn.execute(t["raw_file"].insert(), [
            {"sha256": f"{i:064x}", "kind": ("template", "plate_map", "manifest")[i] if i < 3 else "reader_export",
             "original_name": f"BDNF-P{i - 2:05d}.txt", "size_bytes": 5, "content": b"bench", "stored_at": START,
             "stored_by": "bench"} for i in range(n_plates + 3)])
        conn.execute(t["kit_lot"].insert(), [{"id": i + 1, "lot": lot, "created_at": START} for i, lot in enumerate(LOTS)])
        conn.execute(t["site"].insert(), [{"id": i + 1, "code": s, "hemisphere": h} for i, (s, h) in enumerate(SITES)])
        conn.execute(t["subject"].insert(), [{"id": i + 1, "code": f"{SITES[i % 3][0]}-{i:05d}", "site_id": i % 3 + 1,
                                              "sex": "FM"[i % 3 == 0]} for i in range(n_subjects)])
        for lo in range(0, n_samples, 20_000):
            conn.execute(t["sample"].insert(), [
                {"id": i + 1, "code": _sample_code(i), "subject_id": i // 4 + 1, "sample_type": ("serum", "plasma_edta")[i % 2],
                 "visit": ("baseline", "followup")[(i // 2) % 2], "collected_at": START + timedelta(minutes=37 * i),
                 "age": float(20 + i % 60), "platelet_count": float(150 + i % 250), "clotting_minutes": float(30 + i % 30),
                 "freeze_thaw_cycles": i % 3, "fasting": bool(i % 2), "diagnosis": ("control", "MDD")[i % 2],
                 "manifest_sha256": f"{2:064x}"} for i in range(lo, min(lo + 20_000, n_samples))])
        events = [_event(START, "pi", "site.set", "site", s, {"hemisphere": h}) for s, h in SITES]
        events += [_event(START + timedelta(seconds=i), "pi", "sample.add", "sample", _sample_code(i),
                          {"subject_id": _sample_code(i)[:9]}, detail="manifest.xlsx") for i in range(n_samples)]
        conn.execute(t["audit_event"].insert(), events)
        n_events += len(events)
        fit_id = result_id = n_plates
        for lo in range(0, n_plates, CHUNK):
            plates, fits, wells, results, events = [], [], [], [], []
            for p in range(lo, min(lo + CHUNK, n_plates)):
                fail = status[p] == "rejected"
                plates.append({
                    "id": p + 1, "file_sha256": f"{p + 3:064x}", "index_in_file": 0, "name": f"BDNF-P{p + 1:05d}",
                    "original_filename": f"BDNF-P{p + 1:05d}.txt", "reader_format": "gen5_text", "read_time": read[p],
                    "n_wells": 96, "operator": OPERATORS[p % 4], "kit_lot_id": 1 + p * len(LOTS) // n_plates,
                    "template_name": "bdnf_96_duplicate", "template_sha256": f"{0:064x}", "plate_map_sha256": f"{1:064x}",
                    "measure_nm": 450, "reference_nm": 630, "status": str(status[p]), "verdict": "fail" if fail else "pass",
                    "verdict_reasons": ["Kit controls: 1 of 6 within ±20% of nominal (need 2/3)."] if fail else [],
                    "ingested_at": read[p] + timedelta(hours=1), "ingested_by": OPERATORS[p % 4],
                    "reviewed_by": None if status[p] == "evaluated" else "pi",
                    "reviewed_at": None if status[p] == "evaluated" else read[p] + timedelta(days=1)})
                standards = [{"level": f"S{g + 1}", "nominal": GROUPS[g][2], "n": 2, "mean_od": float(mean_od[p, g]),
                              "cv_pct": float(100 * sd_od[p, g] / mean_od[p, g]), "backcalc": float(conc_well[p, g]),
                              "recovery_pct": float(100 * conc_well[p, g] / GROUPS[g][2]), "counted": True, "passed": True,
                              "reason": "passed"} for g in range(7)]
                fit = {"plate_id": p + 1, "model": "4pl", "weighting": "1/y2", "converged": True, "message": "converged.",
                       "params": {"a": float(a[p, 0]), "b": float(b[p, 0]), "c": float(c[p, 0]), "d": float(d[p, 0])},
                       "n_points": 16, "df": 12, "r2": 0.999, "lloq_pg_ml": LLOQ, "uloq_pg_ml": ULOQ, "standards": standards,
                       "engine_version": "qc.curves 0.1.0", "fitted_at": read[p] + timedelta(hours=1)}
                fit_ids = [p + 1] + ([fit_id := fit_id + 1] if refit[p] else [])
                fits += [{**fit, "id": fid, "is_current": k == 0} for k, fid in enumerate(fit_ids)]
                for g, (role, level, nominal, _) in enumerate(GROUPS):
                    row, col = _positions(g)
                    s = int(sample[p, g - 13]) if role == "sample" else -1
                    code = (f"XX-{slot[p, g - 13]:06d}" if unknown[p, g - 13] else _sample_code(s)) if s >= 0 else None
                    sid = None if s < 0 or unknown[p, g - 13] else s + 1
                    dl = float(dilution[p, g])
                    for k in range(2):
                        masked = bool(refit[p] and g == 1 and k == 1)
                        wells.append({"plate_id": p + 1, "position": f"{row}{col + k}", "row": row, "col": col + k, "role": role,
                                      "level": level, "nominal": None if role == "sample" else nominal, "dilution": dl,
                                      "sample_code": code, "sample_id": sid, "raw_values": {"450": float(od[p, g, k]) + 0.04, "630": 0.04},
                                      "raw_flags": {"450": "ok", "630": "ok"}, "od_corrected": float(od[p, g, k]),
                                      "conc_pg_ml": None if np.isnan(well_conc[p, g, k]) else float(well_conc[p, g, k]),
                                      "flags": None, "masked": masked, "mask_reason": "bubble in the well" if masked else None,
                                      "masked_by": "tech" if masked else None, "masked_at": read[p] + timedelta(hours=3) if masked else None})
                    if role in ("standard", "blank"):
                        continue
                    cw, cvp = conc_well[p, g], float(100 * sd_od[p, g] / mean_od[p, g])
                    censor = "below_lloq" if not cw >= LLOQ else "above_uloq" if cw > ULOQ else "none"
                    for fid in fit_ids:
                        result_id += 1
                        results.append({"id": result_id, "plate_id": p + 1, "curve_fit_id": fid, "role": role,
                                        "name": level or code, "sample_id": sid, "dilution": dl, "n_replicates": 2,
                                        "mean_od": float(mean_od[p, g]), "sd_od": float(sd_od[p, g]), "cv_pct": cvp,
                                        "conc_pg_ml": None if np.isnan(cw) else float(cw * dl), "censoring": censor,
                                        "lloq_pg_ml": LLOQ * dl, "uloq_pg_ml": ULOQ * dl,
                                        "nominal_pg_ml": nominal if role == "control" else None,
                                        "recovery_pct": float(100 * cw / nominal) if role == "control" else None,
                                        "flags": ["cv_high"] if cvp > 15 else None})
                events.append(_event(read[p] + timedelta(hours=1), OPERATORS[p % 4], "plate.ingest", "plate", str(p + 1),
                                     {"file": f"BDNF-P{p + 1:05d}.txt", "plate": f"BDNF-P{p + 1:05d}", "verdict": "pass"}))
                if refit[p]:
                    events += [_event(read[p] + timedelta(hours=3), "tech", "well.mask", "well", f"{p + 1}:A2", {"masked": True}),
                               _event(read[p] + timedelta(hours=3), "tech", "plate.refit", "plate", str(p + 1), {"verdict": "pass"})]
                if status[p] != "evaluated":
                    events.append(_event(read[p] + timedelta(days=1), "pi", f"plate.{status[p][:-1]}", "plate", str(p + 1),
                                         {"status": str(status[p])}, {"status": "evaluated"}, f"BDNF-P{p + 1:05d}"))
            for table, rows in (("plate", plates), ("curve_fit", fits), ("well", wells), ("result", results), ("audit_event", events)):
                conn.execute(t[table].insert(), rows)
            n_wells, n_results, n_events = n_wells + len(wells), n_results + len(results), n_events + len(events)
        conn.execute(t["user_account"].insert(), [{"name": n, "role": r, "password_hash": "not-a-hash", "created_at": START,
                                                   "password_changed_at": START} for n, r in ACCOUNTS])
    built = time.perf_counter() - t0
    t1 = time.perf_counter()
    with Session(engine) as session:
        reevaluate(session)
        session.commit()
    return {"plates": n_plates, "wells": n_wells, "results": n_results, "samples": n_samples, "events": n_events,
            "build_s": built, "reevaluate_s": time.perf_counter() - t1, "size_mib": Path(url[10:]).stat().st_size / 2**20}


def page_loads(url: str, plate_id: int) -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    """Per page, the dashboards.data calls it makes on first load, with the arguments the page passes."""
    from dashboards import data
    from labdb.export import ExportFilters

    f = ExportFilters()
    return {
        "overview": [("plates", lambda: data.plates(url))],
        "upload": [("templates", data.templates)],
        "review": [("plates", lambda: data.plates(url)), ("plate_wells", lambda: data.plate_wells(url, plate_id)),
                   ("plate_curve", lambda: data.plate_curve(url, plate_id)), ("plate_results", lambda: data.plate_results(url, plate_id))],
        "worklist": [("worklist", lambda: data.worklist(url))],
        "runqc": [("qc_metrics", lambda: data.qc_metrics(url)), ("qc_guide_sets", lambda: data.qc_guide_sets(url)),
                  ("qc_violations", lambda: data.qc_violations(url))],
        "cohort": [("export_frame", lambda: data.export_frame(url)), ("unmatched", lambda: data.unmatched(url))],
        "export": [("sites", lambda: data.sites(url)), ("export_frame", lambda: data.export_frame(url, f, False)),
                   *[(f"export_file {s}", lambda s=s: data.export_file(url, f, False, s, "pi")) for s in (".csv", ".parquet", ".xlsx")],
                   ("export_dictionary", lambda: data.export_dictionary(url, f, False))],
        "audit": [("audit_facets", lambda: data.audit_facets(url)), ("audit_events", lambda: data.audit_events(url)),
                  ("audit_events filtered", lambda: data.audit_events(url, (), ("plate.approve",), START, START + timedelta(days=90)))],
    }


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 0.1 else f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def time_data(url: str, loads: dict[str, list[tuple[str, Callable[[], Any]]]]) -> tuple[dict[str, str], dict, dict[str, float]]:
    """Cold (caches cleared) and warm time of each page's data calls; also the SQL each call ran."""
    import streamlit as st
    from sqlalchemy import event

    from labdb.db import get_engine

    statements: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    current: list[tuple[str, str]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if current and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.setdefault(current[0], []).append((statement, parameters))

    event.listen(get_engine(url), "before_cursor_execute", capture)
    figures, cold_total = {}, {}
    for page, calls in loads.items():
        st.cache_data.clear()
        cold: dict[str, float] = {}
        for name, call in calls:
            current[:] = [(page, name)]
            t0 = time.perf_counter()
            call()
            cold[name] = time.perf_counter() - t0
        current.clear()
        t0 = time.perf_counter()
        for _, call in calls:
            call()
        warm = time.perf_counter() - t0
        cold_total[page] = sum(cold.values())
        slowest = max(cold, key=cold.get)
        detail = f"; slowest {slowest} {_s(cold[slowest])}" if len(cold) > 1 else ""
        figures[f"data {page} cold / warm"] = f"{_s(cold_total[page])} / {_s(warm)}{detail}"
    event.remove(get_engine(url), "before_cursor_execute", capture)
    return figures, statements, cold_total


def plans(url: str, statements: dict[tuple[str, str], list[tuple[str, Any]]]) -> tuple[dict[str, str], list[str]]:
    """EXPLAIN QUERY PLAN of the captured statements: the per-plate lookups in full, and every whole-table SCAN."""
    from labdb.db import get_engine

    figures, scans = {}, []
    with get_engine(url).connect() as conn:
        for (page, name), stmts in statements.items():
            for sql, params in stmts:
                steps = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()]
                if page == "review" and name != "plates":
                    figures[f"plan {name}"] = "; ".join(s for s in steps if s.startswith(("SEARCH", "SCAN")))
                for step in steps:
                    if step.startswith("SCAN") and "COVERING INDEX" not in step and "CONSTANT ROW" not in step:
                        scans.append(f"{page}/{name}: {step}")
    return figures, sorted(set(scans))


def render(url: str) -> tuple[dict[str, str], dict[str, float]]:
    """Each page rendered by AppTest as a PI: cold (caches cleared) and re-run (cached)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    figures, cold = {}, {}
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["auth_user"] = {"name": "pi", "role": "pi"}
    at.run()  # the first run imports the page modules (altair, ...); not timed
    for page in ("overview", "upload", "review", "worklist", "runqc", "cohort", "export", "audit"):
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.switch_page(f"pages/{page}.py").run()
        cold[page] = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        problem = f" (exception: {at.exception[0].message})" if at.exception else ""
        figures[f"page {page} (AppTest) cold / re-run"] = f"{_s(cold[page])} / {_s(warm)}{problem}"
    return figures, cold


def run(args: argparse.Namespace) -> dict[str, str]:
    """Build the study, then time every page's data and render, and explain the queries."""
    # st.cache_data called outside a Streamlit runtime warns on every call; drop just that message
    logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(lambda r: "No runtime found" not in r.getMessage())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    n_plates = int(getattr(args, "pages_plates", None) or PLATES)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'pages.sqlite'}"
        before = os.environ.get("LABDB_DATABASE_URL")
        os.environ["LABDB_DATABASE_URL"] = url
        try:
            b = build(url, n_plates, getattr(args, "seed", 11))
            figures = {
                "build": (f"{b['plates']:,} plates, {b['wells']:,} wells, {b['results']:,} results, {b['samples']:,} samples, "
                          f"{b['events']:,} audit events ({b['size_mib']:.0f} MiB) in {_s(b['build_s'])}"),
                "runqc.reevaluate (run by approve, reject and refit)": _s(b["reevaluate_s"]),
            }
            from dashboards import charts, data  # noqa: F401  (imported before timing)

            newest = int(data.plates(url)["id"].iloc[0])  # the review page opens the newest plate
            data_figures, statements, data_cold = time_data(url, page_loads(url, newest))
            figures.update(data_figures)
            plan_figures, scans = plans(url, statements)
            figures.update(plan_figures)
            figures["full table scans"] = "; ".join(scans) or "none"
            page_figures, page_cold = render(url)
            figures.update(page_figures)
        finally:
            if before is None:
                os.environ.pop("LABDB_DATABASE_URL", None)
            else:
                os.environ["LABDB_DATABASE_URL"] = before
    slow_data = max(data_cold, key=data_cold.get)
    slow_page = max(page_cold, key=page_cold.get)
    figures["slowest page cold"] = (f"{slow_page} {_s(page_cold[slow_page])} rendered; slowest data load {slow_data} "
                                    f"{_s(data_cold[slow_data])} ({n_plates:,} plates)")
    figures["peak RSS"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    figures["total bench time"] = _s(time.perf_counter() - t_start)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", dest="pages_plates", type=int, default=PLATES)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
