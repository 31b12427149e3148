"""Review actions on stored plates: masking with a reason and refitting, the re-assay worklist."""

from __future__ import annotations

import pytest
from sqlmodel import select

from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.core.models import AuditEvent, CurveFit, Plate, Result, Well
from labdb.ingest import IngestRequest, Upload, ingest_upload
from labdb.masking import set_masks
from labdb.review import decide
from labdb.templates import load_plate_map, load_template
from labdb.worklist import suggest, worklist


@pytest.fixture
def plate_id(db_url, small_study):
    _, paths = small_study
    with session_scope(db_url) as session:
        out = ingest_upload(
            session,
            Upload.from_path(paths["plates"][0]),
            IngestRequest(load_template(paths["template"]), load_plate_map(paths["plate_map"]), "L1", "KM", actor="tech"),
        )
    return out.plates[0][0]


def test_masking_refits_keeps_raw_values_and_old_fit_and_needs_new_review(db_url, plate_id):
    with session_scope(db_url) as session:
        decide(session, [plate_id], "approved", "dr.pi", None)
        old_fit = session.exec(select(CurveFit).where(CurveFit.plate_id == plate_id)).one()
        a1_raw = session.exec(select(Well).where(Well.plate_id == plate_id, Well.position == "A1")).one().raw_values
    with session_scope(db_url) as session:
        set_masks(session, plate_id, ["A1", "b1"], True, "dr.pi", "pipetting error in S1")
    with session_scope(db_url) as session:
        fits = session.exec(select(CurveFit).where(CurveFit.plate_id == plate_id).order_by(CurveFit.id)).all()
        assert [f.is_current for f in fits] == [False, True] and fits[0].id == old_fit.id
        assert fits[1].n_points == old_fit.n_points - 2  # A1 (S1) and B1 (S2) left the fit
        a1 = session.exec(select(Well).where(Well.plate_id == plate_id, Well.position == "A1")).one()
        assert a1.masked and a1.mask_reason == "pipetting error in S1" and a1.masked_by == "dr.pi"
        assert a1.raw_values == a1_raw  # raw values are never touched
        assert session.get(Plate, plate_id).status == "evaluated"  # back for review after a refit
        n_results = {f.id: len(session.exec(select(Result).where(Result.curve_fit_id == f.id)).all()) for f in fits}
        assert n_results[fits[0].id] == n_results[fits[1].id] > 0  # old results stay, linked to the old fit
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
        assert actions.count("well.mask") == 2 and actions[-1] == "plate.refit"


def test_masking_needs_a_reason_and_a_real_well(db_url, plate_id):
    with session_scope(db_url) as session, pytest.raises(InputError, match="reason"):
        set_masks(session, plate_id, ["A1"], True, "dr.pi", " ")
    with session_scope(db_url) as session, pytest.raises(InputError, match="no well M13"):
        set_masks(session, plate_id, ["M13"], True, "dr.pi", "x")


@pytest.mark.parametrize(
    ("censoring", "conc", "dilution", "reason", "suggested"),
    [
        ("above_uloq", 500000.0, 50, "above_uloq", 400.0),
        ("above_uloq", float("nan"), 50, "above_uloq", 200.0),
        ("below_lloq", 2000.0, 50, "below_lloq", 12.5),
        ("below_lloq", 40.0, 1, "below_lloq", 1.0),
        ("none", 500.0, 2, "high_cv", 2.0),
    ],
)
def test_suggested_dilutions(censoring, conc, dilution, reason, suggested):
    row = {"censoring": censoring, "bdnf_pg_ml": conc, "dilution": dilution, "lloq_pg_ml": 62.5 * dilution, "uloq_pg_ml": 4000.0 * dilution}
    got = suggest(row)
    assert got[0] == reason and got[1] == suggested


def test_worklist_lists_censored_and_high_cv_samples_of_unrejected_plates(db_url, plate_id):
    with session_scope(db_url) as session:
        result = session.exec(select(Result).where(Result.plate_id == plate_id, Result.role == "sample")).first()
        result.censoring = "above_uloq"
        session.add(result)
    with session_scope(db_url) as session:
        listed = worklist(session)
        assert result.name in set(listed["sample_id"])
        row = listed.set_index("sample_id").loc[result.name]
        assert row["reason"] == "above_uloq" and row["suggested_dilution"] > row["current_dilution"]
        decide(session, [plate_id], "rejected", "dr.pi", "bad plate")
    with session_scope(db_url) as session:
        assert result.name not in set(worklist(session)["sample_id"])
