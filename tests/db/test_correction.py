"""Stored batch-correction runs (labdb.correction, `labdb batch`), on SQLite and PostgreSQL, with a demo study.

The statistics are proved in tests/qc/test_batch.py; here: what a run stores, that raw values are never touched,
versions, the design-check refusal and override, exports and staleness after a refit.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from conftest import table_counts
from labdb.cli import app
from labdb.core.db import get_engine, session_scope
from labdb.core.errors import InputError
from labdb.core.models import (
    AuditEvent,
    CorrectedResult,
    CorrectionRun,
    CorrectionShift,
    Plate,
    Result,
)
from labdb.correction import CorrectionOptions, run_correction
from labdb.correction_runs import report
from labdb.demo.run import run_demo
from labdb.export import export_frame, plan_export
from labdb.review import decide

runner = CliRunner()


@pytest.fixture
def demo_db(db_url, tmp_path):
    """8 demo plates: 5 approved (one rejected, the newest evaluated), two kit lots, pools BP1 and QC2 on each."""
    run_demo(db_url, tmp_path / "study", n_plates=8, seed=5)
    return db_url


def _approved(url: str) -> list[int]:
    with session_scope(url) as s:
        return sorted(s.exec(select(Plate.id).where(Plate.status == "approved")).all())


def _raw(url: str) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        return pd.read_sql(sa.text("SELECT id, plate_id, conc_pg_ml, censoring FROM result ORDER BY id"), conn)


def test_bridge_run_stores_shifts_and_values_beside_the_raw_results(demo_db):
    raw_before = _raw(demo_db)
    with session_scope(demo_db) as s:
        outcome = run_correction(s, CorrectionOptions("bridge"), "stats")
        run_id = outcome.run.id
    assert not outcome.reused
    pd.testing.assert_frame_equal(_raw(demo_db), raw_before)  # nothing written over a raw value
    approved = _approved(demo_db)
    with session_scope(demo_db) as s:
        run = s.get(CorrectionRun, run_id)
        assert (run.method, run.created_by, run.override) == ("bridge", "stats", False)
        assert sorted(run.plate_ids) == approved and run.n_plates == len(approved)
        shifts = {r.plate_id: r for r in s.exec(select(CorrectionShift).where(CorrectionShift.run_id == run_id))}
        assert sorted(shifts) == approved
        values = s.exec(
            select(CorrectedResult, Result).join(Result, Result.id == CorrectedResult.result_id).where(CorrectedResult.run_id == run_id)
        ).all()
        in_range = s.exec(
            select(sa.func.count(Result.id))
            .join(Plate, Plate.id == Result.plate_id)
            .where(Plate.status == "approved", Result.role == "sample", Result.censoring == "none", Result.conc_pg_ml > 0)
        ).one()
        assert len(values) == in_range == run.n_values
        for corrected, result in values:  # corrected = raw / exp(plate shift), the plate's shift from its pool
            assert corrected.corrected_pg_ml == pytest.approx(result.conc_pg_ml * math.exp(-shifts[result.plate_id].shift))
        for sh in shifts.values():  # the CI brackets the shift; the check pool is stored per plate before and after
            assert sh.ci_low < sh.shift < sh.ci_high
            assert sh.check_after_pg_ml == pytest.approx(sh.check_before_pg_ml * math.exp(-sh.shift), rel=1e-9)
        check = run.diagnostics["check_pool"]
        assert check["pool"] == "QC2" and check["before"]["n_plates"] == len(approved)
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "batch_correct")).one().entity_id == str(run_id)


def test_same_inputs_return_the_stored_version_and_new_plates_make_a_new_one(demo_db):
    with session_scope(demo_db) as s:
        first = run_correction(s, CorrectionOptions("bridge"), "stats").run.id
    with session_scope(demo_db) as s:
        again = run_correction(s, CorrectionOptions("bridge"), "stats")
        assert again.reused and again.run.id == first
    with session_scope(demo_db) as s:
        newest = s.exec(select(Plate).where(Plate.status == "evaluated", Plate.verdict == "pass")).first()
        decide(s, [newest.id], "approved", "dr.pi", "reviewed")
        stale = report(s, first)["stale"]
        assert stale["not_in_run"] == [newest.id]
    with session_scope(demo_db) as s:
        second = run_correction(s, CorrectionOptions("bridge"), "stats").run
        assert second.id == first + 1 and newest.id in second.plate_ids
        n_first = s.exec(select(sa.func.count()).where(CorrectedResult.run_id == first)).one()
        assert n_first == s.get(CorrectionRun, first).n_values  # the old version is kept whole
        assert report(s)["version"] == second.id and report(s)["stale"]["not_in_run"] == []


def test_export_fills_corrected_values_and_names_the_version(demo_db):
    with session_scope(demo_db) as s:
        assert export_frame(s)["bdnf_pg_ml_corrected"].isna().all()  # no run yet
        assert "none" in plan_export(s).provenance["batch_correction"]
        v1 = run_correction(s, CorrectionOptions("bridge"), "stats").run.id
    with session_scope(demo_db) as s:
        v2 = run_correction(s, CorrectionOptions("lot-shift", reference_lot="L2301"), "stats").run.id
    with session_scope(demo_db) as s:
        latest, first = export_frame(s), export_frame(s, correction_version=v1)
        provenance = plan_export(s).provenance["batch_correction"]
        stored = dict(s.exec(select(CorrectedResult.result_id, CorrectedResult.corrected_pg_ml).where(CorrectedResult.run_id == v2)).all())
    in_range = latest["censoring"] == "none"
    assert latest.loc[in_range, "bdnf_pg_ml_corrected"].notna().all()
    assert latest.loc[~in_range, "bdnf_pg_ml_corrected"].isna().all()  # a censored value has nothing to correct
    assert set(latest.loc[in_range, "correction_version"]) == {v2} and set(first.loc[in_range, "correction_version"]) == {v1}
    assert provenance.startswith(f"version {v2}: lot-shift") and "reference_lot=L2301" in provenance
    assert sorted(latest["bdnf_pg_ml_corrected"].dropna()) == pytest.approx(sorted(stored.values()))
    # lot-shift against L2301: that lot is left as it was, the other lot moves by one common factor
    ratio = latest["bdnf_pg_ml_corrected"] / latest["bdnf_pg_ml"]
    assert np.allclose(ratio[in_range & (latest["kit_lot"] == "L2301")], 1.0)
    other = ratio[in_range & (latest["kit_lot"] != "L2301")]
    assert len(other) and np.allclose(other, other.iloc[0]) and other.iloc[0] < 1.0  # L2402 reads ~12% high
    assert not np.allclose(first["bdnf_pg_ml_corrected"].dropna(), latest["bdnf_pg_ml_corrected"].dropna())


def test_confounded_design_is_refused_unless_overridden_with_a_reason(db_url, tmp_path):
    """The 24-plate demo runs baseline visits first and follow-ups later, so visit is confounded with plate."""
    demo_db = db_url
    run_demo(demo_db, tmp_path / "study", n_plates=24, seed=7)
    counts = table_counts(demo_db)
    with pytest.raises(InputError, match=r"visit is confounded with plate.*--override"):
        with session_scope(demo_db) as s:
            run_correction(s, CorrectionOptions("combat"), "stats")
    assert table_counts(demo_db) == counts
    reason = "visits are in plate order by design; PI accepts the risk"
    with session_scope(demo_db) as s:
        run = run_correction(s, CorrectionOptions("combat", override_reason=reason), "dr.pi").run
        assert run.override and run.override_reason == reason and run.options["override"] is True
        assert any(row["covariate"] == "visit" for row in run.design)
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "batch_correct")).one()
        assert event.detail == reason and event.after["override"] is True


def test_correction_tables_are_append_only(demo_db):
    with session_scope(demo_db) as s:
        run_correction(s, CorrectionOptions("bridge"), "stats")
    engine = get_engine(demo_db)
    for statement in (
        "UPDATE corrected_result SET corrected_pg_ml = 1",
        "DELETE FROM correction_shift",
        "UPDATE correction_run SET method = 'x'",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(statement))


def test_refit_leaves_the_run_stale_and_its_old_values_out_of_the_export(demo_db):
    from labdb.masking import set_masks

    with session_scope(demo_db) as s:
        run_correction(s, CorrectionOptions("bridge"), "stats")
    plate_id = _approved(demo_db)[0]
    with session_scope(demo_db) as s:
        set_masks(s, plate_id, ["A1"], True, "dr.pi", "bubble")
        decide(s, [plate_id], "approved", "dr.pi", "rechecked")
    with session_scope(demo_db) as s:
        assert report(s)["stale"]["refitted"] == [plate_id]
        df = export_frame(s)
    rows = df[df["plate_id"] == plate_id]
    assert len(rows) and rows["bdnf_pg_ml_corrected"].isna().all()  # new results, not in the run
    assert df.loc[(df["plate_id"] != plate_id) & (df["censoring"] == "none"), "bdnf_pg_ml_corrected"].notna().all()


def test_cli_batch_correct_report_list_and_errors(demo_db):
    result = runner.invoke(app, ["batch", "report"])
    assert result.exit_code == 2 and "no batch-correction run yet" in result.stderr
    counts = table_counts(demo_db)
    for args, message in (
        (["--method", "quantile"], "--method quantile: unknown"),
        (["--reference-lot", "L9999"], "--reference-lot L9999: no approved plate uses that kit lot"),
        (["--method", "bridge", "--override", "why"], "--override applies to combat and mixed only"),
        (["--method", "combat", "--batch", "day"], "--batch day: use plate or kit_lot"),
    ):
        result = runner.invoke(app, ["batch", "correct", *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output + result.stderr
    assert table_counts(demo_db) == counts
    result = runner.invoke(app, ["batch", "correct", "--method", "bridge"])
    assert result.exit_code == 0, result.output
    assert "correction version 1: bridge" in result.stdout and "independent check (QC2" in result.stdout
    result = runner.invoke(app, ["batch", "correct", "--method", "bridge"])
    assert result.exit_code == 0 and "version 1 already holds this correction" in result.stdout
    data = json.loads(runner.invoke(app, ["batch", "report", "--json"]).stdout)
    assert data["version"] == 1 and data["method"] == "bridge" and data["plates"] == len(_approved(demo_db))
    assert data["diagnostics"]["check_pool"]["pool"] == "QC2"
    text = runner.invoke(app, ["batch", "report"]).stdout
    assert "season[summer]" in text and "Variance shares" in text
    assert "bridge" in runner.invoke(app, ["batch", "list"]).stdout
    result = runner.invoke(app, ["export", "-o", "x.csv", "--correction", "7"])
    assert result.exit_code == 2 and "--correction 7: no such batch-correction run; versions: 1." in result.stderr
