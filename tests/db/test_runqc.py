"""Westgard QC across plates on a simulated study: metrics, guide sets, stored violations, the approval override."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from labdb import runqc
from labdb.cli import app
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.core.models import AuditEvent, KitLot, Plate, QcGuideSet, QcViolation, Result
from labdb.demo.run import run_demo
from labdb.review import decide


@pytest.fixture
def study(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(runqc, "GUIDE_SET_N", 8)  # so that judging starts within a 24-plate demo
    run_demo(db_url, tmp_path / "demo", 24, 7)
    return db_url


def test_metrics_guide_sets_and_violations_are_stored(study):
    with session_scope(study) as session:
        df = runqc.metric_values(session)
        assert set(df["metric"]) == set(runqc.METRICS)
        assert set(df.loc[df["metric"] == "control_conc", "level"]) == {"low", "mid", "high"}
        assert df["status"].isin(["approved", "evaluated"]).all()
        sets = session.exec(select(QcGuideSet)).all()
        assert sets and all(s.source == "first_n" and s.n == 8 and len(s.plate_ids) == 8 and s.sd > 0 for s in sets)
        approved = set(session.exec(select(Plate.id).where(Plate.status == "approved")).all())
        assert all(set(s.plate_ids) <= approved for s in sets)
        violations = session.exec(select(QcViolation)).all()
        assert violations and {v.rule for v in violations} <= {"1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x"}
        before = sorted((v.rule, v.metric, v.level or "", v.plate_id) for v in violations)
        runqc.reevaluate(session)  # derived data: the same again, not duplicated
        again = sorted((v.rule, v.metric, v.level or "", v.plate_id) for v in session.exec(select(QcViolation)).all())
        assert again == before
        status = runqc.reevaluate(session, n=1000)  # not enough approved plates: say so instead of judging
        assert (status["state"] == "building").all() and not session.exec(select(QcViolation)).all()


def _wild_evaluated_plate(session) -> Plate:
    """An evaluated (unreviewed) plate whose lot is being judged, with its low control made wild."""
    status = runqc.reevaluate(session)
    judged = set(status.loc[status["state"] == "judging", "kit_lot_id"])
    plate = next(
        p
        for p in session.exec(select(Plate).where(Plate.status == "evaluated").order_by(Plate.id)).all()
        if p.kit_lot_id in judged and p.verdict == "pass"
    )
    low = session.exec(select(Result).where(Result.plate_id == plate.id, Result.role == "control", Result.name == "low")).all()
    for r in low:
        r.conc_pg_ml = r.conc_pg_ml * 3
        session.add(r)
    session.flush()
    runqc.reevaluate(session)
    return plate


def test_approving_a_plate_with_a_rejecting_violation_needs_a_written_override(study):
    with session_scope(study) as session:
        plate = _wild_evaluated_plate(session)
        pid = plate.id
        assert ("1-3s", "control_conc", "low") in {
            (v["rule"], v["metric"], v["level"]) for v in runqc.rejecting_violations(session, [pid])[pid]
        }
    with session_scope(study) as session, pytest.raises(InputError, match="Westgard rules.*1-3s on control_conc low.*override"):
        decide(session, [pid], "approved", "dr.pi", None)
    with session_scope(study) as session:
        assert session.get(Plate, pid).status == "evaluated"
        decide(session, [pid], "approved", "dr.pi", "Low control vial thawed twice; samples unaffected.")
    with session_scope(study) as session:
        assert session.get(Plate, pid).status == "approved"
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "plate.approve", AuditEvent.entity_id == str(pid))).one()
        assert "Westgard override: Low control vial thawed twice" in event.detail
        assert any(v["rule"] == "1-3s" and v["level"] == "low" for v in event.after["westgard_override"])
        decide(session, [pid], "rejected", "dr.pi", "repeat it after all")  # re-evaluated: it leaves the series
        assert not session.exec(select(QcViolation).where(QcViolation.plate_id == pid)).all()


def test_closing_a_guide_set_starts_the_next_after_the_newest_plate(study):
    with session_scope(study) as session:
        lot_id = session.exec(select(QcGuideSet.kit_lot_id)).first()
        lot = session.get(KitLot, lot_id).lot

        def lot_violations():
            return sorted(
                (v.rule, v.metric, v.level or "", v.plate_id)
                for v in session.exec(select(QcViolation).where(QcViolation.kit_lot_id == lot_id)).all()
            )

        before = lot_violations()
        assert runqc.close_guide_sets(session, lot, "dr.pi") > 0
        status = runqc.reevaluate(session)
        assert lot_violations() == before  # the closed sets still judge the plates read up to the close
        mine = status[(status["kit_lot_id"] == lot_id) & (status["state"] != "no_sd")]  # no_sd: e.g. a fixed LLOQ
        assert (mine["state"] == "building").all() and (mine["n"] == 0).all()  # the next set waits for new plates
        open_sets = session.exec(select(QcGuideSet).where(QcGuideSet.kit_lot_id == lot_id, QcGuideSet.closed_at.is_(None))).all()
        assert not open_sets  # no approved plate read after the close yet
        with pytest.raises(InputError, match="no kit lot"):
            runqc.close_guide_sets(session, "NOPE", "dr.pi")


def test_qc_report_cli(study):
    runner = CliRunner()
    result = runner.invoke(app, ["qc", "report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["metrics"] and {"lot", "metric", "level", "n", "mean", "sd", "cv_pct"} <= set(data["metrics"][0])
    lots = {m["lot"] for m in data["metrics"]}
    one = min(lots)
    result = runner.invoke(app, ["qc", "report", "--lot", one, "--since", "2000-01-01", "--json"])
    data = json.loads(result.output)
    assert {m["lot"] for m in data["metrics"]} == {one} and all(v["lot"] == one for v in data["violations"])
    result = runner.invoke(app, ["qc", "report"])
    assert result.exit_code == 0 and "mean" in result.output and "CV %" in result.output
    result = runner.invoke(app, ["qc", "report", "--since", "yesterday"])
    assert result.exit_code == 2 and "not a date" in result.output


def test_a_pi_enters_targets_and_closes_guide_sets_from_the_cli(study):
    runner = CliRunner()
    with session_scope(study) as session:
        lot = session.exec(select(KitLot.lot).order_by(KitLot.id)).first()
    result = runner.invoke(
        app,
        [
            "qc",
            "enter-guide-set",
            "--lot",
            lot,
            "--metric",
            "bridge_conc",
            "--level",
            "BP1",
            "--mean",
            "32000",
            "--sd",
            "1500",
            "--by",
            "dr.pi",
        ],
    )
    assert result.exit_code == 0, result.output
    with session_scope(study) as session:
        entered = session.exec(select(QcGuideSet).where(QcGuideSet.source == "entered")).one()
        assert (entered.metric, entered.level, entered.mean, entered.sd, entered.closed_at) == ("bridge_conc", "BP1", 32000.0, 1500.0, None)
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "guide_set.enter")).one().actor == "dr.pi"
    bad = runner.invoke(app, ["qc", "enter-guide-set", "--lot", lot, "--metric", "bridge", "--mean", "1", "--sd", "1", "--by", "x"])
    assert bad.exit_code == 2 and "unknown metric" in bad.stderr
    closed = runner.invoke(app, ["qc", "close-guide-sets", "--lot", lot, "--by", "dr.pi"])
    assert closed.exit_code == 0 and "guide set(s) closed" in closed.output
    with session_scope(study) as session:
        assert session.exec(select(QcGuideSet).where(QcGuideSet.source == "entered")).one().closed_by == "dr.pi"


def test_ingest_judges_a_new_plate_at_once(study, tmp_path):
    """A new run whose low control reads far too high carries its 1-3s violation as soon as `labdb ingest` has stored
    it: nobody approved, refitted or ran `qc report` in between."""
    from dataclasses import replace
    from datetime import timedelta

    from labdb.demo.run import _gen5_plate
    from labdb.demo.simulate import simulate_study
    from labdb.readers import gen5

    sim = simulate_study(24, 7)  # the study the fixture's demo ingested
    with session_scope(study) as session:
        status = runqc.reevaluate(session)
        judged = set(
            session.exec(
                select(KitLot.lot).where(KitLot.id.in_([int(i) for i in status.loc[status["state"] == "judging", "kit_lot_id"]]))
            ).all()
        )
    plate = next(p for p in reversed(sim.plates) if p.kit_lot in judged and "BioTek" in p.reader.name and not p.fails_acceptance)
    low = sim.layout[(sim.layout["role"] == "control") & (sim.layout["level"] == "low")]["well"]
    od = {nm: values.copy() for nm, values in plate.od.items()}
    for well in low:
        r, c = ord(well[0]) - 65, int(well[1:]) - 1
        od[450][r, c] = od[450][r, c] * 1.8
    rerun = replace(plate, od=od, read_time=plate.read_time + timedelta(days=1))
    path = tmp_path / "rerun.txt"
    path.write_bytes(gen5.write_text([_gen5_plate(rerun)]))
    demo = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(path),
            "--template",
            str(demo / "bdnf_96_duplicate.toml"),
            "--plate-map",
            str(demo / "plate_map.csv"),
            "--kit-lot",
            plate.kit_lot,
            "--operator",
            plate.operator,
        ],
    )
    assert result.exit_code == 0, result.output
    with session_scope(study) as session:
        new = session.exec(select(Plate).where(Plate.original_filename == "rerun.txt")).one()
        assert new.status == "evaluated"
        rules = {(v.rule, v.metric, v.level) for v in session.exec(select(QcViolation).where(QcViolation.plate_id == new.id))}
    assert ("1-3s", "control_conc", "low") in rules
