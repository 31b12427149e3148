# long module: a benchmark script: it builds a 2,500-plate database by Core inserts and times every page on it.
"""Dashboard pages on a study of 2,500 plates: page data-load time (cold and cached), full renders, query plans.

The database (SQLite) is filled directly with SQLAlchemy Core executemany (not the ingest pipeline) in the shape
ingest and review leave: 2,500 plates of the bdnf_96_duplicate layout (7 standards + blank, 3 kit controls, pools
BP1 and QC2, 35 samples, all in duplicate) over 5 kit lots, 97% approved, the newest evaluated, 1% rejected; a
current 4PL fit with its standards per plate (2% refitted after masking a well); 40 results per plate; 85,000
samples of 21,250 subjects at 3 sites (3,000 never measured, a few plate codes in no manifest); the audit trail of
the manifest import, ingest and review; Westgard guide sets and violations from labdb.runqc.reevaluate (timed:
approve, reject and refit run it). Raw files hold placeholder bytes.

Every page is then rendered by Streamlit's AppTest, logged in as a PI: cold (every st.cache_data cleared) and
re-run (cached), with each dashboards.data call it makes timed, and SQLite's EXPLAIN QUERY PLAN of the statements
those calls ran (SEARCH ... USING INDEX: an indexed lookup; SCAN: the whole table or index is read).

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
from unittest import mock

import numpy as np
import streamlit as st
from sqlalchemy import event
from sqlmodel import Session, SQLModel
from streamlit.testing.v1 import AppTest

from labdb.core.db import get_engine, session_scope
from labdb.core.migrate import upgrade
from labdb.correction import CorrectionOptions, run_correction
from labdb.runqc import reevaluate

PLATES = 2500
LOTS = ("L2301", "L2302", "L2401", "L2402", "L2501")
SITES = (("AMS", "north"), ("SYD", "south"), ("CPT", "south"))
OPERATORS = ("AvD", "RP", "KM", "JS")
# Replicate groups of bdnf_96_duplicate: (role, level, pg/mL in the well, dilution); each in two adjacent wells.
GROUPS = (
    [("standard", f"S{i + 1}", 4000.0 / 2**i, 1.0) for i in range(7)]
    + [("blank", "S0", 0.0, 1.0)]
    + [("control", lv, nom, 1.0) for lv, nom in (("low", 150.0), ("mid", 600.0), ("high", 2000.0))]
    + [("bridge", "BP1", 600.0, 50.0), ("bridge", "QC2", 300.0, 50.0)]
    + [("sample", None, np.nan, np.nan)] * 35
)
LLOQ, ULOQ = 62.5, 4000.0
CHUNK = 250  # plates per executemany batch
START = datetime(2022, 1, 3, 8, 0)
APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")
PAGE_ORDER = ("overview", "upload", "review", "worklist", "runqc", "cohort", "batch", "export", "audit")  # as in the app


def _sample_code(i: int) -> str:
    """Sample i: subject i // 4, visits V1/V2, serum (S) and EDTA plasma (P)."""
    return f"{SITES[i // 4 % 3][0]}-{i // 4:05d}-V{1 + (i // 2) % 2}-{'SP'[i % 2]}"


def _event(
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    after: dict | None = None,
    before: dict | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One audit_event row (every row of an executemany needs the same keys)."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "detail": detail,
    }


