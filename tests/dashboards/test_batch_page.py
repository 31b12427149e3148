"""The Batch effects page (issue #8): stored correction runs shown with their independent check, per-plate shifts,
variance shares and protected biology; running a correction from the page. AppTest on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from sqlmodel import Session, func, select
from streamlit.testing.v1 import AppTest

from labdb.core.db import get_engine, session_scope
from labdb.core.models import CorrectionRun, CorrectionShift, Plate
from labdb.correction import CorrectionOptions, run_correction
from labdb.demo.run import run_demo
from labdb.review import decide
from labdb.users import PermissionDenied

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PAGE = "pages/batch.py"
DEMO_USERS = {"technician": "tech", "pi": "dr.pi", "statistician": "stats", "admin": "admin"}  # made by run_demo


@pytest.fixture
def approved_db(db_url, tmp_path):
    """The 4-plate demo (one plate approved, three left for review) with every passing plate approved: 3 plates
    with results, the failing one still evaluated."""
    run_demo(db_url, tmp_path / "study", n_plates=4, seed=2)
    with session_scope(db_url) as s:
        waiting = s.exec(select(Plate.id).where(Plate.status == "evaluated", Plate.verdict == "pass")).all()
        decide(s, list(waiting), "approved", "dr.pi", "Approved for the batch-effects test.")
    with Session(get_engine(db_url)) as s:
        assert len(s.exec(select(Plate.id).where(Plate.status == "approved")).all()) >= 3
    return db_url


def _as(role: str) -> AppTest:
    """The app logged in as the demo account of `role`, on the Batch effects page when the role may open it."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["auth_user"] = {"name": DEMO_USERS[role], "role": role}
    at.run()
    assert not at.exception
    return at


def _open(role: str) -> AppTest:
    at = _as(role)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Batch effects"]
    return at


def _runs(url: str) -> list[CorrectionRun]:
    with Session(get_engine(url)) as s:
        return list(s.exec(select(CorrectionRun).order_by(CorrectionRun.id)).all())


