"""The first dashboard page, run headless with Streamlit's AppTest against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labdb.demo import run_demo

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


@pytest.fixture
def demo_db(db_url, tmp_path):
    run_demo(db_url, tmp_path / "study", n_plates=4, seed=2)
    return db_url


def test_empty_database_shows_a_message_not_an_error(db_url):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("No plates yet" in i.value for i in at.info)


def test_plates_are_listed_and_a_plate_shows_its_curve(demo_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["status"]) <= {"approved", "rejected", "evaluated"}
    select = at.selectbox(key="plate_select")
    failing = next(i for i, o in enumerate(select.options) if "(fail)" in o)
    select.select_index(failing).run()
    assert not at.exception
    assert any("Verdict: fail" in e.value for e in at.error)
    assert len(at.dataframe[1].value) > 0
