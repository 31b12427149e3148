"""The ingest pipeline against real databases: one transaction per file, idempotent, raw bytes kept."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from sqlmodel import select

from conftest import table_counts
from labdb import ingest as ingest_module
from labdb.core.db import get_engine, session_scope
from labdb.core.errors import InputError
from labdb.core.models import CurveFit, Plate, RawFile, Result, Well
from labdb.ingest import IngestRequest, Upload, ingest_upload
from labdb.samples import import_manifest, set_site
from labdb.templates import load_plate_map, load_template


def _ingest(url, path, paths, plate=None):
    template = load_template(paths["template"])
    plate_map = load_plate_map(paths["plate_map"])
    with session_scope(url) as session:
        return ingest_upload(session, Upload.from_path(path), IngestRequest(template, plate_map, "L2301", "KM", actor="tester"))


def test_plate_wells_fit_and_results_are_stored(db_url, small_study):
    study, paths = small_study
    outcome = _ingest(db_url, paths["plates"][0], paths)
    assert not outcome.duplicate and len(outcome.plates) == 1
    with session_scope(db_url) as session:
        plate = session.exec(select(Plate)).one()
        assert plate.status == "evaluated" and plate.verdict in ("pass", "fail")
        assert plate.operator == "KM" and plate.reference_nm == 630 and plate.measure_nm == 450
        assert plate.read_extra["od_reads"] == "450 nm minus 630 nm (reference_nm = 630 in template bdnf_96_duplicate.toml)"
        wells = session.exec(select(Well).where(Well.plate_id == plate.id)).all()
        assert len(wells) == 96
        a1 = next(w for w in wells if w.position == "A1")
        # corrected OD is stored beside the raw values, never instead of them
        assert a1.od_corrected == pytest.approx(a1.raw_values["450"] - a1.raw_values["630"], abs=1e-9)
        assert session.exec(select(CurveFit)).one().converged
        results = session.exec(select(Result).where(Result.role == "sample")).all()
        assert len(results) == len(study.plates[0].plate_map["sample_id"].unique())
        raw = session.get(RawFile, plate.file_sha256)
        assert raw.content == paths["plates"][0].read_bytes()
        assert hashlib.sha256(raw.content).hexdigest() == plate.file_sha256


def test_the_same_file_twice_is_stored_once(db_url, small_study):
    _, paths = small_study
    first = _ingest(db_url, paths["plates"][1], paths)
    before = table_counts(db_url)
    again = _ingest(db_url, paths["plates"][1], paths)
    assert again.duplicate and [p[0] for p in again.plates] == [p[0] for p in first.plates]
    assert table_counts(db_url) == before


@pytest.mark.parametrize("stage", ["store_plate", "audit"])
def test_a_failure_injected_mid_ingest_leaves_every_table_unchanged(db_url, small_study, monkeypatch, stage):
    """Wells, fit and results have already been flushed when the failure hits; the rollback must undo all."""
    _, paths = small_study
    _ingest(db_url, paths["plates"][0], paths)
    before = table_counts(db_url)

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure")

    if stage == "audit":
        monkeypatch.setattr(ingest_module.audit, "record", boom)
    else:
        real = ingest_module._store_plate

        def store_then_fail(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("injected failure")

        monkeypatch.setattr(ingest_module, "_store_plate", store_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        _ingest(db_url, paths["plates"][2], paths)
    assert table_counts(db_url) == before


def test_bad_input_is_an_input_error_naming_the_file_and_changes_nothing(db_url, small_study, tmp_path):
    _, paths = small_study
    bad = tmp_path / "run7.txt"
    text = paths["plates"][0].read_text()
    bad.write_text(text.replace("\nC\t", "\nI\t", 1))  # a row letter that is out of place
    before = table_counts(db_url)
    with pytest.raises(InputError) as info:
        _ingest(db_url, bad, paths)
    message = str(info.value)
    assert message.startswith("run7.txt") and "\n" not in message
    assert table_counts(db_url) == before


def test_wells_link_to_samples_whichever_comes_first(db_url, small_study):
    study, paths = small_study
    _ingest(db_url, paths["plates"][0], paths)  # plate first
    with session_scope(db_url) as session:
        for site in study.sites.itertuples(index=False):
            set_site(session, site.site_code, site.hemisphere, site.name, "tester")
        import_manifest(session, paths["manifest"], "tester")
    _ingest(db_url, paths["plates"][1], paths)  # manifest first
    with get_engine(db_url).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT p.name, COUNT(*), COUNT(r.sample_id) FROM result r JOIN plate p ON p.id = r.plate_id "
                "WHERE r.role = 'sample' GROUP BY p.name ORDER BY p.name"
            )
        ).all()
    typos = set(study.truth.typos)
    for name, total, linked in rows:
        plate = next(p for p in study.plates if p.name == name)
        expected_unlinked = len(set(plate.plate_map["sample_id"]) & typos)
        assert total - linked == expected_unlinked, name


def test_automatic_masks_are_stored_with_their_reason(db_url, small_study):
    """The simulator puts a bubble in one S3 standard well of the second plate; ingest masks it and says why."""
    study, paths = small_study
    assert any("standard well" in d for d in study.plates[1].defects)
    _ingest(db_url, paths["plates"][1], paths)
    with session_scope(db_url) as session:
        masked = session.exec(select(Well).where(Well.masked.is_(True))).all()
        assert [(w.level, w.masked_by) for w in masked] == [("S3", "auto (qc.acceptance)")]
        assert masked[0].mask_reason.startswith("auto-masked: S3 replicate back-calculated at")
        assert masked[0].raw_values["450"] is not None  # the raw reading is still there
        plate = session.exec(select(Plate)).one()
        assert plate.verdict == "pass" and any(r.startswith("Auto-masked") for r in plate.verdict_reasons)


def test_results_of_a_batch_are_checked_together(db_url, small_study):
    """One Pandera call checks every plate's results, and it fails when any one plate's results would."""
    from labdb.ingest import _results_valid, evaluate_staged, stage_file

    _, paths = small_study
    template, plate_map = load_template(paths["template"]), load_plate_map(paths["plate_map"])
    with session_scope(db_url) as s:
        staged = [stage_file(s, Upload.from_path(p), IngestRequest(template, plate_map)) for p in paths["plates"][:2]]
    evaluate_staged(staged, template)
    good = [f.plates[0].evaluation.results for f in staged]
    assert all(f.error is None for f in staged) and _results_valid(good)
    bad = good[1].assign(lloq=good[1]["uloq"] * 2)  # LLOQ above ULOQ on the second plate
    assert not _results_valid([good[0], bad])


def test_the_driver_checks_the_uploaders_role_in_each_files_transaction(db_url, small_study):
    """A dashboard upload (check_role) is refused, file by file and with nothing stored, when the account's role no
    longer allows uploads; the same files go in once the role does. The command line (check_role off) is not checked."""
    from labdb.ingest import ingest
    from labdb.users import PermissionDenied, add_user

    _, paths = small_study
    with session_scope(db_url) as s:
        add_user(s, "sam", "statistician", "a long password", actor="admin")
        add_user(s, "tina", "technician", "a long password", actor="admin")
    request = IngestRequest(load_template(paths["template"]), load_plate_map(paths["plate_map"]), "L2301", actor="sam", check_role=True)
    files = [Upload.from_path(p) for p in paths["plates"][:2]]
    before = table_counts(db_url)
    refused = list(ingest(db_url, files, request))
    assert [type(r) for _, r in refused] == [PermissionDenied, PermissionDenied]
    assert "sam is a statistician; a statistician may not upload reader files" in str(refused[0][1])
    assert table_counts(db_url) == before
    stored = list(ingest(db_url, files, IngestRequest(request.template, request.plate_map, "L2301", actor="tina", check_role=True)))
    assert all(not r.duplicate for _, r in stored)
    with session_scope(db_url) as s:
        assert {p.ingested_by for p in s.exec(select(Plate)).all()} == {"tina"}
