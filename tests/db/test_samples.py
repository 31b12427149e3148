"""Sample manifests: every problem reported at once, nothing imported on error, changes audited, seasons by hemisphere."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from sqlmodel import select

from conftest import table_counts
from labdb.core.db import session_scope
from labdb.core.errors import InputError
from labdb.core.models import AuditEvent, Sample
from labdb.samples import import_manifest, season_of, set_site


@pytest.mark.parametrize(
    ("when", "hemisphere", "season"),
    [
        ("2024-01-15", "north", "winter"),
        ("2024-03-01", "north", "spring"),
        ("2024-08-31", "north", "summer"),
        ("2024-11-30", "north", "autumn"),
        ("2024-12-01", "north", "winter"),
        ("2024-01-15", "south", "summer"),
        ("2024-07-01", "south", "winter"),
        ("2024-04-10", "south", "autumn"),
    ],
)
def test_meteorological_season_by_hemisphere(when, hemisphere, season):
    assert season_of(datetime.fromisoformat(when), hemisphere) == season


def _manifest(tmp_path, rows, name="manifest.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _sites(url):
    with session_scope(url) as session:
        set_site(session, "AMS", "north", "Amsterdam", "tester")
        set_site(session, "SYD", "south", "Sydney", "tester")


GOOD = [
    {
        "sample_id": "S1",
        "subject_id": "P1",
        "sample_type": "serum",
        "collected_at": "2024-01-10 08:30",
        "site": "SYD",
        "sex": "F",
        "platelet_count": "250",
        "lab_box": "B7",
    },
    {
        "sample_id": "S2",
        "subject_id": "P1",
        "sample_type": "EDTA plasma",
        "collected_at": "2024-01-10 08:30",
        "site": "SYD",
        "sex": "F",
        "platelet_count": "250",
        "lab_box": "",
    },
    {
        "sample_id": "S3",
        "subject_id": "P2",
        "sample_type": "serum",
        "collected_at": "2024-07-02 09:00",
        "site": "AMS",
        "sex": "M",
        "platelet_count": "310",
        "lab_box": "B8",
    },
]


def test_import_then_reimport_audits_each_change(db_url, tmp_path):
    _sites(db_url)
    with session_scope(db_url) as session:
        assert import_manifest(session, _manifest(tmp_path, GOOD), "tech") == {"added": 3, "updated": 0, "unchanged": 0}
    with session_scope(db_url) as session:
        s1 = session.exec(select(Sample).where(Sample.code == "S1")).one()
        assert s1.season == "summer"  # January in Sydney
        assert s1.extra == {"lab_box": "B7"}  # unknown columns are kept
        assert session.exec(select(Sample).where(Sample.code == "S2")).one().sample_type == "plasma_edta"
        assert session.exec(select(Sample).where(Sample.code == "S3")).one().season == "summer"
    changed = [dict(r) for r in GOOD]
    changed[2]["platelet_count"] = "295"
    with session_scope(db_url) as session:
        assert import_manifest(session, _manifest(tmp_path, changed, "v2.csv"), "tech") == {"added": 0, "updated": 1, "unchanged": 2}
    with session_scope(db_url) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "sample.update")).one()
        assert event.entity_id == "S3" and event.before == {"platelet_count": 310.0} and event.after == {"platelet_count": 295.0}


def test_every_problem_is_reported_and_nothing_is_imported(db_url, tmp_path):
    _sites(db_url)
    bad = [dict(r) for r in GOOD]
    bad[0]["sample_type"] = "saliva"
    bad[1]["collected_at"] = "2999-01-01"
    bad[2]["platelet_count"] = "-4"
    bad.append(dict(GOOD[2], sample_id="S1", site="XYZ"))
    before = table_counts(db_url)
    with session_scope(db_url) as session, pytest.raises(InputError) as info:
        import_manifest(session, _manifest(tmp_path, bad), "tech")
    message = str(info.value)
    for expected in (
        "row 2: sample_type 'saliva'",
        "row 3: collected_at 2999-01-01 is in the future",
        "row 4: platelet_count '-4'",
        "appears more than once",
        "site 'XYZ' is unknown",
    ):
        assert expected in message
    assert "\n" not in message and message.startswith("manifest.csv")
    assert table_counts(db_url) == before
