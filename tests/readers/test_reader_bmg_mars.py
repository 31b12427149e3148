"""BMG LABTECH MARS reader: the real exports in ../shared, generated variants, broken and kinetic files."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdb.core.errors import InputError
from labdb.readers import bmg_mars, registry
from labdb.readers.canonical import READ_COLUMNS

FOLDER = "bmg_labtech"
PLATE_96 = "mars_abs450_96_plate.csv"
ELISA = "mars_pherastar_elisa_abs450_96.csv"
PARTIAL_384 = "mars_pherastar_abs484_384_partial.csv"
SPECTRUM = "mars_clariostar_table_absspectrum_semicolon.csv"
ALL = [PLATE_96, ELISA, PARTIAL_384, SPECTRUM]


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / FOLDER / name).read_bytes()


def _text(plate_exports, name: str) -> str:
    return _bytes(plate_exports, name).decode("ascii")


def _read(plate_exports, name: str):
    [plate] = bmg_mars.read(_bytes(plate_exports, name), name)
    return plate


def _well(plate, well: str, wavelength: int) -> pd.Series:
    rows = plate.reads[(plate.reads["well"] == well) & (plate.reads["wavelength_nm"] == wavelength)]
    assert len(rows) == 1, (well, wavelength)
    return rows.iloc[0]


def _error(text: str | bytes, name: str = "run7.csv") -> str:
    with pytest.raises(InputError) as err:
        bmg_mars.read(text.encode() if isinstance(text, str) else text, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message, message
    return message


# --- real exports -------------------------------------------------------------------------------


def test_plate_view_96_values_and_header(plate_exports):
    plate = _read(plate_exports, PLATE_96)
    assert plate.format == "bmg_mars" and plate.n_wells == 96
    assert list(plate.reads.columns) == READ_COLUMNS and len(plate.reads) == 96
    assert plate.wavelengths == [450]
    assert _well(plate, "A1", 450).value == 0.073
    assert _well(plate, "E6", 450).value == 0.059
    assert _well(plate, "C9", 450).value == 0.71
    assert _well(plate, "H12", 450).value == 0.207
    assert (plate.reads["flag"] == "ok").all()
    assert plate.read_time == datetime(2021, 5, 14, 15, 29, 50)  # Date: 5/14/2021, Time: 3:29:50 PM
    assert plate.name == "xxxxxxxxxxxxx"  # ID1
    assert plate.instrument is None  # the data path does not name the reader
    assert plate.extra["User"] == "Discovery"
    assert plate.extra["Path"] == r"C:\Users\Lab user\Documents\Discovery\Data"
    assert plate.extra["Test run no."] == "445"
    assert plate.extra["Test name"] == "xxxxxxxxxxxxx"
    assert plate.extra["ID2"] == "Plate 1" and plate.extra["ID3"] == "xxxxxxx 11/5/21"
    assert plate.extra["Mode"] == "Absorbance"
    assert plate.extra["Read titles"] == "Raw Data (450 1)"
    assert "Date" not in plate.extra and "Time" not in plate.extra
    reads = plate.reads
    assert str(reads["wavelength_nm"].dtype) == "Int64" and reads["value"].dtype == float
    assert reads["column"].tolist()[:12] == list(range(1, 13)) and reads["row"].iloc[-1] == "H"


def test_pherastar_elisa_title_with_two_spaces(plate_exports):
    plate = _read(plate_exports, ELISA)
    assert plate.wavelengths == [450] and plate.n_wells == 96 and len(plate.reads) == 96
    assert _well(plate, "A1", 450).value == 1.691
    assert _well(plate, "D4", 450).value == 0.072
    assert _well(plate, "G12", 450).value == 1.4
    assert _well(plate, "H12", 450).value == 0.884
    assert plate.read_time == datetime(2026, 6, 18, 15, 56, 48)
    assert plate.instrument == "PHERAstar"  # from C:\Program Files (x86)\BMG\PHERAstar\User\Data
    assert plate.name == "20260618 dsRNA _PLATE_01_18Jun26"
    assert plate.extra["Test name"] == "dsRNA ELISA" and plate.extra["Test run no."] == "65"
    assert plate.extra["Read titles"] == "Raw Data  (450)"


def test_partial_384_plate_leaves_unread_wells_out(plate_exports):
    plate = _read(plate_exports, PARTIAL_384)
    assert plate.n_wells == 384 and plate.wavelengths == [484]
    assert plate.read_time == datetime(2016, 3, 3, 16, 54, 3)
    assert plate.name == "472-0016" and plate.extra["Test name"] == "472 ABS 384 QC"
    assert _well(plate, "A1", 484).value == 0.031
    assert _well(plate, "C6", 484).value == 2.412
    assert _well(plate, "I7", 484).value == 0.07
    assert _well(plate, "A18", 484).value == 0.032
    assert _well(plate, "O18", 484).value == 0.03
    assert _well(plate, "P24", 484).value == 0.032
    wells = set(plate.reads["well"])
    assert len(plate.reads) == 99 and (plate.reads["flag"] == "ok").all()
    assert not wells & {"C7", "A8", "A17", "H24", "I8"}  # empty cells: wells the protocol did not read
    assert not any(w[0] in "JKLMN" for w in wells)  # whole empty rows J-N


def test_clariostar_spectrum_table_is_one_read_per_wavelength(plate_exports):
    plate = _read(plate_exports, SPECTRUM)
    assert plate.n_wells == 96
    assert plate.wavelengths == list(range(260, 751))
    assert len(plate.reads) == 2 * 491 and set(plate.reads["well"]) == {"E5", "F5"}  # E05, F05 unpadded
    e260 = _well(plate, "E5", 260)
    assert e260.flag == "overflow" and math.isnan(e260.value)
    assert _well(plate, "E5", 292).flag == "overflow"
    assert _well(plate, "E5", 293).value == 3.231
    assert _well(plate, "F5", 291).value == 3.474
    assert _well(plate, "E5", 450).value == 0.1
    assert _well(plate, "F5", 500).value == 0.08
    assert _well(plate, "E5", 750).value == 0.066
    assert _well(plate, "F5", 750).value == 0.064
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 937, "overflow": 45}
    assert plate.read_time == datetime(2021, 12, 16, 14, 39, 59)  # Date: 16.12.2021, day first
    assert plate.instrument == "CLARIOstar"
    assert plate.name == "Lvis_cuvette"  # no ID1: the test name
    assert plate.extra["Mode"] == "Absorbance spectrum"
    assert plate.extra["Content"] == "E5=Sample X1; F5=Sample X2"
    assert plate.extra["ID2"].startswith("Wizard script `PL_cuvette_sample`, Prot.1, Donnerstag")


def test_registry_detects_and_reads_every_mars_fixture(plate_exports):
    for name in ALL:
        data = _bytes(plate_exports, name)
        assert registry.detect(data, name) is bmg_mars, name
        plates = registry.read_plates(data, name)
        assert [p.format for p in plates] == ["bmg_mars"], name


def test_sniff_accepts_mars_and_rejects_every_other_fixture(plate_exports):
    for name in ALL:
        assert bmg_mars.sniff(_bytes(plate_exports, name), name)
    others = [p for p in plate_exports.glob("*/*") if p.parent.name != FOLDER and p.suffix != ".md"]
    assert len(others) > 10
    for path in others:
        assert not bmg_mars.sniff(path.read_bytes(), path.name), path.name


# --- generated variants -------------------------------------------------------------------------


def test_bom_utf16_lf_and_semicolon_decimal_comma_copies_read_the_same(plate_exports):
    text = _text(plate_exports, PLATE_96)
    base = bmg_mars.read(text.encode(), "a.csv")[0]
    semicolon = text.replace(",", ";").replace("0.", "0,")  # a German-locale MARS export
    for data in (
        b"\xef\xbb\xbf" + text.encode(),
        text.encode("utf-16"),
        text.replace("\r\n", "\n").encode(),
        semicolon.encode("cp1252"),
    ):
        [plate] = bmg_mars.read(data, "b.csv")
        pd.testing.assert_frame_equal(plate.reads, base.reads)
        assert plate.read_time == base.read_time and plate.extra["User"] == "Discovery"


def test_overflow_and_invalid_markers_in_the_plate_view(plate_exports):
    text = _text(plate_exports, ELISA).replace("A,1.691,", "A,overflow,").replace(",0.884\r\n", ",invalid\r\n")
    [plate] = bmg_mars.read(text.encode(), "flags.csv")
    a1, h12 = _well(plate, "A1", 450), _well(plate, "H12", 450)
    assert a1.flag == "overflow" and math.isnan(a1.value)
    assert h12.flag == "invalid" and math.isnan(h12.value)
    assert _well(plate, "A2", 450).value == 1.557


def test_two_reads_and_a_derived_grid(plate_exports):
    text = _text(plate_exports, PLATE_96)
    grid = text[text.index("Raw Data (450 1)") :]
    second = grid.replace("Raw Data (450 1)", "Raw Data (620 2)").replace("A,0.073,", "A,0.041,")
    derived = grid.replace("Raw Data (450 1)", "Blank corrected based on Raw Data (450 1)").replace("0.0", "-0.0")
    [plate] = bmg_mars.read((text + "\r\n" + second + "\r\n" + derived).encode(), "two.csv")
    assert plate.wavelengths == [450, 620] and len(plate.reads) == 192
    assert _well(plate, "A1", 450).value == 0.073 and _well(plate, "A1", 620).value == 0.041
    assert plate.extra["Derived reads skipped"] == "Blank corrected based on Raw Data (450 1)"
    assert plate.extra["Read titles"] == "Raw Data (450 1); Raw Data (620 2)"


def test_table_view_endpoint_with_one_column_per_read():
    text = (
        "User: USER;Path: C:\\BMG\\CLARIOstar\\User\\Data;Test run no.: 7\r\n"
        "Test name: ELISA;Date: 02.03.2024;Time: 09:15:00\r\n\r\nAbsorbance\r\n\r\n"
        "Well;Content;Raw Data (450);Raw Data (620);Blank corrected based on Raw Data (450)\r\n"
        "A01;Standard S1;1,234;0,051;1,183\r\nA02;Standard S2;overflow;0,049;\r\nP24;Blank B;0,047;;0,000\r\n"
    )
    [plate] = bmg_mars.read(text.encode(), "table.csv")
    assert plate.n_wells == 384 and plate.wavelengths == [450, 620]
    assert plate.read_time == datetime(2024, 3, 2, 9, 15)
    assert _well(plate, "A1", 450).value == 1.234 and _well(plate, "A1", 620).value == 0.051
    assert _well(plate, "A2", 450).flag == "overflow"
    assert _well(plate, "P24", 620).flag == "missing"  # a listed well with an empty cell
    assert plate.extra["Derived reads skipped"] == "Blank corrected based on Raw Data (450)"


# --- kinetic and broken files -------------------------------------------------------------------


def test_kinetic_plate_view_with_timed_titles_is_refused(plate_exports):
    text = _text(plate_exports, PLATE_96).replace("Raw Data (450 1)", "Raw Data (450) 1: 0 min")
    assert "line 7: this is a kinetic MARS export" in _error(text)
    assert "kinetic reads are not supported" in _error(text)


def test_kinetic_table_view_with_time_columns_is_refused(plate_exports):
    text = _text(plate_exports, SPECTRUM).replace(";Wavelength [nm];", ";Time [s];")
    assert "line 8: this is a kinetic MARS export ('Time [s]'); kinetic reads are not supported" in _error(text)


def test_the_same_wavelength_twice_is_refused_as_kinetic(plate_exports):
    text = _text(plate_exports, PLATE_96)
    message = _error(text + "\r\n" + text[text.index("Raw Data (450 1)") :])
    assert "line 19: a second raw read at 450 nm (the first is titled on line 7)" in message
    assert "kinetic reads, which are not supported" in message


def test_grid_header_with_eleven_columns(plate_exports):
    text = _text(plate_exports, PLATE_96).replace(",10,11,12,\r\n", ",10,11,\r\n")
    assert _error(text) == (
        "run7.csv: line 9: the grid header has columns 1-11; a MARS plate has columns 1-12 (96 wells) or 1-24 (384 wells)."
    )


def test_letters_in_the_grid(plate_exports):
    """One odd cell flags its well (invalid, the file's text as marker); the rest of the plate is read as before."""
    text = _text(plate_exports, PLATE_96).replace(",0.111,", ",0.1x1,", 1)
    [plate] = bmg_mars.read(text.encode("ascii"), "run7.csv")
    [before] = bmg_mars.read(_bytes(plate_exports, PLATE_96), "run7.csv")
    changed = plate.reads.compare(before.reads)
    assert len(changed) == 1, "exactly one read differs"
    odd = plate.reads.loc[changed.index[0]]
    assert (odd["well"], odd["flag"], odd["marker"]) == ("A6", "invalid", "0.1x1") and math.isnan(odd["value"])


def test_duplicated_row(plate_exports):
    text = _text(plate_exports, PLATE_96)
    c_line = text[text.index("\r\nC,") : text.index("\r\nD,")]
    message = _error(text.replace(c_line, c_line + c_line, 1))
    assert message.startswith("run7.csv: line 13: expected row 'D' of the 96-well grid (rows A-H in order) but found")
    assert message.endswith("found 'C'.")


def test_row_beyond_the_plate(plate_exports):
    text = _text(plate_exports, PLATE_96) + "I,1,2,3,4,5,6,7,8,9,10,11,12\r\n"
    assert _error(text) == "run7.csv: line 18: row 'I' does not exist on a 96-well plate (rows A-H)."


def test_a_short_row_holds_unread_wells_at_its_end(plate_exports):
    """Newer MARS versions drop trailing empty separators: row A with 9 values has A10-A12 not read, the rest as read."""
    text = _text(plate_exports, PLATE_96)
    row_a = next(line for line in text.split("\r\n") if line.startswith("A,"))
    [plate] = bmg_mars.read(text.replace(row_a, ",".join(row_a.split(",")[:10])).encode("ascii"), "run7.csv")
    [before] = bmg_mars.read(_bytes(plate_exports, PLATE_96), "run7.csv")
    gone = {"A10", "A11", "A12"}
    assert set(before.reads["well"]) - set(plate.reads["well"]) == gone
    kept = before.reads[~before.reads["well"].isin(gone)].reset_index(drop=True)
    pd.testing.assert_frame_equal(plate.reads.reset_index(drop=True), kept)


def test_truncated_files(plate_exports):
    text = _text(plate_exports, PLATE_96)
    mid_row = text[: text.index("\r\nE,") + 20]
    assert "line 14: row 'E' has 4 values; expected 12" in _error(mid_row)
    before_row = text[: text.index("\r\nE,") + 2]
    assert "line 14: expected row 'E' of the 96-well grid" in _error(before_row)
    assert "found nothing (the file may be truncated)" in _error(before_row)
    header_only = text[: text.index("Raw Data")]
    assert "no raw read; expected a title such as 'Raw Data (450)'" in _error(header_only)


def test_extra_value_past_the_last_column(plate_exports):
    text = _text(plate_exports, PLATE_96).replace(",0.089\r\n", ",0.089,0.5\r\n")
    assert "line 10: row 'A' has 13 values; expected 12 (columns 1-12, as in the grid header on line 9)" in _error(text)


def test_untitled_grid_is_not_a_raw_read(plate_exports):
    text = _text(plate_exports, PLATE_96).replace("Raw Data (450 1)", "")
    assert "no raw read (found only: untitled grid on line 9)" in _error(text)


def test_broken_table_view(plate_exports):
    text = _text(plate_exports, SPECTRUM)
    lines = text.split("\r\n")
    assert "line 10: well E5 is listed twice (first on line 9)" in _error("\r\n".join(lines[:9] + lines[8:]))
    cut = "\r\n".join(lines[:9] + [";".join(lines[9].split(";")[:101])])
    assert "line 10: well F5 has 99 values; expected 491" in _error(cut)
    [plate] = bmg_mars.read(text.replace(";0.066;", ";abc;", 1).encode("ascii"), "run7.csv")  # one odd cell: one flagged read
    text_cells = plate.reads[plate.reads["flag"].eq("invalid")]
    assert text_cells[["well", "marker"]].drop_duplicates().values.tolist() == [["E5", "abc"]]
    assert "line 9: expected a well A01-P24 in the first column, found 'Q05'" in _error(text.replace("E05;", "Q05;"))
    assert "line 8: column 8 of the wavelength line holds '26x'" in _error(text.replace(";265;", ";26x;"))


def test_not_a_mars_file():
    assert "not a BMG MARS export" in _error("just,some,text\r\n1,2,3\r\n")


TOKENS = ["", ",", ";", "\r\n", "A", "x", "1", "overflow", '"', "Raw Data (450)", "Time", "-", "Well;", ",1,2,3,4,5,6"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_exports_are_read_or_refused_in_one_line(plate_exports, data):
    text = _text(plate_exports, data.draw(st.sampled_from(ALL)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 6))
        text = text[:at] + data.draw(st.sampled_from(TOKENS)) + text[at + cut :]
    try:
        plates = bmg_mars.read(text.encode(), "mut.csv")
    except InputError as err:
        assert str(err).startswith("mut.csv: ") and "\n" not in str(err)
        return
    for plate in plates:
        registry.check_plate(plate, "mut.csv")