def simulate(n_plates: int, rng: np.random.Generator) -> dict[str, Any]:
    """ODs of every well from a 4PL curve per plate, back-calculated concentrations, and which sample is where."""
    slots = np.arange(n_plates * 35).reshape(n_plates, 35)  # 35 sample pairs per plate
    n_measured = round(slots.size * 0.94)
    n_samples = n_measured + round(slots.size * 0.0343)  # ~3,000 samples in the manifest are never measured
    truth = np.where(
        np.arange(n_samples) % 2 == 0, rng.lognormal(np.log(20000), 0.35, n_samples), rng.lognormal(np.log(800), 0.7, n_samples)
    )  # serum (run 1:50) and plasma (1:2) BDNF, pg/mL
    sample = np.where(slots < n_measured, slots, (slots * 7919) % n_measured)  # the rest re-assay earlier samples
    dilution = np.tile(np.array([g[3] for g in GROUPS]), (n_plates, 1))
    dilution[:, 13:] = np.where(sample % 2 == 0, 50.0, 2.0)
    x = np.tile(np.array([g[2] for g in GROUPS]), (n_plates, 1))  # pg/mL in the well
    x[:, 8:13] *= rng.normal(1, 0.07, (n_plates, 5))
    x[:, 13:] = truth[sample] / dilution[:, 13:]
    a, b = rng.normal(0.05, 0.005, (n_plates, 1, 1)), rng.normal(1.1, 0.05, (n_plates, 1, 1))
    c, d = rng.lognormal(np.log(1300), 0.1, (n_plates, 1, 1)), rng.normal(3.2, 0.1, (n_plates, 1, 1))
    cv = np.where(rng.random((n_plates, len(GROUPS), 1)) < 0.03, 0.2, 0.03)  # 3% of pairs disagree
    od = ((d + (a - d) / (1 + (x[..., None] / c) ** b)) * (1 + cv * rng.standard_normal((n_plates, len(GROUPS), 2)))).clip(0.001)
    mean_od = od.mean(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        back = [np.where((y > a) & (y < d), c * ((a - d) / (y - d) - 1) ** (1 / b), np.nan) for y in (od, mean_od)]
    n = np.arange(n_plates)
    status = np.where(n % 100 == 99, "rejected", np.where(n >= n_plates - max(n_plates * 3 // 100, 1), "evaluated", "approved"))
    return {
        "n_samples": n_samples,
        "sample": sample,
        "unknown": slots % 2500 == 1234,
        "slots": slots,
        "dilution": dilution,
        "params": np.concatenate([a, b, c, d], axis=2)[:, 0, :],
        "od": od,
        "mean_od": mean_od[..., 0],
        "sd_od": od.std(axis=2, ddof=1),
        "well_conc": back[0] * dilution[..., None],
        "conc_well": back[1][..., 0],
        "status": status,
        "refit": n % 50 == 7,
        "read": [START + timedelta(hours=10.5 * p) for p in n.tolist()],
    }


def plate_rows(p: int, sim: dict[str, Any]) -> dict[str, list[dict]]:
    """Rows of plate p (0-based): the plate, its current fit, 96 wells, 40 results and its audit events."""
    read, status, refit, n_plates = sim["read"][p], str(sim["status"][p]), bool(sim["refit"][p]), len(sim["read"])
    mean_od, sd_od, conc = sim["mean_od"][p], sim["sd_od"][p], sim["conc_well"][p]
    name, fail, reviewed = f"BDNF-P{p + 1:05d}", status == "rejected", status != "evaluated"
    rows: dict[str, list[dict]] = {
        "plate": [
            {
                "id": p + 1,
                "file_sha256": f"{p + 3:064x}",
                "index_in_file": 0,
                "name": name,
                "original_filename": f"{name}.txt",
                "reader_format": "gen5_text",
                "read_time": read,
                "n_wells": 96,
                "operator": OPERATORS[p % 4],
                "kit_lot_id": 1 + p * len(LOTS) // n_plates,
                "template_name": "bdnf_96_duplicate",
                "template_sha256": f"{0:064x}",
                "plate_map_sha256": f"{1:064x}",
                "measure_nm": 450,
                "reference_nm": 630,
                "status": status,
                "verdict": "fail" if fail else "pass",
                "verdict_reasons": ["Kit controls: 1 of 6 within ±20% of nominal."] if fail else [],
                "ingested_at": read + timedelta(hours=1),
                "ingested_by": OPERATORS[p % 4],
                "reviewed_by": "pi" if reviewed else None,
                "reviewed_at": read + timedelta(days=1) if reviewed else None,
            }
        ],
        "curve_fit": [],
        "well": [],
        "result": [],
    }
    standards = [
        {
            "level": f"S{g + 1}",
            "nominal": GROUPS[g][2],
            "n": 2,
            "mean_od": float(mean_od[g]),
            "cv_pct": float(100 * sd_od[g] / mean_od[g]),
            "backcalc": float(conc[g]),
            "counted": True,
            "passed": True,
            "recovery_pct": float(100 * conc[g] / GROUPS[g][2]),
            "reason": "passed",
        }
        for g in range(7)
    ]
    rows["curve_fit"] = [
        {
            "id": p + 1,
            "plate_id": p + 1,
            "is_current": True,
            "model": "4pl",
            "weighting": "1/y2",
            "converged": True,
            "message": "converged.",
            "params": dict(zip("abcd", sim["params"][p].tolist())),
            "n_points": 16,
            "df": 12,
            "r2": 0.999,
            "lloq_pg_ml": LLOQ,
            "uloq_pg_ml": ULOQ,
            "standards": standards,
            "engine_version": "qc.curves 0.1.0",
            "fitted_at": read + timedelta(hours=3 if refit else 1),
        }
    ]
    for g, (role, level, nominal, _) in enumerate(GROUPS):
        row, col = ("ABCDEFGH"[g % 8], 1 + 2 * (g // 8)) if g < 16 else ("ABCDEFGH"[(g - 16) // 4], 5 + 2 * ((g - 16) % 4))
        j, dl = g - 13, float(sim["dilution"][p, g])
        code = sid = None
        if role == "sample":
            s = int(sim["sample"][p, j])
            code, sid = (f"XX-{sim['slots'][p, j]:06d}", None) if sim["unknown"][p, j] else (_sample_code(s), s + 1)
        for k in range(2):
            od, wc, masked = float(sim["od"][p, g, k]), float(sim["well_conc"][p, g, k]), refit and g == 1 and k == 1
            rows["well"].append(
                {
                    "plate_id": p + 1,
                    "position": f"{row}{col + k}",
                    "row": row,
                    "col": col + k,
                    "role": role,
                    "level": level,
                    "nominal": nominal if role in ("standard", "blank", "control") else None,
                    "dilution": dl,
                    "sample_code": code,
                    "sample_id": sid,
                    "raw_values": {"450": od + 0.04, "630": 0.04},
                    "raw_flags": {"450": "ok", "630": "ok"},
                    "od_corrected": od,
                    "conc_pg_ml": None if np.isnan(wc) else wc,
                    "flags": None,
                    "masked": masked,
                    "mask_reason": "bubble in the well" if masked else None,
                    "masked_by": "technician" if masked else None,
                }
            )
        if role in ("standard", "blank"):
            continue
        cw, cvp = float(conc[g]), float(100 * sd_od[g] / mean_od[g])
        rows["result"].append(
            {
                "plate_id": p + 1,
                "curve_fit_id": p + 1,
                "role": role,
                "name": level or code,
                "sample_id": sid,
                "dilution": dl,
                "n_replicates": 2,
                "mean_od": float(mean_od[g]),
                "sd_od": float(sd_od[g]),
                "cv_pct": cvp,
                "conc_pg_ml": None if np.isnan(cw) else cw * dl,
                "lloq_pg_ml": LLOQ * dl,
                "uloq_pg_ml": ULOQ * dl,
                "censoring": "below_lloq" if not cw >= LLOQ else "above_uloq" if cw > ULOQ else "none",
                "nominal_pg_ml": nominal if role == "control" else None,
                "recovery_pct": 100 * cw / nominal if role == "control" else None,
                "flags": ["cv_high"] if cvp > 15 else None,
            }
        )
    events = [
        _event(
            read + timedelta(hours=1),
            OPERATORS[p % 4],
            "plate.ingest",
            "plate",
            str(p + 1),
            {"file": f"{name}.txt", "plate": name, "verdict": "fail" if fail else "pass"},
        )
    ]
    events += [
        _event(read + timedelta(hours=3), "technician", action, entity, key, {"masked": True})
        for action, entity, key in (("well.mask", "well", f"{p + 1}:A2"), ("plate.refit", "plate", str(p + 1)))
        if refit
    ]
    events += (
        [
            _event(
                read + timedelta(days=1),
                "pi",
                f"plate.{status[:-1]}",
                "plate",
                str(p + 1),
                {"status": status},
                {"status": "evaluated"},
                name,
            )
        ]
        if reviewed
        else []
    )
    return {**rows, "audit_event": events}


def build(url: str, n_plates: int = PLATES, seed: int = 11) -> dict[str, Any]:
    """Fill a migrated database with `n_plates` plates and everything the pages read; returns counts and timings."""
    t0 = time.perf_counter()
    upgrade(url)
    t = SQLModel.metadata.tables
    sim = simulate(n_plates, np.random.default_rng(seed))
    n_samples = sim["n_samples"]
    counts = dict.fromkeys(("well", "result", "audit_event"), 0)
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(
            t["raw_file"].insert(),
            [
                {
                    "sha256": f"{i:064x}",
                    "kind": ("template", "plate_map", "manifest")[i] if i < 3 else "reader_export",
                    "original_name": f"BDNF-P{i - 2:05d}.txt",
                    "size_bytes": 5,
                    "content": b"bench",
                    "stored_at": START,
                    "stored_by": "bench",
                }
                for i in range(n_plates + 3)
            ],
        )
        conn.execute(t["kit_lot"].insert(), [{"id": i + 1, "lot": lot, "created_at": START} for i, lot in enumerate(LOTS)])
        conn.execute(t["site"].insert(), [{"id": i + 1, "code": s, "hemisphere": h} for i, (s, h) in enumerate(SITES)])
        conn.execute(
            t["subject"].insert(),
            [
                {"id": i + 1, "code": f"{SITES[i % 3][0]}-{i:05d}", "site_id": i % 3 + 1, "sex": "FM"[i % 3 == 0]}
                for i in range(-(-n_samples // 4))
            ],
        )
        conn.execute(
            t["sample"].insert(),
            [
                {
                    "id": i + 1,
                    "code": _sample_code(i),
                    "subject_id": i // 4 + 1,
                    "sample_type": ("serum", "plasma_edta")[i % 2],
                    "visit": ("baseline", "followup")[(i // 2) % 2],
                    "collected_at": START + timedelta(minutes=37 * i),
                    "age": float(20 + i % 60),
                    "platelet_count": float(150 + i % 250),
                    "clotting_minutes": float(30 + i % 30),
                    "freeze_thaw_cycles": i % 3,
                    "fasting": bool(i % 2),
                    "diagnosis": ("control", "MDD")[i % 2],
                    "manifest_sha256": f"{2:064x}",
                }
                for i in range(n_samples)
            ],
        )
        events = [_event(START, "pi", "site.set", "site", s, {"hemisphere": h}) for s, h in SITES]
        events += [
            _event(
                START + timedelta(seconds=i),
                "pi",
                "sample.add",
                "sample",
                _sample_code(i),
                {"subject_id": _sample_code(i)[:9]},
                detail="manifest.xlsx",
            )
            for i in range(n_samples)
        ]
        conn.execute(t["audit_event"].insert(), events)
        counts["audit_event"] += len(events)
        for lo in range(0, n_plates, CHUNK):
            batch: dict[str, list[dict]] = {}
            for p in range(lo, min(lo + CHUNK, n_plates)):
                for table, rows in plate_rows(p, sim).items():
                    batch.setdefault(table, []).extend(rows)
            for table, rows in batch.items():  # dict order: plate, curve_fit, well, result, audit_event
                conn.execute(t[table].insert(), rows)
                counts[table] = counts.get(table, 0) + len(rows)
        conn.execute(
            t["user_account"].insert(),
            [
                {"name": n, "role": n, "password_hash": "not-a-hash", "created_at": START, "password_changed_at": START}
                for n in ("technician", "pi", "statistician", "admin")
            ],
        )
    built, t1 = time.perf_counter() - t0, time.perf_counter()
    with Session(engine) as session:
        reevaluate(session)
        session.commit()
    return {
        "plates": n_plates,
        "wells": counts["well"],
        "results": counts["result"],
        "samples": n_samples,
        "events": counts["audit_event"],
        "build_s": built,
        "reevaluate_s": time.perf_counter() - t1,
        "size_mib": Path(url[len("sqlite:///") :]).stat().st_size / 2**20,
    }


def _s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 0.1 else f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


class Probe:
    """Wraps each st.cache_data function of dashboards.data (pages call them as `data.NAME(...)`) to time every call
    and record the SQL it runs, under the page being rendered; `close` puts them back."""

    def __init__(self, url: str) -> None:
        from dashboards import data  # imported after run() quietened its warnings

        self.data, self.page, self.calls, self.sql, self._fn = data, "", [], {}, []
        self.cached = {n: f for n, f in vars(data).items() if hasattr(f, "clear") and n != "engine"}  # engine: cache_resource
        for name, fn in self.cached.items():
            setattr(data, name, self._wrap(name, fn))
        self.engine = get_engine(url)
        event.listen(self.engine, "before_cursor_execute", self._capture)

    def close(self) -> None:
        vars(self.data).update(self.cached)
        event.remove(self.engine, "before_cursor_execute", self._capture)

    def _wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = f"{name} {args[1]}" if name.startswith("plate_") else name
            self._fn.append(label)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls.append((self.page, label, time.perf_counter() - t0))
                self._fn.pop()

        return timed

    def _capture(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self._fn and self.page and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.sql.setdefault((self.page, self._fn[-1]), []).append((statement, parameters))

    def data_time(self, page: str) -> tuple[float, str]:
        """Seconds in the data calls of `page`, and its slowest call."""
        mine = [(s, label) for p, label, s in self.calls if p == page]
        slowest = max(mine, default=(0.0, "none"))
        return sum(s for s, _ in mine), f"{slowest[1]} {_s(slowest[0])}"


def plans(url: str, sql: dict[tuple[str, str], list[tuple[str, Any]]]) -> dict[str, str]:
    """EXPLAIN QUERY PLAN of the recorded statements: the review page's per-plate lookups in full, and per page every
    step that reads a whole table or index (SCAN, except of a covering index)."""
    figures, scans = {}, {}
    with get_engine(url).connect() as conn:
        for (page, fn), stmts in sql.items():
            if " " in page:  # re-runs and interactions repeat the cold queries
                continue
            for statement, params in stmts:
                steps = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()]
                if page == "review" and fn.startswith(("plate_wells", "plate_curve", "plate_results")):
                    figures[f"plan {fn.split()[0]}"] = "; ".join(s for s in steps if s.startswith(("SEARCH", "SCAN")))
                limit = " (LIMIT: stops early)" if " LIMIT " in statement.upper() else ""
                scans.setdefault(page, {}).update(
                    dict.fromkeys(f"{fn.split()[0]}: {s}{limit}" for s in steps if s.startswith("SCAN") and "COVERING INDEX" not in s)
                )
    return figures | {f"scans {page}": "; ".join(found) for page, found in scans.items()}


def render(probe: Probe) -> tuple[dict[str, str], dict[str, float]]:
    """Each page rendered by AppTest as a PI: cold (every cache cleared), then re-run; and another plate reviewed."""
    from dashboards import auth

    figures, cold = {}, {}
    at = AppTest.from_file(APP, default_timeout=900)
    at.session_state["auth_user"] = {"name": "pi", "role": "pi"}
    at.run()  # imports the page modules (altair, ...): not timed

    def timed(page: str, step: Callable[[], Any]) -> float:
        probe.page, t0 = page, time.perf_counter()
        step()
        if at.exception:
            figures[f"page {page}: exception"] = str(at.exception[0].message)[:300]
        return time.perf_counter() - t0

    found = {p.stem for p in (Path(APP).parent / "pages").glob("*.py")}
    for page in [p for p in PAGE_ORDER if p in found] + sorted(found - set(PAGE_ORDER)):
        if "pi" not in auth.PAGE_ROLES.get(page, ()):
            continue
        st.cache_data.clear()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cold[page] = timed(page, lambda page=page: at.switch_page(f"pages/{page}.py").run())
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024  # growth of the peak
        warm = timed(f"{page} re-run", at.run)
        (data_cold, slowest), (data_warm, _) = probe.data_time(page), probe.data_time(f"{page} re-run")
        again = [label for p, label, s in probe.calls if p == f"{page} re-run" and s > 0.2]  # cached longer ago than ttl
        figures[f"data {page} cold / re-run"] = f"{_s(data_cold)} / {_s(data_warm)}; slowest {slowest}" + (
            f"; re-run recomputes {', '.join(again)} (past its ttl)" if again else ""
        )
        figures[f"page {page} (AppTest) cold / re-run"] = f"{_s(cold[page])} / {_s(warm)}" + (
            f"; peak RSS +{grew:.0f} MiB" if grew > 50 else ""
        )
        if page == "review":  # open the oldest plate: only its wells, curve and results are new
            seconds = timed("review other", lambda: at.selectbox(key="review_plate").set_value(1).run())
            figures["page review, another plate"] = f"{_s(seconds)} (data {_s(probe.data_time('review other')[0])})"
    return figures, cold


def run(args: argparse.Namespace) -> dict[str, str]:
    """Build the study, render every page cold and cached, and explain the queries the pages ran."""
    for logger in ("caching.cache_data_api", "scriptrunner_utils.script_run_context"):  # dashboards imported outside a run
        logging.getLogger(f"streamlit.runtime.{logger}").addFilter(
            lambda r: "No runtime" not in r.getMessage() and "missing ScriptRunContext" not in r.getMessage()
        )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    n_plates = int(getattr(args, "pages_plates", None) or PLATES)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'pages.sqlite'}"
        with mock.patch.dict(os.environ, {"LABDB_DATABASE_URL": url}):  # the app's database
            b = build(url, n_plates, getattr(args, "seed", 11))
            figures = {
                "build": (
                    f"{b['plates']:,} plates, {b['wells']:,} wells, {b['results']:,} results, {b['samples']:,} samples, "
                    f"{b['events']:,} audit events ({b['size_mib']:.0f} MiB SQLite) in {_s(b['build_s'])}"
                ),
                "runqc.reevaluate (run by approve, reject and refit)": _s(b["reevaluate_s"]),
            }
            t0 = time.perf_counter()  # a stored correction run, so the Batch effects page shows one
            with session_scope(url) as session:
                run_correction(session, CorrectionOptions("bridge"), "bench")
            figures["labdb batch correct (bridge, before rendering)"] = _s(time.perf_counter() - t0)
            probe = Probe(url)
            try:
                rendered, cold = render(probe)
            finally:
                probe.close()
            figures |= rendered | plans(url, probe.sql)
    slowest = max(cold, key=cold.get)
    figures["slowest page cold"] = f"{slowest} {_s(cold[slowest])} ({n_plates:,} plates; data {probe.data_time(slowest)[1]})"
    figures["peak RSS"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    figures["bench run time"] = _s(time.perf_counter() - t_start)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", dest="pages_plates", type=int, default=PLATES)
    parser.add_argument("--seed", type=int, default=11)
    for key, value in run(parser.parse_args()).items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
