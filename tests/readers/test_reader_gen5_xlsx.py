"""Gen5 Excel exports: workbooks built from the real text exports (no endpoint .xlsx fixture exists), the real
kinetic workbook in ../shared, and broken workbooks."""

from __future__ import annotations

import io
import math
import re
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest

from labdb.core.errors import InputError
from labdb.readers import gen5
from labdb.readers.base import parse_date, parse_time
from labdb.readers.registry import detect, read_plates

SYNERGY = "gen5_synergyh1_abs450_ovrflw_missed.txt"
EPOCH = "gen5_epoch_abs_2wavelengths_280_325.txt"
LAYOUT = "gen5_abs630_layout_blank_concentration.txt"
KINETIC_XLSX = "gen5_epoch2_kinetic_abs340.xlsx"
SHEET = "Plate 1 - Sheet1"
_NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")


def _text(plate_exports, name: str) -> str:
    return (plate_exports / "agilent_biotek_gen5" / name).read_bytes().decode("ascii").replace("\r\n", "\n")


def _rows(text: str, *, numbers: bool = False, shift: bool = False, excel_dates: bool = False) -> list[list[object]]:
    """The lines of a Gen5 text export as sheet rows, one line per row, the way Gen5's Excel export lays them out.

    numbers: numeric text in grids becomes numbers (else every cell stays text, like the real kinetic workbook);
    shift: grid lines move one column right (row letters in column B, as in the real workbook's Layout grid);
    excel_dates: Date and Time become an Excel date and time.
    """
    rows: list[list[object]] = []
    for line in text.split("\n"):
        cells: list[object] = line.split("\t") if line else []
        first = cells[0] if cells else ""
        if excel_dates and first == "Date":
            cells[1] = parse_date(str(cells[1]))
        if excel_dates and first == "Time":
            cells[1] = parse_time(str(cells[1]))
        grid_line = len(cells) > 2 and (first == "" or (len(first) == 1 and first.isupper()))
        if numbers and grid_line:
            cells = [float(c) if isinstance(c, str) and _NUMBER.fullmatch(c) else c for c in cells]
        if shift and grid_line:
            cells = ["", *cells]
        rows.append(cells)
    return rows


