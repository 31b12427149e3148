"""The `labdb` command line, end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import table_counts
from labdb.cli import app

runner = CliRunner()
COMMANDS = [
    [],
    ["init"],
    ["ingest"],
    ["samples", "import"],
    ["sites", "add"],
    ["plates", "list"],
    ["plates", "approve"],
    ["plates", "reject"],
    ["plates", "export-asm"],
    ["export"],
    ["demo"],
    ["dashboard"],
]


def labdb(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def labdb_process(*args: str, url: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process (what a user runs)."""
    env = dict(os.environ, LABDB_DATABASE_URL=url, COLUMNS="200")
    exe = Path(sys.executable).with_name("labdb")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "labdb")
def test_every_command_has_help(command):
    result = labdb(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_ingest_list_approve_export(db_url, small_study, tmp_path):
    study, paths = small_study
    files = paths["plates"][:3]
    result = labdb(
        "ingest", *files, "--template", paths["template"], "--plate-map", paths["plate_map"], "--kit-lot", "L2301", "--operator", "KM"
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("stored, verdict") == 3
    again = labdb("ingest", files[0], "--template", paths["template"], "--plate-map", paths["plate_map"])
    assert again.exit_code == 0 and "already ingested" in again.output and "nothing changed" in again.output

    listed = json.loads(labdb("plates", "list", "--json").stdout)
    assert [p["name"] for p in listed] == [p.name for p in study.plates[:3]]
    assert {p["status"] for p in listed} == {"evaluated"} and all(p["kit_lot"] == "L2301" for p in listed)

    approved = labdb("plates", "approve", "--all-passing", "--by", "dr.pi")
    assert approved.exit_code == 0, approved.output
    n_pass = sum(p["verdict"] == "pass" for p in listed)
    assert f"{n_pass} plate(s) approved" in approved.output

    out = tmp_path / "bdnf.csv"
    assert labdb("export", "--out", out).exit_code == 0
    df = pd.read_csv(out)
    assert len(df) > 0 and set(df["plate_status"]) == {"approved"}
    assert {"bdnf_pg_ml", "censoring", "lloq_pg_ml", "raw_file_sha256", "curve_engine"} <= set(df.columns)
    for suffix in (".parquet", ".xlsx"):
        target = tmp_path / f"bdnf{suffix}"
        assert labdb("export", "--out", target, "--include-unapproved").exit_code == 0
        back = pd.read_parquet(target) if suffix == ".parquet" else pd.read_excel(target, sheet_name=None, engine="openpyxl")
        if suffix == ".xlsx":
            assert set(back) == {"data", "dictionary", "provenance"}
            back = back["data"]
        assert len(back) >= len(df)


def test_reject_needs_a_reason_and_is_audited(db_url, small_study):
    _, paths = small_study
    assert labdb("ingest", paths["plates"][0], "--template", paths["template"], "--plate-map", paths["plate_map"]).exit_code == 0
    result = labdb("plates", "reject", "1", "--by", "dr.pi")
    assert result.exit_code == 2 and "reason" in result.stderr
    assert labdb("plates", "reject", "1", "--by", "dr.pi", "--reason", "bubbles in row C").exit_code == 0
    from sqlmodel import select

    from labdb.core.db import session_scope
    from labdb.core.models import AuditEvent

    with session_scope(db_url) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "plate.reject")).one()
        assert event.actor == "dr.pi" and event.after["review_comment"] == "bubbles in row C"
        assert event.before["status"] == "evaluated"


def test_a_bad_file_is_one_line_exit_2_no_traceback_and_nothing_changes(db_url, small_study, tmp_path):
    _, paths = small_study
    good = paths["plates"][0]
    bad = tmp_path / "run7.txt"
    bad.write_text(good.read_text().replace("\nC\t", "\nC\tC\t", 1))  # one cell too many in row C
    truncated = tmp_path / "half.txt"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) * 2 // 3])
    before = table_counts(db_url)
    for broken in (bad, truncated, tmp_path / "missing.txt"):
        proc = labdb_process("ingest", broken, "--template", paths["template"], "--plate-map", paths["plate_map"], url=db_url)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and broken.name in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
    assert table_counts(db_url) == before


def test_a_template_that_does_not_fit_names_the_wells(db_url, small_study, tmp_path):
    _, paths = small_study
    template = tmp_path / "bad.toml"
    template.write_text(paths["template"].read_text().replace("[block.2x1.H1]", "[block.2x1.I1]"))
    result = labdb("ingest", paths["plates"][0], "--template", template)
    assert result.exit_code == 2
    assert "bad.toml" in result.stderr and "I1" in result.stderr and "96-well" in result.stderr


