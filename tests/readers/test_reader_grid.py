"""Generic grid reader: CSV in its dialects, Excel, titles, markers, wrong shapes, and write_csv() round trips."""

from __future__ import annotations

import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdb.core.errors import InputError
from labdb.readers import grid
from labdb.readers.base import expand_flags
from labdb.readers.canonical import READ_COLUMNS
from labdb.readers.registry import detect, read_plates
from qc.vocab import well_name

ROWS = "ABCDEFGH"


def _csv(rows: list[list[object]], delimiter: str = ",") -> bytes:
    return "\r\n".join(delimiter.join(str(c) for c in row) for row in rows).encode() + b"\r\n"


def _grid_rows(value=lambda r, c: f"{r + c / 100:.3f}", header_label: str = "") -> list[list[object]]:
    return [[header_label, *range(1, 13)]] + [[ROWS[r], *(value(r, c) for c in range(12))] for r in range(8)]


def _one(data: bytes, name: str = "plate.csv"):
    [plate] = grid.read(data, name)
    assert list(plate.reads.columns) == READ_COLUMNS
    return plate


def _cell(plate, well: str, wavelength: int | None = None):
    reads = plate.reads[plate.reads["well"] == well]
    if wavelength is None:
        reads = reads[reads["wavelength_nm"].isna()]
    else:
        reads = reads[reads["wavelength_nm"] == wavelength]
    assert len(reads) == 1
    return reads.iloc[0]


