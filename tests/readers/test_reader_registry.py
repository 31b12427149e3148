"""The reader registry (formats, detection, the checks in read_plates) and the shared helpers in base.py."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from labdb.core.errors import InputError
from labdb.readers import base, gen5, grid, registry
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.registry import READERS, ReaderFormat, detect, read_plates

GEN5_FILES = [
    "gen5_synergyh1_abs450_ovrflw_missed.txt",
    "gen5_epoch_abs_2wavelengths_280_325.txt",
    "gen5_abs630_layout_blank_concentration.txt",
]
# Not readable yet, and why: detection may pick a reader, but read_plates must refuse them clearly.
GEN5_REFUSED = {
    "gen5_synergyneo2_kinetic_od600_gfp.csv": "kinetic reads are not supported",
}


def _plate(records, n_wells: int = 96) -> PlateRead:
    return PlateRead(name="P1", format="grid", reads=make_reads(records), n_wells=n_wells)


# --- the registry -------------------------------------------------------------------------------


def test_every_format_has_one_reader_with_a_matching_key():
    assert list(READERS) == list(ReaderFormat)
    assert [r.FORMAT for r in READERS.values()] == [f.value for f in ReaderFormat]
    assert len({r.FORMAT for r in READERS.values()}) == len(READERS)
    for reader in READERS.values():
        assert reader.DISPLAY_NAME
        assert reader.EXTENSIONS and all(e.startswith(".") and e == e.lower() for e in reader.EXTENSIONS)
        assert callable(reader.sniff) and callable(reader.read)


def test_grid_is_the_fallback_and_comes_last():
    assert list(READERS)[-1] is ReaderFormat.GRID
    assert list(READERS).index(ReaderFormat.GEN5_TEXT) < list(READERS).index(ReaderFormat.GRID)


def test_detection_picks_gen5_for_every_gen5_text_fixture(plate_exports):
    for name in [*GEN5_FILES, *GEN5_REFUSED]:
        path = plate_exports / "agilent_biotek_gen5" / name
        assert detect(path.read_bytes(), name) is gen5, name


def test_read_plates_on_the_gen5_fixtures(plate_exports):
    counts = {}
    for name in GEN5_FILES:
        plates = registry.read_path(plate_exports / "agilent_biotek_gen5" / name)
        assert all(p.format == "gen5_text" for p in plates)
        counts[name] = (len(plates), plates[0].wavelengths)
    assert counts == {
        GEN5_FILES[0]: (1, [450]),
        GEN5_FILES[1]: (1, [280, 325]),
        GEN5_FILES[2]: (1, [630]),
    }
    for name, reason in GEN5_REFUSED.items():
        with pytest.raises(InputError, match=reason):
            registry.read_path(plate_exports / "agilent_biotek_gen5" / name)


def test_simulated_files_are_detected():
    values = {450: np.full((8, 12), 0.5)}
    text = gen5.write_text([{"values": values, "read_time": datetime(2025, 1, 2, 3, 4, 5)}])
    assert detect(text, "sim.txt") is gen5
    assert detect(gen5.write_text([{"values": values}], delimiter=","), "sim.csv") is gen5
    assert detect(text, "sim.dat") is gen5  # an extension nobody claims: every reader sniffs
    csv_data = grid.write_csv(values)
    assert detect(csv_data, "sim.csv") is grid
    [plate] = read_plates(csv_data, "sim.csv")
    assert plate.format == "grid" and plate.wavelengths == [450]


def test_forcing_a_format():
    data = grid.write_csv({450: np.full((8, 12), 0.5)})
    assert read_plates(data, "sim.txt", format="grid")[0].format == "grid"
    assert read_plates(data, "sim.txt", format=ReaderFormat.GRID)[0].format == "grid"
    assert read_plates(data, "sim.txt", format=" GRID ")[0].format == "grid"
    with pytest.raises(InputError, match=r"^sim\.txt: not a Gen5 text export"):
        read_plates(data, "sim.txt", format="gen5_text")


def test_unknown_format_name_suggests_the_closest():
    with pytest.raises(InputError) as err:
        read_plates(b"x", "run7.txt", format="gen5")
    known = ", ".join(f.value for f in registry.READERS)
    expected = f"run7.txt: unknown format 'gen5'; known formats are {known}. Did you mean 'gen5_text'?"
    assert str(err.value) == expected
    with pytest.raises(InputError, match="Did you mean 'grid'"):
        read_plates(b"x", "run7.txt", format="gird")


def test_unrecognised_file_says_what_was_tried_and_what_it_looked_like():
    data = b"\r\n\r\nSample ID\tResult\tUnits\tOperator\tComment about this run that goes on and on\r\nS1\t1\r\n"
    with pytest.raises(InputError) as err:
        detect(data, "notes.txt")
    message = str(err.value)
    tried = ", ".join(r.FORMAT for r in registry.READERS.values() if ".txt" in r.EXTENSIONS)
    assert message.startswith(f"notes.txt: not a plate-reader export labdb recognises (tried {tried})")
    assert "'Sample ID Result Units Operator Comment about this run th...'" in message
    assert "\n" not in message
    with pytest.raises(InputError, match="the file is empty"):
        detect(b"", "empty.csv")


# --- the checks on every plate ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "n_wells", "expected"),
    [
        ([], 96, "no well was read."),
        ([("I1", 450, 0.1, "ok")], 96, "well 'I1' does not exist on a 96-well plate (rows A-H, columns 1-12)"),
        ([("A13", 450, 0.1, "ok")], 96, "well 'A13' does not exist"),
        ([("P24", 450, 0.1, "ok"), ("Q1", 450, 0.1, "ok")], 384, "well 'Q1' does not exist on a 384-well"),
        ([("A1", 450, 0.1, "saturated")], 96, "well A1: flag must be one of ok, overflow, missing, invalid, flagged (got 'saturated')"),
        ([("A1", 450, None, "ok")], 96, "well A1: value must be present exactly when flag is ok or flagged"),
        ([("A1", 450, 0.1, "ok"), ("A1", 450, 0.2, "ok")], 96, "well A1: is read more than once at one wavelength"),
        ([("A1", None, 0.1, "ok"), ("A1", None, 0.2, "ok")], 96, "well A1: is read more than once at one wavelength"),
        ([("A1", 450, 0.1, "ok"), ("A1", 630, 0.2, "ok"), ("A1", None, 0.3, "ok")], 96, None),
    ],
)
def test_check_plate_refuses_broken_plates(records, n_wells, expected):
    """One schema (qc.schemas.reads_schema) holds every reader to the canonical form; its message names the well."""
    if expected is None:  # the same well at different wavelengths (and one unlabelled read) is fine
        registry.check_plate(_plate(records, n_wells), "run7.txt")
        return
    with pytest.raises(InputError) as err:
        registry.check_plate(_plate(records, n_wells), "run7.txt")
    message = str(err.value)
    assert message.startswith("run7.txt: plate 'P1': ") and expected in message and "\n" not in message


def test_a_plate_of_text_is_refused_but_one_odd_cell_is_not():
    """An odd cell is a flagged well; a plate whose reads are mostly text (a sample-name grid read as values) is not
    a grid of readings and is refused in one line naming some of the text."""
    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    one_odd = [(w, 450, 0.1, "ok") for w in wells[:-1]] + [(wells[-1], 450, None, "invalid", "Path?")]
    registry.check_plate(_plate(one_odd), "run7.txt")
    names = [(w, 450, None, "invalid", f"S{i}") for i, w in enumerate(wells[:60])] + [(w, 450, 0.1, "ok") for w in wells[60:]]
    with pytest.raises(InputError) as err:
        registry.check_plate(_plate(names), "run7.txt")
    assert str(err.value).startswith("run7.txt: plate 'P1': 60 of 96 cells are text, not readings (such as 'S0', 'S1', 'S2')")


def test_check_plate_accepts_a_good_plate():
    registry.check_plate(_plate([("A1", 450, 0.1, "ok"), ("A1", 630, 0.05, "ok"), ("H12", 450, None, "overflow")]), "x")


# --- shared helpers (base.py) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("0.123", (0.123, "ok")),
        ("  2.5 ", (2.5, "ok")),
        ('"1.5"', (1.5, "ok")),
        ("'0.7", (0.7, "ok")),
        ("0,123", (0.123, "ok")),
        ("12,5", (12.5, "ok")),
        ("-0.000", (0.0, "ok")),
        ("1.2E-03", (0.0012, "ok")),
        (3, (3.0, "ok")),
        (0.25, (0.25, "ok")),
        ("OVRFLW", (None, "overflow")),
        ("overflow", (None, "overflow")),
        ("OVER", (None, "overflow")),
        ("Over", (None, "overflow")),
        ("> Max", (None, "overflow")),
        (">4.000", (None, "overflow")),
        ("*", (None, "overflow")),
        ("Sat", (None, "overflow")),
        ("", (None, "missing")),
        (None, (None, "missing")),
        ("MISSED", (None, "missing")),
        ("-", (None, "missing")),
        ("NaN", (None, "missing")),
        (float("nan"), (None, "missing")),
        ("?????", (None, "invalid")),
        ("abc", (None, "invalid")),
        ("1,234", (None, "invalid")),  # thousands or decimal comma: ambiguous without a hint
        ("1_000", (None, "invalid")),
        ("inf", (None, "invalid")),
        (True, (None, "invalid")),
    ],
)
def test_parse_cell(cell, expected):
    assert base.parse_cell(cell) == expected


def test_parse_cell_with_a_decimal_hint():
    assert base.parse_cell("1,234", decimal=",") == (1.234, "ok")
    assert base.parse_cell("1.234,5", decimal=",") == (1234.5, "ok")
    assert base.parse_cell("1,234", decimal=".") == (1234.0, "ok")
    assert base.parse_cell("0.5", decimal=",") == (0.5, "ok")


@pytest.mark.parametrize(
    ("date_text", "time_text", "expected"),
    [
        ("4/11/2024", "5:27:15 PM", datetime(2024, 4, 11, 17, 27, 15)),
        ("01/02/2025", "12:30:25", datetime(2025, 1, 2, 12, 30, 25)),
        ("16/07/2025", "13:25:42", datetime(2025, 7, 16, 13, 25, 42)),
        ("20.02.2024", None, datetime(2024, 2, 20)),
        ("03.04.2024", "09:15", datetime(2024, 4, 3, 9, 15)),
        ("2024-04-11T17:27:15", None, datetime(2024, 4, 11, 17, 27, 15)),
        ("2024-04-11", "12:00:01 AM", datetime(2024, 4, 11, 0, 0, 1)),
        ("4/11/2024 5:27:15 PM", None, datetime(2024, 4, 11, 17, 27, 15)),
        ("13/13/2024", None, None),
        ("yesterday", None, None),
        ("4/11/2024", "25:00", None),
        ("", None, None),
    ],
)
def test_parse_datetime(date_text, time_text, expected):
    assert base.parse_datetime(date_text, time_text) == expected


@pytest.mark.parametrize(
    "data",
    [
        "A\tµ 0,5\r\nB\r\n".encode(),
        b"\xef\xbb\xbf" + "A\tµ 0,5\r\nB\r\n".encode(),
        "A\tµ 0,5\r\nB\r\n".encode("utf-16"),
        "A\tµ 0,5\r\nB\r\n".encode("utf-16-le"),
        "A\tµ 0,5\r\nB\r\n".encode("utf-16-be"),
        "A\tµ 0,5\rB\r".encode("cp1252"),
    ],
)
def test_decode_text(data):
    assert base.decode_text(data) == "A\tµ 0,5\nB\n"