def test_an_uninitialised_database_says_run_init(tmp_path, monkeypatch):
    monkeypatch.setenv("LABDB_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    result = labdb("plates", "list")
    assert result.exit_code == 2 and "labdb init" in result.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_init_creates_the_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("LABDB_DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite'}")
    result = labdb("init")
    from labdb.core.migrate import head_revision

    assert result.exit_code == 0 and f"at revision {head_revision()}" in result.output
    assert table_counts(f"sqlite:///{tmp_path / 'new.sqlite'}")["plate"] == 0


def test_read_time_is_given_for_files_that_do_not_say(db_url, small_study):
    """A generic grid carries no read time: --read-time gives it, marked as given; a file's own time always wins."""
    from sqlmodel import select

    from labdb.core.db import session_scope
    from labdb.core.models import Plate

    study, paths = small_study
    grids = [p for p in paths["plates"] if p.suffix == ".csv"]
    gen5 = [p for p in paths["plates"] if p.suffix == ".txt"]
    assert grids and gen5, "the small study has both reader kinds"
    common = ["--template", paths["template"], "--plate-map", paths["plate_map"], "--operator", "KM"]
    counts = table_counts(db_url)
    bad = labdb("ingest", grids[0], *common, "--read-time", "last tuesday")
    assert bad.exit_code == 2 and bad.stderr.strip().startswith("error: --read-time: 'last tuesday' is not a date")
    assert table_counts(db_url) == counts
    result = labdb("ingest", grids[0], gen5[0], *common, "--read-time", "2024-03-05 14:30")
    assert result.exit_code == 0, result.output
    with session_scope(db_url) as s:
        plates = {p.original_filename: p for p in s.exec(select(Plate)).all()}
    grid, text = plates[grids[0].name], plates[gen5[0].name]
    assert str(grid.read_time) == "2024-03-05 14:30:00" and grid.read_extra["read_time_source"] == f"given at ingest by {grid.ingested_by}"
    sim = {p.name: p for p in study.plates}
    assert text.read_time == sim[text.name].read_time and "read_time_source" not in (text.read_extra or {})


def test_a_new_kit_lot_is_named_with_the_closest_known_one(db_url, small_study):
    """A typo in --kit-lot would start a lot of its own (guide sets, batch shift): ingest says so, and still stores."""
    _, paths = small_study
    common = ["--template", paths["template"], "--plate-map", paths["plate_map"]]
    first = labdb("ingest", paths["plates"][0], *common, "--kit-lot", "L2301")
    assert first.exit_code == 0 and "note: kit lot L2301 is new" in first.stderr and "Did you mean" not in first.stderr
    known = labdb("ingest", paths["plates"][1], *common, "--kit-lot", "L2301")
    assert known.exit_code == 0 and "note:" not in known.stderr
    typo = labdb("ingest", paths["plates"][2], *common, "--kit-lot", "L2031")
    assert typo.exit_code == 0, typo.output
    assert "note: kit lot L2031 is new: it will be created, with its own Westgard guide sets. Did you mean L2301?" in typo.stderr
    assert "stored, verdict" in typo.stdout


def test_export_asm_round_trips_every_raw_read(db_url, small_study, tmp_path):
    """labdb plates export-asm writes a stored plate as an ASM document; our ASM reader reads it back to exactly the
    reads the reader took from the original file (both wavelengths, flags and markers), and to the stored wells."""
    from labdb.readers import asm
    from labdb.readers.registry import read_plates

    _, paths = small_study
    source = paths["plates"][0]
    assert labdb("ingest", source, "--template", paths["template"], "--plate-map", paths["plate_map"]).exit_code == 0
    [plate_id] = [p["id"] for p in json.loads(labdb("plates", "list", "--json").stdout)]
    out = tmp_path / "plate.json"
    result = labdb("plates", "export-asm", plate_id, "--out", out)
    assert result.exit_code == 0, result.output
    [back] = asm.read(out.read_bytes(), out.name)
    [original] = read_plates(source.read_bytes(), source.name)

    def key(reads):
        return reads.sort_values(["wavelength_nm", "row", "column"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(key(back.reads), key(original.reads))
    assert (back.name, back.n_wells, back.wavelengths) == (original.name, original.n_wells, original.wavelengths)
    assert not (tmp_path / "plate.json.part").exists()
    bad = labdb("plates", "export-asm", 999, "--out", tmp_path / "x.json")
    assert bad.exit_code == 2 and "no plate 999" in bad.stderr and not (tmp_path / "x.json").exists()
    assert labdb("plates", "export-asm", plate_id, "--out", tmp_path / "x.csv").exit_code == 2