def _table(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_without_a_run_the_page_explains_the_cli_and_offers_the_form(approved_db):
    at = _open("pi")
    assert any("labdb batch correct --method bridge" in i.value for i in at.info)
    assert not at.metric and not at.get("vega_lite_chart")
    assert "batch_run" in {b.key for b in at.button}
    assert at.selectbox(key="batch_method").options == ["bridge", "lot-shift", "combat", "mixed"]


def test_a_bridge_run_shows_the_check_pool_shifts_variance_and_biology(approved_db):
    with session_scope(approved_db) as s:
        version = run_correction(s, CorrectionOptions("bridge"), "dr.test").run.id
    run = next(r for r in _runs(approved_db) if r.id == version)
    check = run.diagnostics["check_pool"]
    before, after = check["before"], check["after"]

    at = _open("statistician")
    assert at.selectbox(key="batch_version").value == version
    assert any("by dr.test" in c.value for c in at.caption)
    # the independent check: the numbers stored in the run
    assert _metric(at, "Across-plate CV before") == _pct(before["across_plate_cv"])
    assert _metric(at, "Across-plate CV after") == _pct(after["across_plate_cv"])
    assert _metric(at, "Within-plate CV") == _pct(before["within_plate_cv"])
    assert _metric(at, "After / within") == f"{after['across_plate_cv'] / before['within_plate_cv']:.2f}x"
    assert len(at.get("vega_lite_chart")) == 3  # check pool per plate, shifts, variance shares
    # one shift row per plate of the run, in run order, the check pool's plate means as stored
    shifts = _table(at, "check_before_pg_ml")
    assert len(shifts) == run.n_plates and sorted(shifts["plate_id"]) == sorted(run.plate_ids)
    with Session(get_engine(approved_db)) as s:
        stored = {r.plate_id: r for r in s.exec(select(CorrectionShift).where(CorrectionShift.run_id == version)).all()}
        read = {p.id: p.read_time for p in s.exec(select(Plate)).all()}
    assert list(shifts["plate_id"]) == sorted(stored, key=read.get)
    for row in shifts.itertuples():
        assert row.shift == pytest.approx(stored[row.plate_id].shift)
        assert row.check_after_pg_ml == pytest.approx(stored[row.plate_id].check_after_pg_ml)
    biology = _table(at, "covariate (log effect)")
    assert set(biology["covariate (log effect)"]) == set(run.diagnostics["covariate_effects"]["before"])
    assert not at.warning  # all approved plates are in the run

    # a plate approved after the run makes it out of date
    with session_scope(approved_db) as s:
        late = s.exec(select(Plate.id).where(Plate.status == "evaluated")).first()
        decide(s, [late], "approved", "dr.pi", "Approved after the correction run.")
    from dashboards import data

    data.invalidate()  # what a page does after a change; otherwise the cached run is re-read after its TTL
    at.run()
    assert any("1 approved plate(s) not in this run" in w.value for w in at.warning)


def test_a_statistician_runs_a_correction_from_the_form(approved_db):
    before = len(_runs(approved_db))
    at = _open("statistician")
    at.selectbox(key="batch_method").set_value("bridge").run()
    at.button(key="batch_run").click().run()
    assert not at.exception and not at.error
    runs = _runs(approved_db)
    assert len(runs) == before + 1
    new = runs[-1]
    assert new.created_by == "stats" and new.method == "bridge"
    assert any(f"Correction version {new.id} stored" in s.value for s in at.success)
    assert at.selectbox(key="batch_version").value == new.id and at.metric  # the new version is shown

    at.button(key="batch_run").click().run()  # the same correction again: the stored version, nothing new
    assert any(f"Version {new.id} already holds this correction" in s.value for s in at.success)
    assert len(_runs(approved_db)) == before + 1


def test_combat_on_the_confounded_demo_is_refused_and_stores_nothing(approved_db):
    at = _open("admin")
    at.selectbox(key="batch_method").set_value("combat").run()
    assert "batch_override" in {t.key for t in at.text_area}
    at.button(key="batch_run").click().run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and "confounded with plate" in errors[0] and "give an override reason" in errors[0]
    assert _runs(approved_db) == []
    assert not at.success


def test_a_technician_neither_sees_nor_opens_the_page_nor_may_correct(approved_db):
    at = _as("technician")
    pages = {Path(i["script_path"]).stem for i in at._registered_pages.values() if i.get("script_path")}
    assert "batch" not in pages and "overview" in pages
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    at.switch_page("pages/overview.py").run()
    at.switch_page(PAGE).run()  # the page script run directly: its own guard refuses
    assert not at.exception
    assert [e.value for e in at.error] == ["A technician may not open this page."]
    assert not at.title and "batch_run" not in {b.key for b in at.button}
    with pytest.raises(PermissionDenied, match="technician may not run batch corrections"), session_scope(approved_db) as s:
        from labdb.users import require

        run_correction(s, CorrectionOptions("bridge"), require(s, "tech", "correct").name)
    with Session(get_engine(approved_db)) as s:
        assert s.exec(select(func.count()).select_from(CorrectionRun)).one() == 0


def test_the_export_page_names_and_uses_the_chosen_correction(approved_db):
    """Two versions: the Export page previews the latest by default and the one chosen when asked, and says which."""
    with session_scope(approved_db) as s:
        first = run_correction(s, CorrectionOptions("bridge"), "stats").run.id
        second = run_correction(s, CorrectionOptions("lot-shift"), "stats").run.id
    at = _as("statistician")
    at.switch_page("pages/export.py").run()
    assert not at.exception
    assert at.selectbox(key="export_correction").value == second
    preview = _table(at, "correction_version")
    in_range = preview["censoring"] == "none"
    assert set(preview.loc[in_range, "correction_version"]) == {second}
    assert any(f"version {second}: lot-shift" in c.value.replace("\\", "") for c in at.caption)
    at.selectbox(key="export_correction").set_value(first).run()
    assert not at.exception
    preview = _table(at, "correction_version")
    assert set(preview.loc[preview["censoring"] == "none", "correction_version"]) == {first}
    assert any(f"version {first}: bridge" in c.value.replace("\\", "") for c in at.caption)


def test_the_cohort_page_shows_batch_corrected_values(approved_db):
    with session_scope(approved_db) as s:
        run = run_correction(s, CorrectionOptions("lot-shift"), "stats").run
        version, n_values = run.id, run.n_values
    at = _as("statistician")
    at.switch_page("pages/cohort.py").run()
    assert not at.exception
    measured = _table(at, "median")
    at.radio(key="cohort_values").set_value(f"batch-corrected (version {version})").run()
    assert not at.exception
    corrected = _table(at, "median")
    assert corrected["n"].sum() == n_values  # every corrected value, nothing else
    assert not np.allclose(corrected["median"], measured["median"])


def test_the_overview_says_whether_the_correction_is_current(approved_db):
    at = _as("technician")  # the overview is everybody's first page
    assert any("No batch correction yet" in i.value for i in at.info)
    with session_scope(approved_db) as s:
        version = run_correction(s, CorrectionOptions("bridge"), "stats").run.id
    st.cache_data.clear()  # the pages cache their queries for 30 s; a new correction elsewhere is seen after that
    at = _as("technician")
    assert any(f"Batch correction version {version} (bridge)" in m.value and "every approved plate" in m.value for m in at.success)
    with session_scope(approved_db) as s:  # approving the failed plate too (with a reason) leaves the run behind
        failed = s.exec(select(Plate.id).where(Plate.status == "evaluated")).first()
        decide(s, [failed], "approved", "dr.pi", "Checked by hand: standards fine after masking review.")
    st.cache_data.clear()
    at = _as("technician")
    assert any("1 approved plate(s) are not in it" in w.value for w in at.warning)