def _error(data: bytes, name: str = "bad.csv") -> str:
    with pytest.raises(InputError) as err:
        grid.read(data, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


# --- reading ------------------------------------------------------------------------------------


def test_untitled_comma_grid():
    plate = _one(_csv(_grid_rows()), "run 12.csv")
    assert plate.name == "run 12" and plate.format == "grid" and plate.n_wells == 96
    assert plate.wavelengths == [None]
    assert len(plate.reads) == 96
    assert _cell(plate, "A1").value == 0.0
    assert _cell(plate, "C5").value == 2.04
    assert _cell(plate, "H12").value == 7.11


@pytest.mark.parametrize(
    "title", ["450", "450 nm", "450nm", "OD450", "OD 450", "A450", "Wavelength: 450 nm", "Abs 450 nm", "Absorbance 450"]
)
def test_title_gives_the_wavelength(title):
    plate = _one(_csv([[title], *_grid_rows()]))
    assert plate.wavelengths == [450]


def test_title_that_is_not_a_wavelength_is_kept_in_extra():
    plate = _one(_csv([["Plate 7 raw"], [], *_grid_rows()]))
    assert plate.wavelengths == [None]
    assert plate.extra == {"title of the grid at line 3": "Plate 7 raw"}


def test_two_titled_grids_bom_crlf_and_corner_label():
    rows = [["450 nm"], *_grid_rows(header_label="<>"), [], ["630 nm"], *_grid_rows(lambda r, c: "0.05", "<>")]
    plate = _one(b"\xef\xbb\xbf" + _csv(rows))
    assert plate.wavelengths == [450, 630]
    assert len(plate.reads) == 192
    assert _cell(plate, "B3", 450).value == 1.02
    assert _cell(plate, "B3", 630).value == 0.05


def test_zero_padded_header_tab_delimited_and_quoted_numbers():
    header = ["", *(f"{c:02d}" for c in range(1, 13))]
    rows = [header] + [[ROWS[r], *(f'" {r}.5 "' for _ in range(12))] for r in range(8)]
    plate = _one(_csv(rows, "\t"), "plate.txt")
    assert _cell(plate, "D12").value == 3.5


def test_semicolon_and_decimal_comma():
    rows = [["Abs 450 nm"], ["", *range(1, 13)]]
    rows += [[ROWS[r], *(f"{r},{c:03d}" for c in range(12))] for r in range(8)]  # '1,005' means 1.005 here
    plate = _one(_csv(rows, ";"))
    assert plate.wavelengths == [450]
    assert _cell(plate, "B6", 450).value == 1.005
    assert _cell(plate, "H1", 450).value == 7.0


def test_comma_csv_with_quoted_decimal_comma():
    rows = [["", *range(1, 13)]] + [[ROWS[r], *('"0,125"' for _ in range(12))] for r in range(8)]
    assert _cell(_one(_csv(rows)), "E7").value == 0.125


def test_markers_become_flags():
    markers = {
        (0, 0): "OVRFLW",
        (0, 1): "> Max",
        (0, 2): "*",
        (0, 3): "Sat",
        (0, 4): ">4.000",
        (0, 5): "overflow",
        (1, 0): "MISSED",
        (1, 1): "",
        (1, 2): "-",
        (1, 3): "NaN",
        (2, 0): "?????",
    }
    plate = _one(_csv(_grid_rows(lambda r, c: markers.get((r, c), "1.0"))))
    flags = dict(zip(plate.reads["well"], plate.reads["flag"]))
    assert [flags[w] for w in ("A1", "A2", "A3", "A4", "A5", "A6")] == ["overflow"] * 6
    assert [flags[w] for w in ("B1", "B2", "B3", "B4")] == ["missing"] * 4
    assert flags["C1"] == "invalid" and flags["C2"] == "ok"
    assert math.isnan(_cell(plate, "A1").value)
    assert plate.reads["flag"].value_counts()["ok"] == 85


def test_384_well_grid():
    rows = [["OD450"], ["", *range(1, 25)]] + [["ABCDEFGHIJKLMNOP"[r], *(f"{r * 24 + c}" for c in range(24))] for r in range(16)]
    plate = _one(_csv(rows))
    assert plate.n_wells == 384 and len(plate.reads) == 384
    assert _cell(plate, "P24", 450).value == 383.0
    assert _cell(plate, "B1", 450).value == 24.0


def test_xlsx_grids_on_two_sheets_with_text_numbers(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet["B2"] = "Wavelength: 450 nm"
    for c in range(12):
        sheet.cell(3, 3 + c, c + 1)
    for r in range(8):
        sheet.cell(4 + r, 2, ROWS[r])
        for c in range(12):
            sheet.cell(4 + r, 3 + c, round(0.1 * r + 0.01 * c, 3) if c else f"{r}.25")  # column 1 stored as text
    sheet["F6"] = "OVRFLW"
    ref = book.create_sheet("630")
    ref.append([None, *range(1, 13)])
    for r in range(8):
        ref.append([ROWS[r], *([0.04] * 12)])
    path = tmp_path / "elisa.xlsx"
    book.save(path)
    plate = _one(path.read_bytes(), "elisa.xlsx")
    assert plate.name == "elisa"
    assert plate.wavelengths == [450, 630]  # the second sheet has no title: its name gives the wavelength
    assert _cell(plate, "B1", 450).value == 1.25
    assert _cell(plate, "C2", 450).value == 0.21
    assert _cell(plate, "C4", 450).flag == "overflow"
    assert _cell(plate, "H12", 630).value == 0.04


# --- wrong shapes and junk ----------------------------------------------------------------------


def test_rows_with_eleven_values():
    rows = [["", *range(1, 13)]] + [[ROWS[r], *(["0.1"] * 11)] for r in range(8)]
    expected = "bad.csv: line 2: row 'A' has 11 values; expected 12 (columns 1-12, as in the grid header)."
    assert _error(_csv(rows)) == expected


def test_header_with_eleven_columns():
    rows = [["", *range(1, 12)]] + [[ROWS[r], *(["0.1"] * 11)] for r in range(8)]
    message = _error(_csv(rows))
    assert message.startswith("bad.csv: line 1: the grid header has columns 1-11; expected 1-12 (96-well plate)")


def test_row_letter_out_of_order():
    rows = _grid_rows()
    rows[3][0], rows[4][0] = "D", "C"
    message = _error(_csv(rows))
    assert message == "bad.csv: line 4: expected row 'C' of the 96-well grid (rows A-H in order) but found 'D'."


def test_row_beyond_the_plate():
    rows = [*_grid_rows(), ["I", *(["0.1"] * 12)]]
    assert _error(_csv(rows), "run7.csv") == "run7.csv: line 10: row 'I' does not exist on a 96-well plate (rows A-H)."


def test_grid_that_stops_early():
    message = _error(_csv(_grid_rows()[:7]))
    assert message == "bad.csv: line 8: expected row 'G' of the 96-well grid (rows A-H in order) but found nothing."


def _only_odd_well(plate, well: str, flag: str, marker: str) -> None:
    """The plate is read whole; `well` alone carries `flag` and the file's text as its marker, without a value."""
    assert plate.n_wells == 96 and len(plate.reads) == 96
    odd = _cell(plate, well)
    assert (odd.flag, odd.marker) == (flag, marker) and math.isnan(odd.value)
    others = plate.reads[plate.reads["well"] != well]
    assert (others["flag"] == "ok").all() and others["marker"].isna().all()


def test_junk_cell_in_csv_flags_its_well():
    """One odd cell does not refuse the plate (issue 13): the well is invalid, its text kept as the marker."""
    rows = _grid_rows()
    rows[2][4] = "abc"
    plate = _one(_csv(rows), "odd.csv")
    _only_odd_well(plate, "B4", "invalid", "abc")
    assert _cell(plate, "B3").value == 1.02 and _cell(plate, "B5").value == 1.04


def test_junk_cell_in_xlsx_flags_its_well(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Plate"
    for row in _grid_rows():
        sheet.append([None if v == "" else v for v in row])
    sheet["E4"] = "n.d."
    path = tmp_path / "odd.xlsx"
    book.save(path)
    plate = _one(path.read_bytes(), "odd.xlsx")
    _only_odd_well(plate, "C4", "invalid", "n.d.")
    assert _cell(plate, "C3").value == 2.02


def test_value_after_the_last_column():
    rows = _grid_rows()
    rows[1].append("abs450:450")
    assert "line 2: row 'A' has 13 values; expected 12" in _error(_csv(rows))


def test_two_untitled_grids_and_repeated_wavelengths():
    message = _error(_csv([*_grid_rows(), [], *_grid_rows()]))
    assert message.startswith("bad.csv: line 11: a second grid without a wavelength title (the first is at line 1)")
    message = _error(_csv([["450"], *_grid_rows(), [], ["450 nm"], *_grid_rows()]))
    assert "line 13: a second grid at 450 nm (the first is at line 2)" in message


def test_mixed_plate_sizes():
    big = [["630"], ["", *range(1, 25)]] + [["ABCDEFGHIJKLMNOP"[r], *(["1"] * 24)] for r in range(16)]
    message = _error(_csv([["450"], *_grid_rows(), [], *big]))
    assert "a 384-well grid in a file whose first grid has 96 wells" in message


def test_no_grid_and_broken_workbook():
    assert "no plate grid found" in _error(b"Sample,OD\r\nS1,0.5\r\n")
    assert "damaged or truncated .xlsx" in _error(b"PK\x03\x04 not really a zip", "bad.xlsx")
    assert "cannot be opened as an Excel workbook" in _error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 junk", "bad.xls")


def test_sniff():
    assert grid.sniff(_csv(_grid_rows(), ";"), "x.csv")
    assert grid.sniff(b"PK\x03\x04", "x.xlsx")
    assert not grid.sniff(b"Sample,OD\r\nS1,0.5\r\n", "x.csv")


# --- other programs' exports are refused by name, never read as grids ------------------------------


def test_smart_control_workbook_is_refused_by_name(plate_exports_more):
    path = plate_exports_more / "bmg_labtech_smart_control" / "fluorescence_endpoint_example2.xlsx"
    data = path.read_bytes()
    assert detect(data, path.name) is grid  # the last reader tried: it refuses the file naming the program
    with pytest.raises(InputError) as err:
        read_plates(data, path.name)
    message = str(err.value)
    assert message.startswith(
        "fluorescence_endpoint_example2.xlsx: sheet 'Microplate End point', row 4: this is a BMG Labtech SMART Control "
        "export ('Path: C:\\Program Files (x86)\\BMG\\SMART Control\\user\\Data'), which labdb does not read;"
    )
    assert "BMG LABTECH MARS" in message and "Plate grid (CSV or Excel)" in message and "\n" not in message


@pytest.mark.parametrize(
    ("folder", "name", "line", "program"),
    [
        ("plate_exports_more", "revvity_kaleido/fluorescence__fluorescence_endpoint_single_plate_example_01.csv", 1, "EnSight or Kaleido"),
        ("plate_exports_more", "perkin_elmer_envision/PE_Envision_absorbance_example01.csv", 2, "EnVision or EnSpire"),
        ("plate_exports", "perkinelmer_revvity/kaleido_abs450_96.csv", 5, "Kaleido"),
        ("plate_exports", "perkinelmer_revvity/enspire_elisa_450_630.csv", 2, "EnVision or EnSpire"),
    ],
    ids=["ensight", "envision-matrix", "kaleido2", "enspire"],
)
def test_revvity_exports_are_not_read_as_grids(request, folder, name, line, program):
    """Named .txt, a Revvity export is not the revvity reader's (it claims .csv): the grid refuses it naming the
    program and the reader to use, instead of reading its grids or refusing it with a misleading message."""
    data = (request.getfixturevalue(folder) / name).read_bytes()
    assert grid.sniff(data, "export.txt") and detect(data, "export.txt") is grid
    message = _error(data, "export.txt")
    assert message.startswith(f"export.txt: line {line}: this is a PerkinElmer/Revvity {program} export (")
    assert "not a plain grid; read it with the 'revvity' reader (a .csv file, or give --format revvity)" in message
    assert read_plates(data, "export.txt", format="revvity")  # where it is read


def test_a_foreign_header_is_claimed_only_to_be_refused():
    assert grid.sniff(b"EnSight Results from\r\nProtocol Name,foo\r\n", "x.csv")
    message = _error(b"EnSight Results from\r\nProtocol Name,foo\r\n", "x.csv")
    assert message.startswith("x.csv: line 1: this is a PerkinElmer/Revvity EnSight or Kaleido export ('EnSight Results from')")
    plain = _csv([["Plate information about run 7"], *_grid_rows()])  # such words in a title are not a header
    assert _one(plain).extra == {"title of the grid at line 2": "Plate information about run 7"}


# --- the writer ---------------------------------------------------------------------------------

WELLS_96 = [well_name(r, c) for r in range(8) for c in range(12)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    wavelengths=st.sampled_from([[None], [450], [450, 630], [630, 450, 540]]),
    flags=st.dictionaries(st.sampled_from(WELLS_96), st.sampled_from(["overflow", "missing", "invalid"]), max_size=8),
    dialect=st.sampled_from([(",", "."), (";", ","), ("\t", "."), (",", ",")]),
)
def test_write_csv_round_trip(seed, wavelengths, flags, dialect):
    rng = np.random.default_rng(seed)
    values = {w: rng.uniform(-0.05, 4.0, (8, 12)) for w in wavelengths}
    delimiter, decimal = dialect
    plate = _one(grid.write_csv(values, flags, delimiter=delimiter, decimal=decimal))
    assert plate.wavelengths == wavelengths
    marks = expand_flags(flags, wavelengths, (8, 12))
    got = {(r.well, None if pd.isna(r.wavelength_nm) else int(r.wavelength_nm)): (r.value, r.flag) for r in plate.reads.itertuples()}
    for w, array in values.items():
        for r in range(8):
            for c in range(12):
                well = well_name(r, c)
                value, flag = got[well, w]
                assert flag == marks.get((well, w), "ok")
                assert math.isnan(value) if flag != "ok" else value == float(f"{array[r, c]:.4f}")


def test_write_csv_384_and_unflagged_nan():
    values = np.arange(384, dtype=float).reshape(16, 24) / 100
    values[3, 3] = np.nan
    data = grid.write_csv({450: values}, {"P24": "overflow"})
    assert data.startswith(b"450 nm\r\n,1,2,3,") and b"\n" not in data.replace(b"\r\n", b"")
    plate = _one(data)
    assert plate.n_wells == 384
    assert _cell(plate, "D4", 450).flag == "missing"
    assert _cell(plate, "P24", 450).flag == "overflow"
    assert _cell(plate, "P23", 450).value == 3.82
