"""Broken input of every kind: one line on stderr, exit code 2, no traceback, and the database untouched."""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import table_counts
from labdb.cli import app
from labdb.readers import gen5

runner = CliRunner()
TEMPLATES = Path(__file__).resolve().parents[2] / "plate_templates"
T96 = TEMPLATES / "bdnf_96_duplicate.toml"


def _grid_csv(n_rows=8, n_cols=12, cell=lambda r, c: f"{0.1 + 0.01 * (r * 12 + c):.3f}", title="450 nm") -> bytes:
    lines = [title, "," + ",".join(str(c + 1) for c in range(n_cols))]
    lines += [chr(65 + r) + "," + ",".join(cell(r, c) for c in range(n_cols)) for r in range(n_rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _gen5(values=None) -> bytes:
    rng = np.random.default_rng(1)
    values = values or {450: rng.uniform(0.1, 2.5, (8, 12)), 630: rng.uniform(0.03, 0.06, (8, 12))}
    return gen5.write_text([{"name": "Plate 1", "values": values}])


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * (300 * 1024 * 1024) + b">")
    return buf.getvalue()


def broken_files() -> dict[str, bytes]:
    """At least 30 broken inputs a lab really produces (or an attacker might), each with its file name."""
    good = _gen5()
    text = good.decode()
    rnd = random.Random(7)
    files = {
        "empty.txt": b"",
        "empty.csv": b"",
        "blank_lines.csv": b"\r\n\r\n\r\n",
        "random.txt": bytes(rnd.getrandbits(8) for _ in range(4000)),
        "random.xlsx": bytes(rnd.getrandbits(8) for _ in range(4000)),
        "random.json": bytes(rnd.getrandbits(8) for _ in range(500)),
        "nul_bytes.txt": b"\x00" * 2000,
        "pdf_as.csv": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n",
        "png_as.csv": b"\x89PNG\r\n\x1a\n" + bytes(200),
        "html_as.xls": b"<html><body><table><tr><td>1</td></tr></table></body></html>",
        "html_as.xlsx": b"<html><body><table><tr><td>0.123</td></tr></table></body></html>",
        "ole2_junk.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(rnd.getrandbits(8) for _ in range(3000)),
        "truncated.xlsx": _xlsx([["", *range(1, 13)]] + [[chr(65 + r)] + [0.5] * 12 for r in range(8)])[:700],
        "zip_bomb.xlsx": _zip_bomb(),
        "grid_11_columns.csv": _grid_csv(n_cols=11),
        "grid_7_rows.csv": _grid_csv(n_rows=7),
        "grid_duplicated_row.csv": _grid_csv().replace(b"\r\nC,", b"\r\nB,", 1),
        "grid_two_450_reads.csv": _grid_csv() + _grid_csv(),
        "grid_384_vs_96_template.csv": _grid_csv(n_rows=16, n_cols=24),
        "grid_only_630.csv": _grid_csv(title="630 nm"),
        "grid_without_reference.csv": _grid_csv(),
        "header_only.csv": b",1,2,3,4,5,6,7,8,9,10,11,12\r\n",
        "gen5_truncated.txt": good[: len(good) * 3 // 4],
        "gen5_extra_cell.txt": text.replace("\nD\t", "\nD\t0.1\t", 1).encode(),
        "gen5_rows_out_of_order.txt": text.replace("\nC\t", "\nE\t", 1).encode(),
        "gen5_13_columns.txt": text.replace("\t11\t12", "\t11\t12\t13", 1).encode(),
        "gen5_only_630.txt": gen5.write_text([{"name": "P", "values": {630: np.full((8, 12), 0.05)}}]),
        "gen5_utf16_truncated.txt": text.encode("utf-16")[:3001],
        "json_not_asm.json": json.dumps({"hello": [1, 2, 3]}).encode(),
        "json_truncated.json": b'{"$asm.manifest": "http://purl.allotrope.org/manifests/plate-reader", "plate reader aggregate document": {',
        "big_50mb.csv": b"0.1," * (13 * 1024 * 1024),
    }
    return files


BROKEN = broken_files()


def _run(args: list[str]):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback instead of a message for {args}: {result.exception!r}") from result.exception
    return result


def _assert_one_line_error(result, name: str) -> None:
    assert result.exit_code == 2, f"{name}: exit {result.exit_code}; output {result.output!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"{name}: expected one line, got {result.stderr!r}"
    assert name in lines[0], f"{name}: the message does not name the file: {lines[0]!r}"
    assert "Traceback" not in result.output


def test_there_are_at_least_30_kinds_of_broken_file():
    assert len(BROKEN) >= 30


# One odd cell is not a broken file (issue 13): it flags its well, keeps the file's text, and the plate is stored.
ODD_CELLS = {
    "grid_letters.csv": ("C6", "abc"),
    "grid_infinite.csv": ("A1", "1e999"),
    "grid_path_check.csv": ("H12", "Path?"),
}


@pytest.mark.parametrize("name", sorted(ODD_CELLS))
def test_one_odd_cell_flags_its_well_and_the_plate_is_stored(name, db_url, tmp_path, small_study):
    from sqlmodel import select

    from labdb.core.db import session_scope
    from labdb.core.models import Well

    well, text = ODD_CELLS[name]
    r, c = ord(well[0]) - 65, int(well[1:]) - 1
    study, paths = small_study
    path = tmp_path / name.removesuffix(".csv") / f"{study.plates[0].name}.csv"  # the plate map maps it by name
    path.parent.mkdir()
    path.write_bytes(_grid_csv(cell=lambda i, j: text if (i, j) == (r, c) else "0.5") + _grid_csv(cell=lambda i, j: "0.05", title="630 nm"))
    result = _run(["ingest", path, "--template", paths["template"], "--plate-map", paths["plate_map"]])
    assert result.exit_code == 0 and "stored, verdict" in result.output, result.output
    with session_scope(db_url) as s:
        odd = s.exec(select(Well).where(Well.position == well)).one()
        assert odd.raw_flags == {"450": "invalid", "630": "ok"} and odd.raw_markers == {"450": text}
        assert odd.od_corrected is None and "invalid_450" in (odd.flags or [])
        others = s.exec(select(Well).where(Well.position != well)).all()
        assert len(others) == 95 and all(w.raw_markers is None and w.raw_flags == {"450": "ok", "630": "ok"} for w in others)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_is_refused_with_one_line_and_nothing_changes(name, db_url, tmp_path):
    path = tmp_path / name
    path.write_bytes(BROKEN[name])
    before = table_counts(db_url)
    _assert_one_line_error(_run(["ingest", path, "--template", T96]), name)
    assert table_counts(db_url) == before
    if name != "grid_384_vs_96_template.csv" and not name.startswith(("grid_only", "grid_without", "gen5_only")):
        _assert_one_line_error(_run(["inspect", path]), name)  # also refused without any template


def test_a_384_well_file_against_a_96_well_template_names_both(db_url, tmp_path):
    path = tmp_path / "p384.csv"
    path.write_bytes(BROKEN["grid_384_vs_96_template.csv"])
    result = _run(["ingest", path, "--template", T96])
    assert "384 wells" in result.stderr and "96-well" in result.stderr


def test_the_size_limit_is_configurable(db_url, tmp_path, monkeypatch):
    path = tmp_path / "p.csv"
    path.write_bytes(_grid_csv())
    monkeypatch.setenv("LABDB_MAX_UPLOAD_MB", "0.0001")
    result = _run(["inspect", path])
    assert result.exit_code == 2 and "limit" in result.stderr


# --- mutated real exports -------------------------------------------------------------------------

MUTATIONS = ("truncate", "flip", "insert", "delete_line", "duplicate_line", "swap_lines")


def _mutate(data: bytes, kind: str, at: float, byte: int) -> bytes:
    if not data:
        return data
    i = int(at * (len(data) - 1))
    if kind == "truncate":
        return data[:i]
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (byte or 1)]) + data[i + 1 :]
    if kind == "insert":
        return data[:i] + bytes([byte]) * 3 + data[i:]
    lines = data.split(b"\n")
    j = int(at * (len(lines) - 1))
    if kind == "delete_line":
        return b"\n".join(lines[:j] + lines[j + 1 :])
    if kind == "duplicate_line":
        return b"\n".join(lines[: j + 1] + lines[j:])
    k = min(j + 1, len(lines) - 1)
    lines[j], lines[k] = lines[k], lines[j]
    return b"\n".join(lines)


def _fixture_files(*roots: Path) -> list[Path]:
    """The real exports of both fixture folders (not their notes, nor the peer's readings beside them)."""
    return sorted(
        p
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and p.name != "SOURCES.md" and not p.name.endswith(".allotropy.json") and p.stat().st_size < 200_000
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_exports_never_crash(plate_exports, plate_exports_more, tmp_path_factory, data):
    """Any mutation of a real export (either fixture folder) is either read or refused with one line (exit 2): never
    a traceback."""
    source = data.draw(st.sampled_from(_fixture_files(plate_exports, plate_exports_more)), label="fixture")
    kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    mutated = _mutate(source.read_bytes(), kind, data.draw(st.floats(0, 1)), data.draw(st.integers(0, 255)))
    path = tmp_path_factory.mktemp("mut") / source.name
    path.write_bytes(mutated)
    result = _run(["inspect", "--json", path])
    if result.exit_code == 0:
        document = json.loads(result.stdout)
        assert document["plates"] and all(p["reads"] for p in document["plates"])
    else:
        _assert_one_line_error(result, source.name)
