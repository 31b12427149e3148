"""Sample manifests (issue #5): Pandera validation of every rule at once, synonyms, extra columns, re-import
audit, seasons by hemisphere and convention, time of day, and linking whichever comes first."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from conftest import table_counts
from labdb.cli import app
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.core.models import AuditEvent, Result, Sample, Subject, Well
from labdb.ingest import IngestRequest, Upload, ingest_upload
from labdb.samples import import_manifest, season_of, set_site, unmatched
from labdb.templates import load_plate_map, load_template

runner = CliRunner()

GOOD = [
    {
        "sample_id": "S1",
        "subject_id": "P1",
        "sample_type": "serum",
        "collected_at": "2024-01-10 08:30",
        "site": "SYD",
        "visit": "baseline",
        "sex": "F",
        "platelet_count": "250",
        "freeze_thaw_cycles": "0",
        "fasting": "yes",
        "lab_box": "B7",
    },
    {
        "sample_id": "S2",
        "subject_id": "P1",
        "sample_type": "plasma_edta",
        "collected_at": "2024-01-10 08:30",
        "site": "SYD",
        "visit": "baseline",
        "sex": "F",
        "platelet_count": "250",
        "freeze_thaw_cycles": "1",
        "fasting": "no",
        "lab_box": "",
    },
    {
        "sample_id": "S3",
        "subject_id": "P2",
        "sample_type": "serum",
        "collected_at": "2024-07-02 09:00",
        "site": "AMS",
        "visit": "baseline",
        "sex": "M",
        "platelet_count": "310",
        "freeze_thaw_cycles": "2",
        "fasting": "",
        "lab_box": "B8",
    },
]


def _write(tmp_path, rows, name="manifest.csv"):
    path = tmp_path / name
    frame = pd.DataFrame(rows)
    if name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _sites(url):
    with session_scope(url) as session:
        set_site(session, "AMS", "north", "Amsterdam", "tester")
        set_site(session, "SYD", "south", "Sydney", "tester")


def _import(url, path, actor="tech"):
    with session_scope(url) as session:
        return import_manifest(session, path, actor)


def _rejected(url, path) -> str:
    before = table_counts(url)
    with pytest.raises(InputError) as info:
        _import(url, path)
    assert table_counts(url) == before, "a rejected manifest must store nothing"
    message = str(info.value)
    assert "\n" not in message and message.startswith(path.name)
    return message


# --- validation --------------------------------------------------------------------------------


def test_every_rule_is_reported_at_once_by_row_and_column(db_url, tmp_path):
    _sites(db_url)
    bad = [dict(r) for r in GOOD]
    bad[0]["sample_type"] = "saliva"  # row 2: unknown sample type
    bad[1]["collected_at"] = "2999-01-01"  # row 3: in the future
    bad[1]["sex"] = "M"  # row 3: P1 was F on row 2
    bad[2]["platelet_count"] = "3000"  # row 4: implausible platelet count
    bad[2]["freeze_thaw_cycles"] = "-1"  # row 4: negative count
    bad.append(dict(GOOD[2], sample_id="S1", subject_id="P3", sex="F"))  # row 5: duplicate sample ID
    bad.append(
        dict(
            GOOD[2],
            sample_id="S6",
            subject_id="P4",
            platelet_count="5",
            site="XYZ",  # row 6: several at once
            collected_at="10/01/2024",
            fasting="maybe",
            freeze_thaw_cycles="1.5",
        )
    )
    bad.append(dict(GOOD[2], sample_id="S7", subject_id="", platelet_count="lots", sample_type="serun"))  # row 7
    message = _rejected(db_url, _write(tmp_path, bad))
    expected = [
        "row 2: sample_type 'saliva' is not a sample type",
        "row 3: collected_at 2999-01-01 is in the future",
        "row 3: sex 'M' of subject P1 differs from F on row 2",
        "row 4: platelet_count '3000' is outside the plausible range 10-1500 x10^9/L",
        "row 4: freeze_thaw_cycles '-1' is negative",
        "row 2: sample_id 'S1' appears more than once in the file (rows 2, 5)",
        "row 5: sample_id 'S1' appears more than once",
        "row 6: site 'XYZ' is unknown",
        "row 6: collected_at '10/01/2024' is not a date",
        "row 6: platelet_count '5' is outside the plausible range",
        "row 6: freeze_thaw_cycles '1.5' is not a whole number",
        "row 6: fasting 'maybe' is not yes or no",
        "row 7: subject_id is empty",
        "row 7: platelet_count 'lots' is not a number",
        (
            "row 7: sample_type 'serun' is not a sample type: use serum, plasma_edta, plasma_citrate, plasma_heparin or "
            "platelet_poor_plasma (did you mean serum?)"
        ),
    ]
    for fragment in expected:
        assert fragment in message, fragment
    assert message.startswith(f"manifest.csv: {len(message.split('; '))} problem(s), nothing imported: row 2: ")
    assert message.index("row 2:") < message.index("row 3:") < message.index("row 7:")  # file order


def test_sex_is_checked_against_subjects_already_in_the_database(db_url, tmp_path):
    _sites(db_url)
    _import(db_url, _write(tmp_path, GOOD))
    later = [dict(GOOD[0], sample_id="S9", visit="followup", collected_at="2025-01-10 08:30", sex="male")]
    message = _rejected(db_url, _write(tmp_path, later, "followup.csv"))
    assert "row 2: sex 'male' of subject P1 differs from F in the database" in message
    same = [dict(later[0], sex="female")]  # written differently, the same sex
    assert _import(db_url, _write(tmp_path, same, "followup2.csv"))["added"] == 1


def test_missing_required_columns_and_an_empty_file(db_url, tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("collected_at", "subject_id")} for r in GOOD]
    message = _rejected(db_url, _write(tmp_path, rows))
    assert "column 'subject_id' is missing" in message and "column 'collected_at' is missing" in message
    empty = tmp_path / "empty.csv"
    empty.write_text("sample_id,subject_id,sample_type,collected_at\n\n")
    assert "no sample rows" in _rejected(db_url, empty)


def test_xlsx_manifest_rows_are_numbered_as_in_the_sheet(db_url, tmp_path):
    _sites(db_url)
    bad = [dict(r) for r in GOOD]
    bad[2]["platelet_count"] = "-4"
    message = _rejected(db_url, _write(tmp_path, bad, "manifest.xlsx"))
    assert "row 4: platelet_count '-4' is negative" in message
    assert _import(db_url, _write(tmp_path, GOOD, "good.xlsx")) == {"added": 3, "updated": 0, "unchanged": 0}


def test_sample_type_synonyms_and_loose_headers(db_url, tmp_path):
    synonyms = {
        "EDTA plasma": "plasma_edta",
        "Plasma (EDTA)": "plasma_edta",
        "K2-EDTA plasma": "plasma_edta",
        "citrate plasma": "plasma_citrate",
        "Heparin": "plasma_heparin",
        "platelet-poor plasma": "platelet_poor_plasma",
        "PPP": "platelet_poor_plasma",
        " Serum ": "serum",
    }
    rows = [
        {"Sample ID": f"T{i}", "Subject-ID": "P9", "Sample type": written, "collected_at": "2024-05-01"}
        for i, written in enumerate(synonyms)
    ]
    assert _import(db_url, _write(tmp_path, rows))["added"] == len(synonyms)
    with session_scope(db_url) as session:
        stored = dict(session.exec(select(Sample.code, Sample.sample_type)).all())
    assert stored == {f"T{i}": canonical for i, canonical in enumerate(synonyms.values())}


# --- storing, re-importing, auditing ---------------------------------------------------------------


def test_values_are_typed_and_extra_columns_kept(db_url, tmp_path):
    _sites(db_url)
    _import(db_url, _write(tmp_path, GOOD))
    with session_scope(db_url) as session:
        s1 = session.exec(select(Sample).where(Sample.code == "S1")).one()
        assert s1.collected_at == datetime(2024, 1, 10, 8, 30)  # the time of day is kept
        assert s1.platelet_count == 250.0 and s1.freeze_thaw_cycles == 0 and s1.fasting is True
        assert s1.extra == {"lab_box": "B7"}
        assert session.exec(select(Sample).where(Sample.code == "S2")).one().extra is None  # empty cell: nothing kept
        assert session.exec(select(Sample).where(Sample.code == "S3")).one().fasting is None
        assert session.exec(select(Subject).where(Subject.code == "P1")).one().sex == "F"


def test_reimport_updates_changed_rows_and_audits_old_and_new(db_url, tmp_path):
    _sites(db_url)
    _import(db_url, _write(tmp_path, GOOD))
    changed = [dict(r) for r in GOOD]
    changed[0]["notes"] = "haemolysed"
    changed[2]["platelet_count"] = "295"
    changed[2]["collected_at"] = "2024-07-02 09:45"
    changed[2]["lab_box"] = "C1"
    for row in changed[:2]:
        row["notes"] = row.get("notes", "")
    assert _import(db_url, _write(tmp_path, changed, "v2.csv"), actor="dr.who") == {"added": 0, "updated": 2, "unchanged": 1}
    with session_scope(db_url) as session:
        events = {e.entity_id: e for e in session.exec(select(AuditEvent).where(AuditEvent.action == "sample.update")).all()}
    assert set(events) == {"S1", "S3"}
    assert events["S1"].before == {"notes": None} and events["S1"].after == {"notes": "haemolysed"}
    s3 = events["S3"]
    assert s3.actor == "dr.who" and s3.detail == "v2.csv"
    assert s3.before == {"collected_at": "2024-07-02T09:00:00", "platelet_count": 310.0, "extra": {"lab_box": "B8"}}
    assert s3.after == {"collected_at": "2024-07-02T09:45:00", "platelet_count": 295.0, "extra": {"lab_box": "C1"}}
    # the same file again changes nothing and records nothing
    n_events = table_counts(db_url)["audit_event"]
    assert _import(db_url, _write(tmp_path, changed, "v2.csv"))["unchanged"] == 3
    assert table_counts(db_url)["audit_event"] == n_events


def test_a_partial_reimport_leaves_absent_columns_alone(db_url, tmp_path):
    _sites(db_url)
    _import(db_url, _write(tmp_path, GOOD))
    slim = [{k: r[k] for k in ("sample_id", "subject_id", "sample_type", "collected_at")} | {"storage_days": "30"} for r in GOOD]
    assert _import(db_url, _write(tmp_path, slim, "storage.csv"))["updated"] == 3
    with session_scope(db_url) as session:
        s1 = session.exec(select(Sample).where(Sample.code == "S1")).one()
        assert s1.storage_days == 30.0 and s1.platelet_count == 250.0 and s1.extra == {"lab_box": "B7"}
        assert s1.season == "summer"  # the subject's site (Sydney) still decides the season


def test_moving_a_sample_to_another_subject_is_audited(db_url, tmp_path):
    _sites(db_url)
    _import(db_url, _write(tmp_path, GOOD))
    moved = [dict(r) for r in GOOD]
    moved[1]["subject_id"] = "P2"
    moved[1]["sex"] = "M"
    moved[1]["site"] = "AMS"
    _import(db_url, _write(tmp_path, moved, "fix.csv"))
    with session_scope(db_url) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "sample.update", AuditEvent.entity_id == "S2")).one()
    assert event.before["subject_id"] == "P1" and event.after["subject_id"] == "P2"
    assert event.before["season"] == "summer" and event.after["season"] == "winter"  # January: Sydney -> Amsterdam


# --- seasons ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "hemisphere", "meteorological", "astronomical"),
    [
        ("2024-03-10", "north", "spring", "winter"),
        ("2024-03-25", "north", "spring", "spring"),
        ("2024-06-15", "north", "summer", "spring"),
        ("2024-09-21", "north", "autumn", "summer"),
        ("2024-12-05", "north", "winter", "autumn"),
        ("2024-12-25", "north", "winter", "winter"),
        ("2024-03-10", "south", "autumn", "summer"),
        ("2024-06-15", "south", "winter", "autumn"),
        ("2024-01-01", "south", "summer", "summer"),
    ],
)
def test_season_conventions(when, hemisphere, meteorological, astronomical, monkeypatch):
    day = datetime.fromisoformat(when)
    assert season_of(day, hemisphere) == meteorological
    assert season_of(day, hemisphere, "astronomical") == astronomical
    monkeypatch.setenv("LABDB_SEASONS", "astronomical")
    assert season_of(day, hemisphere) == astronomical
    monkeypatch.setenv("LABDB_SEASONS", "chinese")
    with pytest.raises(InputError, match="LABDB_SEASONS"):
        season_of(day, hemisphere)


def test_seasons_follow_hemisphere_convention_and_site_changes(db_url, tmp_path, monkeypatch):
    _sites(db_url)
    rows = [
        dict(GOOD[0], sample_id="N", subject_id="PN", site="AMS", collected_at="2024-03-10 07:00"),
        dict(GOOD[0], sample_id="S", subject_id="PS", site="SYD", collected_at="2024-03-10 07:00"),
    ]
    _import(db_url, _write(tmp_path, rows))
    with session_scope(db_url) as session:
        assert dict(session.exec(select(Sample.code, Sample.season)).all()) == {"N": "spring", "S": "autumn"}
    monkeypatch.setenv("LABDB_SEASONS", "astronomical")  # re-import under the other convention: audited changes
    assert _import(db_url, _write(tmp_path, rows))["updated"] == 2
    with session_scope(db_url) as session:
        assert dict(session.exec(select(Sample.code, Sample.season)).all()) == {"N": "winter", "S": "summer"}
        set_site(session, "SYD", "north", None, "tester")  # a site entered in the wrong hemisphere, corrected
    with session_scope(db_url) as session:
        assert session.exec(select(Sample.season).where(Sample.code == "S")).one() == "winter"
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "sample.update", AuditEvent.entity_id == "S").order_by(AuditEvent.id.desc())
        ).first()
        assert event.before == {"season": "summer"} and event.after == {"season": "winter"} and "SYD" in event.detail


# --- linking and the unmatched listing ----------------------------------------------------------------


def _ingest(url, paths, n=2):
    template, plate_map = load_template(paths["template"]), load_plate_map(paths["plate_map"])
    with session_scope(url) as session:
        for path in paths["plates"][:n]:
            ingest_upload(session, Upload.from_path(path), IngestRequest(template, plate_map, "L2301", "KM", actor="tech"))


def _study_sites(url, study):
    with session_scope(url) as session:
        for site in study.sites.itertuples(index=False):
            set_site(session, site.site_code, site.hemisphere, site.name, "tester")


def _link_state(url):
    with session_scope(url) as session:
        wells = session.exec(
            select(Well.sample_code, Sample.code).join(Sample, Sample.id == Well.sample_id, isouter=True).where(Well.role == "sample")
        ).all()
        results = session.exec(
            select(Result.name, Sample.code).join(Sample, Sample.id == Result.sample_id, isouter=True).where(Result.role == "sample")
        ).all()
        return sorted(wells, key=str), sorted(results, key=str), unmatched(session)


@pytest.mark.parametrize("order", ["plate_first", "manifest_first"])
def test_linking_works_whichever_comes_first_and_lists_the_unmatched(db_url, small_study, order):
    study, paths = small_study
    _study_sites(db_url, study)
    if order == "plate_first":
        _ingest(db_url, paths)
        wells, results, loose = _link_state(db_url)
        assert all(sample is None for _, sample in wells + results)  # nothing to link to yet
        assert loose["never_measured"] == [] and {r["sample_id"] for r in loose["not_in_manifest"]} == {w[0] for w in wells}
        _import(db_url, paths["manifest"])
    else:
        _import(db_url, paths["manifest"])
        _ingest(db_url, paths)
    wells, results, loose = _link_state(db_url)
    manifest = pd.read_csv(paths["manifest"], dtype=str)
    known = set(manifest["sample_id"])
    for code, sample in wells + results:
        assert sample == (code if code in known else None)
    on_plates = {code for code, _ in wells}
    assert {r["sample_id"] for r in loose["not_in_manifest"]} == on_plates - known
    assert {r["sample_id"] for r in loose["never_measured"]} == known - on_plates
    for row in loose["not_in_manifest"]:  # the simulator's typos: each names its plate, wells and the intended ID
        assert row["wells"] and row["plate_name"].startswith("BDNF-P") and row["did_you_mean"] in known


def test_cli_samples_import_and_unmatched(db_url, small_study, tmp_path):
    study, paths = small_study
    _study_sites(db_url, study)
    _ingest(db_url, paths, n=1)
    result = runner.invoke(app, ["samples", "import", str(paths["manifest"])])
    assert result.exit_code == 0, result.output
    assert "added" in result.output and "see `labdb samples unmatched`" in result.output
    listed = runner.invoke(app, ["samples", "unmatched", "--json"])
    assert listed.exit_code == 0
    data = json.loads(listed.stdout)
    assert set(data) == {"not_in_manifest", "never_measured"} and data["never_measured"]
    shown = runner.invoke(app, ["samples", "unmatched"])
    assert shown.exit_code == 0 and "never measured" in shown.output
    bad = _write(tmp_path, [dict(GOOD[0], platelet_count="-4", site="AMS")], "bad.csv")
    before = table_counts(db_url)
    failed = runner.invoke(app, ["samples", "import", str(bad)])
    assert failed.exit_code == 2 and failed.stderr.count("\n") == 1
    assert "bad.csv: 1 problem(s), nothing imported: row 2: platelet_count '-4' is negative" in failed.stderr
    assert table_counts(db_url) == before