def _workbook(*sheets: tuple[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row, 1):
                if value != "":
                    sheet.cell(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx(plate_exports, name: str, **options) -> bytes:
    return _workbook((SHEET, _rows(_text(plate_exports, name), **options)))


def _well(plate, well: str, wavelength: int) -> tuple[float, str]:
    rows = plate.reads[(plate.reads["well"] == well) & (plate.reads["wavelength_nm"] == wavelength)]
    assert len(rows) == 1, (well, wavelength)
    return rows["value"].iloc[0], rows["flag"].iloc[0]


def _assert_same_plate(got, want) -> None:
    pd.testing.assert_frame_equal(got.reads, want.reads)
    for attribute in ("name", "n_wells", "instrument", "serial", "read_time", "software_version", "format"):
        assert getattr(got, attribute) == getattr(want, attribute), attribute
    assert got.extra == want.extra


# --- endpoint workbooks built from the text exports ---------------------------------------------

OPTIONS = [
    {},
    {"numbers": True},
    {"shift": True},
    {"numbers": True, "shift": True, "excel_dates": True},
]


@pytest.mark.parametrize("options", OPTIONS, ids=["text", "numbers", "shifted", "numbers-shifted-dates"])
def test_synergy_workbook_reads_like_the_text_file(plate_exports, options):
    [want] = gen5.read(_text(plate_exports, SYNERGY).encode(), SYNERGY)
    [got] = gen5.read(_xlsx(plate_exports, SYNERGY, **options), "synergy.xlsx")
    _assert_same_plate(got, want)
    assert got.name == "Plate 1" and got.wavelengths == [450] and len(got.reads) == 96
    assert got.read_time == datetime(2024, 4, 11, 17, 27, 15)
    assert got.software_version == "3.12.08" and got.instrument == "Synergy H1"
    assert _well(got, "A1", 450) == (2.1, "ok")
    assert _well(got, "E6", 450) == (2.3, "ok")
    assert _well(got, "H12", 450) == (2.5, "ok")
    for well, flag in (("A8", "overflow"), ("D12", "missing"), ("H1", "overflow")):
        value, got_flag = _well(got, well, 450)
        assert got_flag == flag and math.isnan(value)


@pytest.mark.parametrize("options", OPTIONS, ids=["text", "numbers", "shifted", "numbers-shifted-dates"])
def test_epoch_two_wavelength_workbook(plate_exports, options):
    [want] = gen5.read(_text(plate_exports, EPOCH).encode(), EPOCH)
    [got] = gen5.read(_xlsx(plate_exports, EPOCH, **options), "epoch.xlsx")
    _assert_same_plate(got, want)
    assert got.wavelengths == [280, 325]
    assert _well(got, "A1", 280) == (1.8012, "ok") and _well(got, "A1", 325) == (0.9066, "ok")
    assert _well(got, "B1", 325) == (1.6629, "ok")  # row B lists 325 first
    assert _well(got, "H12", 325) == (0.0407, "ok")
    assert got.read_time == datetime(2025, 1, 2, 12, 30, 25)


def test_layout_and_derived_rows_in_a_workbook(plate_exports):
    [want] = gen5.read(_text(plate_exports, LAYOUT).encode(), LAYOUT)
    [got] = gen5.read(_xlsx(plate_exports, LAYOUT, shift=True, numbers=True), "layout.xlsx")
    _assert_same_plate(got, want)
    assert _well(got, "A1", 630) == (3.337, "ok") and _well(got, "H12", 630) == (0.194, "ok")
    assert got.extra["Derived reads skipped"] == "Blank 630nmAbsRead:630; [Concentration]"


def test_every_gen5_sheet_is_read_and_other_sheets_are_ignored(plate_exports):
    data = _workbook(
        ("Plate 1 - Sheet1", _rows(_text(plate_exports, SYNERGY), numbers=True)),
        ("Notes", [["Operator", "AB"], ["", "1", "2", "3"]]),
        ("Plate 2 - Sheet1", _rows(_text(plate_exports, EPOCH))),
    )
    plates = gen5.read(data, "two.xlsx")
    assert [p.wavelengths for p in plates] == [[450], [280, 325]]


def test_384_well_workbook():
    values = {450: np.random.default_rng(2).uniform(0, 3, (16, 24))}
    plate = {"values": values, "flags": {"P24": "overflow"}, "read_time": datetime(2025, 5, 6, 7, 8, 9)}
    text = gen5.write_text([plate]).decode("ascii").replace("\r\n", "\n")
    [want] = gen5.read(text.encode(), "sim.txt")
    [got] = gen5.read(_workbook((SHEET, _rows(text, numbers=True, shift=True))), "sim.xlsx")
    _assert_same_plate(got, want)
    assert got.n_wells == 384 and _well(got, "P24", 450)[1] == "overflow"
    assert _well(got, "P23", 450) == (float(f"{values[450][15, 22]:.4f}"), "ok")


# --- the real kinetic workbook, detection --------------------------------------------------------


def test_kinetic_workbook_is_refused_clearly(plate_exports):
    data = (plate_exports / "agilent_biotek_gen5" / KINETIC_XLSX).read_bytes()
    with pytest.raises(InputError) as err:
        gen5.read(data, KINETIC_XLSX)
    message = str(err.value)
    assert message.startswith(f"{KINETIC_XLSX}: sheet 'Plate 1 - Sheet1', row 18: this is a Gen5 kinetic export")
    assert "kinetic reads are not supported" in message and "\n" not in message
    assert detect(data, KINETIC_XLSX) is gen5
    with pytest.raises(InputError, match="kinetic reads are not supported"):
        read_plates(data, KINETIC_XLSX)


def test_registry_reads_gen5_workbooks(plate_exports):
    data = _xlsx(plate_exports, SYNERGY, numbers=True, shift=True, excel_dates=True)
    assert ".xlsx" in gen5.EXTENSIONS
    assert detect(data, "run.xlsx") is gen5
    [plate] = read_plates(data, "run.xlsx")
    assert plate.format == "gen5_text" and plate.wavelengths == [450]
    assert read_plates(data, "run.xlsx", format="gen5_text")[0].read_time == datetime(2024, 4, 11, 17, 27, 15)


def test_sniff_gen5_workbooks_only(plate_exports):
    assert gen5.sniff((plate_exports / "agilent_biotek_gen5" / KINETIC_XLSX).read_bytes(), KINETIC_XLSX)
    assert gen5.sniff(_xlsx(plate_exports, SYNERGY), "built.xlsx")
    others = [p for p in plate_exports.rglob("*") if p.is_file() and "gen5" not in p.name]
    assert any(p.suffix in (".xlsx", ".xls") for p in others)
    for path in others:
        assert not gen5.sniff(path.read_bytes(), path.name), path.name
    assert not gen5.sniff(_workbook(("Sheet1", [["Software", "x"], ["", "1", "2"]])), "plain.xlsx")
    assert not gen5.sniff(_xlsx(plate_exports, SYNERGY)[:300], "cut.xlsx")


# --- broken workbooks ---------------------------------------------------------------------------


def _error(data: bytes, name: str = "run7.xlsx") -> str:
    with pytest.raises(InputError) as err:
        gen5.read(data, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


def _broken(plate_exports, edit, **options) -> bytes:
    rows = _rows(_text(plate_exports, SYNERGY), **options)
    edit(rows)
    return _workbook((SHEET, rows))


def test_grid_header_with_eleven_columns(plate_exports):
    def edit(rows):
        del rows[29][-1]  # row 30: the header '', 1..12

    # Issue 13: a header may be a partial plate's (columns 1-11), so the refusal is at the first row, whose 12 values
    # do not fit under it.
    message = _error(_broken(plate_exports, edit, shift=True))
    assert message.startswith(
        "run7.xlsx: sheet 'Plate 1 - Sheet1', row 31: row 'A' has 13 cells after its row letter, but the grid header has columns 1-11"
    )


def test_letters_in_the_grid_flag_the_well(plate_exports):
    # Issue 13: one odd cell used to refuse the plate; now that well is flagged invalid with the cell's text.
    def edit(rows):
        rows[30][3] = "2.1x"  # row 31, row letter A in column B, so A2 is in column D

    [plate] = gen5.read(_broken(plate_exports, edit, shift=True, numbers=True), "run7.xlsx")
    a2 = plate.reads[plate.reads["well"] == "A2"].iloc[0]
    assert (a2["flag"], a2["marker"]) == ("invalid", "2.1x") and math.isnan(a2["value"])
    assert len(plate.reads) == 96 and _well(plate, "A3", 450) == (2.16, "ok")


def test_flagged_number_in_a_workbook_keeps_number_and_marker(plate_exports):
    def edit(rows):
        rows[30][1] = "*2.100*"  # row 31, A1 (unshifted: the letter in column A, A1 in column B)

    [plate] = gen5.read(_broken(plate_exports, edit, numbers=True), "run7.xlsx")
    a1 = plate.reads[plate.reads["well"] == "A1"].iloc[0]
    assert (a1["value"], a1["flag"], a1["marker"]) == (2.1, "flagged", "*2.100*")


def test_duplicated_row(plate_exports):
    def edit(rows):
        rows[32][0] = "B"  # row 33 (C) relabelled B

    message = _error(_broken(plate_exports, edit))
    assert message.startswith("run7.xlsx: sheet 'Plate 1 - Sheet1', row 33: row 'B' comes after row 'B'")


def test_sheet_with_rows_a_to_e_is_a_partial_plate(plate_exports):
    # Issue 13: rows not in the sheet are wells not read (a partial plate), no longer "the grid has no row 'F'".
    def edit(rows):
        del rows[35:]  # cut after row E (row 35)

    [plate] = gen5.read(_broken(plate_exports, edit, numbers=True), "run7.xlsx")
    assert plate.n_wells == 96 and len(plate.reads) == 60 and set(plate.reads["row"]) == set("ABCDE")
    assert _well(plate, "E12", 450) == (2.46, "ok")


def test_shifted_partial_header_in_a_workbook(plate_exports):
    def edit(rows):
        rows[29] = ["", "", 3, 4, 5]  # row 30: a header of columns 3-5, shifted one column right
        rows[30] = ["", "A", 0.1, "OVRFLW", 0.3, "abs450:450"]
        del rows[31:38]

    [plate] = gen5.read(_broken(plate_exports, edit), "run7.xlsx")
    assert plate.reads["well"].tolist() == ["A3", "A4", "A5"]
    assert _well(plate, "A3", 450) == (0.1, "ok") and _well(plate, "A5", 450) == (0.3, "ok")
    assert plate.reads["flag"].tolist()[1] == "overflow"


def test_truncated_or_foreign_files(plate_exports):
    data = _xlsx(plate_exports, SYNERGY)
    assert "damaged or truncated .xlsx" in _error(data[: len(data) // 2])
    plain = _workbook(("Sheet1", [["Operator", "AB"]]))
    assert _error(plain).startswith("run7.xlsx: not a Gen5 workbook (no sheet has the 'Software Version'")
