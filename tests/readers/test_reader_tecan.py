# long module: i-control and Magellan grids and lists, each layout against the real exports and built workbooks.
"""Tecan reader (i-control xlsx/text, Magellan grid and list): the real exports in ../shared, and broken input."""

from __future__ import annotations

import io
import math
from datetime import datetime

import openpyxl
import pandas as pd
import pytest

from labdb.core.errors import InputError
from labdb.readers import registry, tecan
from labdb.readers.canonical import READ_COLUMNS
from labdb.readers.workbook import load_sheets

ENDPOINT = "icontrol_infinite200pro_endpoint_abs600.xlsx"
KINETIC = "icontrol_infinite200pro_endpoint_kinetic_abs600_ddmmyyyy.xlsx"
PARTIAL = "icontrol_infiniteF200_fluor_partial_plates.txt"
LIST384 = "magellan_list_384_abs485_560.xlsx"
SUNRISE = "magellan_sunrise_elisa_grid.xls"
FIXTURES = [ENDPOINT, KINETIC, PARTIAL, LIST384, SUNRISE]
ROWS = "ABCDEFGH"


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / "tecan" / name).read_bytes()


def _read(plate_exports, name: str):
    return tecan.read(_bytes(plate_exports, name), name)


def _well(plate, well: str, wavelength: int | None) -> pd.Series:
    reads = plate.reads[plate.reads["well"] == well]
    reads = reads[reads["wavelength_nm"].isna()] if wavelength is None else reads[reads["wavelength_nm"] == wavelength]
    assert len(reads) == 1, (well, wavelength)
    return reads.iloc[0]


def _sheet(plate_exports, name: str, sheet: str) -> list[list[object]]:
    """The raw cells as calamine reads them, to check values against the file itself."""
    return load_sheets(_bytes(plate_exports, name), name)[sheet]


def _grid_in_file(rows: list[list[object]], header_row: int) -> dict[str, float]:
    """{well: raw cell} of the 8x12 '<>' grid whose header is on 1-based row header_row, column A."""
    assert rows[header_row - 1][0] == "<>"
    return {f"{ROWS[r]}{c}": rows[header_row + r][c] for r in range(8) for c in range(1, 13)}


def _xlsx(rows: list[list[object]], sheet: str = "Sheet2") -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _icontrol_rows(grid: list[list[object]] | None = None, ncols: int = 12, keys: list[list[object]] = ()) -> list:
    """An i-control-like sheet: header, one absorbance label at 450 nm, a '<>' grid."""
    grid = grid or [[ROWS[r], *(round(0.1 + r / 10 + c / 100, 4) for c in range(ncols))] for r in range(8)]
    return [
        ["Application: Tecan i-control", None, None, None, "Tecan i-control , 2.0.10.0"],
        ["Device: infinite 200Pro", None, None, None, "Serial number: 42"],
        ["Date:", "20.02.2024"],
        ["Time:", "18:19:42"],
        [],
        ["Label: OD450"],
        ["Mode", None, None, None, "Absorbance"],
        ["Measurement Wavelength", None, None, None, 450, "nm"],
        *keys,
        [None, "Temperature: 21.0 °C"],
        ["<>", *range(1, ncols + 1)],
        *grid,
        [],
        ["End Time:", "20.02.2024 18:20:22"],
    ]


