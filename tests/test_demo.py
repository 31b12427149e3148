"""`labdb demo`: a realistic study through the technician's code path, deterministic for a seed."""

from __future__ import annotations

import hashlib
import json

from sqlmodel import select
from typer.testing import CliRunner

from conftest import table_counts
from labdb.cli import app
from labdb.core.db import session_scope
from labdb.core.models import Plate
from labdb.demo.run import write_study_files
from labdb.demo.simulate import simulate_study

runner = CliRunner()


def _digests(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_loads_a_reviewed_study_and_is_deterministic(db_url, tmp_path):
    result = runner.invoke(app, ["demo", "--plates", "8", "--seed", "5", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    plates = json.loads(runner.invoke(app, ["plates", "list", "--json"]).stdout)
    assert len(plates) == 8
    assert sum(p["verdict"] == "fail" for p in plates) == 1
    failed = next(p for p in plates if p["verdict"] == "fail")
    assert failed["status"] == "rejected" and any("tandard" in r for r in failed["reasons"])
    assert {p["status"] for p in plates} == {"approved", "rejected", "evaluated"}
    assert len({p["kit_lot"] for p in plates}) == 2
    assert {p["format"] for p in plates} <= {"gen5_text", "grid"}
    with session_scope(db_url) as s:  # a grid file says nothing of its read time: the demo gives it, as a technician would
        read = {p.name: p.read_time for p in s.exec(select(Plate)).all()}
    assert read == {p.name: p.read_time for p in simulate_study(n_plates=8, seed=5).plates}
    counts = table_counts(db_url)
    assert counts["sample"] > 200 and counts["result"] > 8 * 35 and counts["audit_event"] > counts["sample"]

    # same seed: byte-identical files, and running it again on the same database changes nothing
    again = runner.invoke(app, ["demo", "--plates", "8", "--seed", "5", "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert "0 ingested, 8 already stored" in again.output
    assert table_counts(db_url) == counts

    write_study_files(simulate_study(n_plates=8, seed=6), tmp_path / "c")
    assert _digests(tmp_path / "c")["manifest.csv"] != _digests(tmp_path / "a")["manifest.csv"]