def _error(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as err:
        tecan.read(data, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message, message
    return message


# --- real exports -------------------------------------------------------------------------------


def test_icontrol_xlsx_endpoint_values_and_metadata(plate_exports):
    [plate] = _read(plate_exports, ENDPOINT)
    assert plate.format == "tecan" and plate.name == "icontrol_infinite200pro_endpoint_abs600"
    assert list(plate.reads.columns) == READ_COLUMNS
    assert plate.n_wells == 96 and len(plate.reads) == 96 and plate.wavelengths == [600]
    assert (plate.reads["flag"] == "ok").all()
    assert plate.instrument == "infinite 200Pro"
    assert plate.serial == "1234567890"
    assert plate.software_version == "Tecan i-control , 2.0.10.0"
    assert plate.read_time == datetime(2022, 1, 1, 10, 0, 0)  # Excel date + text time
    # float32 values in the file are kept as the decimal the reader measured
    assert _well(plate, "A1", 600).value == 0.0932
    assert _well(plate, "E8", 600).value == 1.1154
    assert _well(plate, "H12", 600).value == 0.0889
    in_file = _grid_in_file(_sheet(plate_exports, ENDPOINT, "Sheet2"), 24)
    assert in_file["A1"] == 0.09319999814033508
    for well in ("A1", "D10", "E8", "H12"):
        assert _well(plate, well, 600).value == pytest.approx(in_file[well], rel=1e-6)
    assert plate.extra["Label1: Mode"] == "Absorbance"
    assert plate.extra["Label1: Temperature"] == "30.6 °C"
    assert plate.extra["Plate"] == "96-well plate"
    assert str(plate.reads["wavelength_nm"].dtype) == "Int64" and plate.reads["value"].dtype == float


def test_icontrol_xlsx_german_dates_and_skipped_kinetic_label(plate_exports):
    [plate] = _read(plate_exports, KINETIC)
    assert plate.n_wells == 96 and len(plate.reads) == 96 and plate.wavelengths == [600]
    assert set(plate.reads["well"]) == {f"{r}{c}" for r in ROWS for c in range(1, 13)}
    assert plate.read_time == datetime(2024, 2, 20, 18, 19, 42)  # 20.02.2024 is day-first
    assert plate.instrument == "infinite 200Pro" and plate.serial is None
    assert plate.software_version == "Tecan i-control , 2.0.10.0"
    in_file = _grid_in_file(_sheet(plate_exports, KINETIC, "Sheet0"), 28)
    assert _well(plate, "A1", 600).value == 0.2562
    assert _well(plate, "E5", 600).value == 0.2574
    assert _well(plate, "H12", 600).value == 0.086
    for well in ("A1", "E5", "H12"):
        assert _well(plate, well, 600).value == pytest.approx(in_file[well], rel=1e-6)
    assert plate.extra["Skipped kinetic labels"] == "Abs600"
    assert plate.extra["Labels"].startswith("Abs600_Copy1 (600 nm, 96 wells")
    assert plate.extra["Abs600_Copy1: Start Time"] == "20.02.2024 18:19:42"
    assert not any(key.startswith("Abs600:") for key in plate.extra)  # nothing of the kinetic table


def test_icontrol_text_partial_plates_combine_into_one_plate(plate_exports):
    [plate] = _read(plate_exports, PARTIAL)
    assert plate.n_wells == 96 and plate.wavelengths == [465, 430]
    counts = plate.reads.groupby("wavelength_nm")["well"].count().to_dict()
    assert counts == {430: 24, 465: 72}  # columns 1-9 at 465 nm (emission), 10-12 at 430 nm
    assert len(plate.reads) == 96 and (plate.reads["flag"] == "ok").all()
    assert _well(plate, "A1", 465).value == 1221
    assert _well(plate, "H3", 465).value == 1061
    assert _well(plate, "A4", 465).value == 359
    assert _well(plate, "E5", 465).value == 377
    assert _well(plate, "H9", 465).value == 555
    assert _well(plate, "A10", 430).value == 328
    assert _well(plate, "H12", 430).value == 281
    assert plate.reads[(plate.reads["well"] == "A1") & (plate.reads["wavelength_nm"] == 430)].empty  # not read
    assert plate.read_time == datetime(2014, 1, 9, 3, 42, 12)  # '1/9/2014' and "'3:42:12 AM"
    assert plate.instrument == "infinite 200Pro" and plate.serial == "1202007079"
    assert plate.software_version == "Tecan i-control , 1.9.17.0"
    assert plate.extra["AMC-leucine: Excitation Wavelength"] == "380 nm"
    assert plate.extra["4-MUF-PO4: Part of Plate"] == "A7-H9"


def test_magellan_list_384_two_labels(plate_exports):
    [plate] = _read(plate_exports, LIST384)
    assert plate.n_wells == 384 and len(plate.reads) == 768 and plate.wavelengths == [485, 560]
    assert (plate.reads["flag"] == "ok").all()
    assert _well(plate, "A1", 485).value == 0.0557 and _well(plate, "A1", 560).value == 0.0509
    assert _well(plate, "H12", 485).value == 0.039 and _well(plate, "I13", 485).value == 0.5587
    assert _well(plate, "P24", 485).value == 0.0356 and _well(plate, "P24", 560).value == 0.05
    rows = _sheet(plate_exports, LIST384, "Magellan Sheet 1")
    assert rows[0] == ["Well positions", "Label1", "Label2"]
    by_key = {(r.well, int(r.wavelength_nm)): r.value for r in plate.reads.itertuples()}
    for row in rows[3:387]:
        assert by_key[row[0], 485] == row[1] and by_key[row[0], 560] == row[2]
    assert plate.read_time == datetime(2021, 7, 8, 14, 34, 46)
    assert plate.instrument == "ULTRA" and plate.serial == "12901000069"
    assert plate.software_version is None
    assert plate.extra["Label1: Temperature"] == "24.8 °C"
    assert plate.extra["Measurement 2: Unit"] == "OD"
    assert plate.extra["Method"].endswith("210325_384ELISA.mth")


def test_magellan_sunrise_xls_grid_and_text_grid(plate_exports):
    [plate] = _read(plate_exports, SUNRISE)
    assert plate.n_wells == 96 and len(plate.reads) == 96 and plate.wavelengths == [None]
    assert plate.read_time is None and plate.instrument is None and plate.serial is None
    in_file = _grid_in_file(_sheet(plate_exports, SUNRISE, "Magellan Sheet 1"), 1)
    assert {r.well: r.value for r in plate.reads.itertuples()} == in_file
    assert _well(plate, "A1", None).value == 0.056
    assert _well(plate, "E1", None).value == 2.85
    assert _well(plate, "D6", None).value == 0.431
    assert _well(plate, "H12", None).value == 0.067
    [(key, ids)] = [(k, v) for k, v in plate.extra.items() if k.startswith("Text grid")]
    assert "cell A13" in key and ids.startswith("A11 STD1000; A12 STD1000;") and "H12 BLANK" in ids


def test_registry_picks_tecan_for_every_tecan_fixture(plate_exports):
    for name in FIXTURES:
        data = _bytes(plate_exports, name)
        assert registry.detect(data, name) is tecan, name
        plates = registry.read_plates(data, name)
        assert [p.format for p in plates] == ["tecan"], name


def test_sniff_claims_no_other_fixture(plate_exports):
    for name in FIXTURES:
        assert tecan.sniff(_bytes(plate_exports, name), name), name
    others = [p for p in plate_exports.rglob("*") if p.is_file() and p.parent.name != "tecan" and p.suffix != ".md"]
    assert len(others) > 15
    for path in others:
        assert not tecan.sniff(path.read_bytes(), path.name), path.name


# --- built inputs -------------------------------------------------------------------------------


def test_markers_text_numbers_and_float32_in_a_built_xlsx():
    grid = [[ROWS[r], *(0.5 + r + c for c in range(12))] for r in range(8)]
    grid[0][1:4] = ["OVER", "Overflow", "0.1234"]
    grid[1][1] = 0.09319999814033508
    grid[1][2] = 0.1  # a float64 value stays as it is
    [plate] = tecan.read(_xlsx(_icontrol_rows(grid)), "built.xlsx")
    assert plate.wavelengths == [450] and plate.read_time == datetime(2024, 2, 20, 18, 19, 42)
    assert plate.serial == "42"
    for well, marker in (("A1", "OVER"), ("A2", "Overflow")):
        row = _well(plate, well, 450)
        assert row.flag == "overflow" and math.isnan(row.value) and row.marker == marker
    assert _well(plate, "A3", 450).value == 0.1234
    assert _well(plate, "B1", 450).value == 0.0932
    assert _well(plate, "B2", 450).value == 0.1
    assert _well(plate, "H12", 450).value == 0.5 + 7 + 11


def test_384_well_icontrol_grid():
    grid = [["ABCDEFGHIJKLMNOP"[r], *(r * 24 + c for c in range(24))] for r in range(16)]
    [plate] = tecan.read(_xlsx(_icontrol_rows(grid, ncols=24)), "p384.xlsx")
    assert plate.n_wells == 384 and len(plate.reads) == 384
    assert _well(plate, "P24", 450).value == 15 * 24 + 23


def test_same_label_twice_makes_two_plates():
    rows = _icontrol_rows()
    label = rows[5:]
    [first, second] = tecan.read(_xlsx(rows + label), "twice.xlsx")
    assert (first.name, second.name) == ("twice #1", "twice #2")
    assert len(first.reads) == len(second.reads) == 96


def test_grid_with_eleven_columns_is_a_partial_plate():
    # issue 13: a grid header may start and stop anywhere within 1-12; the columns not in it were not read
    [plate] = registry.read_plates(_xlsx(_icontrol_rows(ncols=11)), "eleven.xlsx")
    assert plate.n_wells == 96 and len(plate.reads) == 88 and (plate.reads["flag"] == "ok").all()
    assert set(plate.reads["column"]) == set(range(1, 12)) and _well(plate, "H11", 450).value == round(0.1 + 0.7 + 0.1, 4)
    grid = [[ROWS[r], *(0.2 + c for c in range(4))] for r in range(8)]
    rows = _icontrol_rows(grid)
    rows[9] = ["<>", 5, 6, 7, 8]  # columns 5-8 only
    [plate] = tecan.read(_xlsx(rows), "middle.xlsx")
    assert sorted(set(plate.reads["column"])) == [5, 6, 7, 8] and _well(plate, "A5", 450).value == 0.2
    assert _well(plate, "H8", 450).value == 3.2 and plate.reads[plate.reads["well"] == "A1"].empty


def test_grid_header_that_is_no_run_of_columns():
    rows = _icontrol_rows()
    rows[9] = ["<>", 1, 2, 4, *range(5, 14)]
    message = _error(_xlsx(rows), "gap.xlsx")
    assert message.startswith("gap.xlsx: sheet 'Sheet2', cell B10: the grid header has columns 1, 2, 4, 5, 6")
    assert "expected 1-12 (96-well plate), 1-24 (384-well plate) or a run of columns within them" in message


def test_letters_in_a_numeric_grid_flag_one_well():
    # issue 13: one odd cell flags its well (marker kept) instead of refusing the plate
    rows = _icontrol_rows()
    rows[12][5] = "0.1x2"  # row C, column 5
    [plate] = registry.read_plates(_xlsx(rows), "junk.xlsx")
    assert len(plate.reads) == 96
    c5 = _well(plate, "C5", 450)
    assert c5.flag == "invalid" and c5.marker == "0.1x2" and math.isnan(c5.value)
    assert (plate.reads[plate.reads["well"] != "C5"]["flag"] == "ok").all()
    assert _well(plate, "C4", 450).value == round(0.1 + 0.2 + 0.03, 4)


def test_marked_numbers_status_words_and_empty_cells_in_an_icontrol_grid():
    grid = [[ROWS[r], *(0.5 for _ in range(12))] for r in range(8)]
    grid[0][1:6] = ["*0.356*", "1.2 (Range?)", "?????", "Invalid", None]
    grid[7][12] = "Path?"
    [plate] = registry.read_plates(_xlsx(_icontrol_rows(grid)), "marks.xlsx")
    assert len(plate.reads) == 96
    expected = {
        "A1": (0.356, "flagged", "*0.356*"),
        "A2": (1.2, "flagged", "1.2 (Range?)"),
        "A3": (None, "invalid", "?????"),
        "A4": (None, "invalid", "Invalid"),
        "A5": (None, "missing", None),
        "H12": (None, "invalid", "Path?"),
    }
    for well, (value, flag, marker) in expected.items():
        row = _well(plate, well, 450)
        assert row.flag == flag, well
        assert math.isnan(row.value) if value is None else row.value == value, well
        assert pd.isna(row.marker) if marker is None else row.marker == marker, well
    assert (plate.reads[~plate.reads["well"].isin(list(expected))]["flag"] == "ok").all()


def test_part_of_plate_grid_with_unread_cells():
    # issue 13: an i-control grid that covers only some wells; the rest are absent, empty cells are missing
    grid = [[ROWS[r], 0.1, 0.2, 0.3] for r in range(2, 5)]
    grid[1][3] = None  # D3 was not measured
    rows = _icontrol_rows(grid, keys=[["Part of Plate", None, None, None, "C1-E3"]])
    rows[10] = ["<>", 1, 2, 3]
    [plate] = registry.read_plates(_xlsx(rows), "part.xlsx")
    assert plate.n_wells == 96 and len(plate.reads) == 9
    assert set(plate.reads["well"]) == {f"{r}{c}" for r in "CDE" for c in (1, 2, 3)}
    assert _well(plate, "D3", 450).flag == "missing" and _well(plate, "E3", 450).value == 0.3


def test_duplicated_row_letter():
    rows = _icontrol_rows()
    rows[16][0] = "F"  # G is written as a second F
    message = _error(_xlsx(rows), "dup.xlsx")
    assert message.startswith("dup.xlsx: sheet 'Sheet2', cell A17: row 'F' appears twice (also at sheet 'Sheet2', cell A16)")


def test_row_beyond_the_plate_and_value_past_the_last_column():
    rows = _icontrol_rows()
    rows.insert(18, ["I", *range(12)])
    assert "cell A19: row 'I' is beyond the grid, which has rows A-H (96-well plate)" in _error(_xlsx(rows), "i.xlsx")
    rows = _icontrol_rows()
    rows[10].append(9.9)
    assert "cell N11: row 'A' has a value right of column 12" in _error(_xlsx(rows), "wide.xlsx")


def test_part_of_plate_must_match_the_grid():
    grid = [[ROWS[r], 1, 2, 3] for r in range(8)]
    rows = _icontrol_rows(grid, keys=[["Part of Plate", None, None, None, "A1-H4"]])
    rows[10] = ["<>", 1, 2, 3]
    message = _error(_xlsx(rows), "part.xlsx")
    assert "the grid header has columns 1-3; label 'OD450' reads part of the plate (A1-H4)" in message


def test_truncated_text_export(plate_exports):
    text = _bytes(plate_exports, PARTIAL)
    cut = text[: text.index(b"E\t975")]
    message = _error(cut, "cut.txt")
    assert message == "cut.txt: line 36: expected row 'E' of the grid (rows A-H in order) but found nothing."
    assert "no Tecan plate found" in _error(text[:300], "head.txt")


def test_text_export_with_decimal_commas(plate_exports):
    text = _bytes(plate_exports, PARTIAL).replace(b"A\t1221\t1463\t1542", b"A\t1,234\t0,5\tOVER")
    [plate] = tecan.read(text, "comma.txt")  # '1,234' is 1.234: the file has no '0.123'-style number
    assert _well(plate, "A1", 465).value == 1.234 and _well(plate, "A2", 465).value == 0.5
    assert _well(plate, "A3", 465).flag == "overflow" and math.isnan(_well(plate, "A3", 465).value)
    assert _well(plate, "E1", 465).value == 975


def test_truncated_xlsx(plate_exports):
    data = _bytes(plate_exports, ENDPOINT)
    message = _error(data[: len(data) // 2], "half.xlsx")
    assert "damaged or truncated" in message
    assert not tecan.sniff(data[: len(data) // 2], "half.xlsx")


def test_only_kinetic_data_is_refused():
    lines = [
        "Application: Tecan i-control\t\t\t\tTecan i-control , 2.0.10.0",
        "Label: Abs600",
        "Kinetic Measurement",
        "Measurement Wavelength\t\t\t\t600\tnm",
        "Cycle Nr.\t1\t2\t3",
        "Time [s]\t0\t95.3\t190.6",
        "A1\t0.25\t0.26\t0.27",
    ]
    message = _error("\r\n".join(lines).encode(), "kin.txt")
    assert message.startswith("kin.txt: line 2: label 'Abs600' is a kinetic read")
    assert "kinetic reads are not supported" in message


def test_text_grid_alone_is_not_a_plate():
    rows = [["<>", *range(1, 13)], *([ROWS[r], *(f"S{r}{c}" for c in range(12))] for r in range(8))]
    assert "no Tecan plate found" in _error(_xlsx(rows, sheet="Magellan Sheet 1"), "ids.xlsx")


def _magellan_list(cells: dict[str, list[object]], footer: list[str]) -> bytes:
    rows = [["Well positions", "Label1", "Label2"], [None, "0s", "0s"], [None, "21.0 °C", "21.1 °C"]]
    rows += [[well, *values] for well, values in cells.items()]
    return _xlsx(rows + [[line] for line in footer], sheet="Magellan Sheet 1")


FOOTER = [
    "Date of measurement: 2025-03-04/Time of measurement: 09:05:00",
    "Sunrise",
    "Instrument serial number: 77",
    "Measurement 1:",
    "Measurement wavelength: 450 nm",
    "Measurement 2:",
    "Measurement wavelength: 620 nm",
]


def test_magellan_list_96_with_markers():
    cells = {f"{r}{c}": [0.5, 0.05] for r in ROWS for c in range(1, 13)}
    cells["B2"] = ["OVER", "0.051"]
    [plate] = tecan.read(_magellan_list(cells, FOOTER), "list.xlsx")
    assert plate.n_wells == 96 and plate.wavelengths == [450, 620] and len(plate.reads) == 192
    assert _well(plate, "B2", 450).flag == "overflow" and _well(plate, "B2", 620).value == 0.051
    assert plate.instrument == "Sunrise" and plate.serial == "77"
    assert plate.read_time == datetime(2025, 3, 4, 9, 5)


def test_magellan_list_odd_cell_flags_its_well():
    # issue 13: an odd cell in a list is one invalid well with its text, not a refused plate; unlisted wells are absent
    cells = {"A1": [0.5, 0.05], "A2": [0.5, "n.a.x"], "A3": ["Invalid", 0.06]}
    [plate] = registry.read_plates(_magellan_list(cells, FOOTER), "j.xlsx")
    assert len(plate.reads) == 6 and plate.wavelengths == [450, 620]
    a2 = _well(plate, "A2", 620)
    assert a2.flag == "invalid" and a2.marker == "n.a.x" and math.isnan(a2.value)
    assert _well(plate, "A3", 450).flag == "invalid" and _well(plate, "A3", 450).marker == "Invalid"
    assert _well(plate, "A2", 450).value == 0.5 and _well(plate, "A3", 620).value == 0.06


def test_magellan_list_errors():
    rows = [["Well positions", "Label1", "Label2"], ["A1", 0.1, 0.2], ["A1", 0.3, 0.4]]
    message = _error(_xlsx(rows, sheet="Magellan Sheet 1"), "d.xlsx")
    assert message.startswith("d.xlsx: sheet 'Magellan Sheet 1', cell A3: well A1 is listed twice")
    footer = [*FOOTER, "Measurement 3:", "Measurement wavelength: 490 nm"]
    message = _error(_magellan_list({"A1": [0.5, 0.05]}, footer), "w.xlsx")
    assert "the footer lists 3 measurement wavelengths (450, 620, 490 nm) for 2 reads" in message


def test_magellan_list_columns_by_header_name_with_plate_id_and_format_columns():
    # issue 13: value column first, 'Well positions' second, then plate-ID and plate-format columns; only some wells
    rows = [["Raw data", "Well positions", "Plate", "Plate format"]]
    rows += [
        [0.1 + k / 100, f"{r}{c}", "P-042" if k < 3 else None, "96 flat"] for k, (r, c) in enumerate((r, c) for c in (1, 2) for r in ROWS)
    ]
    rows[2][0] = "*0.356*"  # B1, a reading the instrument marked
    rows[4][0] = "OVER"  # D1
    footer = [
        "Date of measurement: 2021-07-06/Time of measurement: 09:43:07",
        "x.mth",
        "595nm",
        "Unknown user",
        "ULTRA",
        "Instrument serial number: 99",
        "Measurement mode: Absorbance",
        "Measurement wavelength: 595 nm",
        "Meas. temperature: Raw data: 23.4 °C",
    ]
    data = _xlsx(rows + [[line, None, None, None] for line in footer], sheet="Magellan Sheet 1")
    assert registry.detect(data, "list.xlsx") is tecan
    [plate] = registry.read_plates(data, "list.xlsx")
    assert plate.name == "P-042" and plate.extra["Plate ID"] == "P-042" and plate.extra["Plate format"] == "96 flat"
    assert plate.n_wells == 96 and plate.wavelengths == [595] and len(plate.reads) == 16
    assert set(plate.reads["column"]) == {1, 2}  # columns 3-12 were not read: absent
    assert _well(plate, "A1", 595).value == 0.1 and _well(plate, "H2", 595).value == 0.1 + 15 / 100
    b1, d1 = _well(plate, "B1", 595), _well(plate, "D1", 595)
    assert (b1.value, b1.flag, b1.marker) == (0.356, "flagged", "*0.356*")
    assert d1.flag == "overflow" and d1.marker == "OVER" and math.isnan(d1.value)
    assert plate.instrument == "ULTRA" and plate.serial == "99" and plate.read_time == datetime(2021, 7, 6, 9, 43, 7)
    assert plate.extra["Labels"].startswith("Raw data (595 nm, 16 wells")


def test_magellan_list_without_footer_labels_and_two_plate_ids():
    # no 'Meas. temperature' lines: the reads are the columns holding readings; each plate ID is one plate
    rows = [["Plate ID", "OD450", "Well positions", "Sample"]]
    rows += [["A", 0.1, "A1", "S1"], [None, 0.2, "A2", "S2"], ["B", 0.3, "A1", "S3"], [None, "Overflow", "B5", "S4"]]
    footer = ["Date of measurement: 2025-03-04/Time of measurement: 09:05:00", "Measurement wavelength: 450 nm"]
    [a, b] = registry.read_plates(_xlsx(rows + [[line] for line in footer], sheet="Magellan Sheet 1"), "two.xlsx")
    assert (a.name, b.name) == ("A", "B") and a.wavelengths == b.wavelengths == [450]
    assert {r.well: r.value for r in a.reads.itertuples()} == {"A1": 0.1, "A2": 0.2}
    assert _well(b, "A1", 450).value == 0.3 and _well(b, "B5", 450).flag == "overflow" and _well(b, "B5", 450).marker == "Overflow"
    assert a.extra["Sample"] == "A1 S1; A2 S2; A1 S3; B5 S4"  # a text column is kept, not read as values
    rows[3][0] = None  # without the ID, the second A1 is on plate A again
    assert "cell C4: well A1 of plate 'A' is listed twice" in _error(_xlsx(rows, sheet="Magellan Sheet 1"), "dup.xlsx")


def test_magellan_text_grid_with_some_numbers_is_kept_as_text(plate_exports):
    rows = load_sheets(_bytes(plate_exports, SUNRISE), SUNRISE)["Magellan Sheet 1"]
    ids = next(k for k, row in enumerate(rows) if k > 0 and row and row[0] == "<>")
    rows = [list(row) for row in rows]
    rows[ids + 1][1:4] = [1, 2, 3]  # numeric sample IDs among the text ones
    [plate] = tecan.read(_xlsx(rows, sheet="Magellan Sheet 1"), "ids.xlsx")
    assert len(plate.reads) == 96 and (plate.reads["flag"] == "ok").all()
    [(key, text)] = [(k, v) for k, v in plate.extra.items() if k.startswith("Text grid")]
    assert text.startswith("A1 1; A2 2; A3 3; A11 STD1000; A12 STD1000;")
