"""Thermo SkanIt reader: the real exports in ../shared, generated variants, broken and kinetic files."""

from __future__ import annotations

import io
import math
from datetime import datetime

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdb.core.errors import InputError
from labdb.readers import registry, skanit
from labdb.readers.canonical import READ_COLUMNS

FOLDER = "thermo_skanit"
REPORT = "skanit_elisa450_blank_stdcurve.xlsx"
SKY_KINETIC = "skanit_multiskan_sky_kinetic_abs340.xlsx"
SPECTRUM_TXT = "skanit_multiskan_spectrum_txt_340_420.txt"
ALL = [REPORT, SKY_KINETIC, SPECTRUM_TXT]


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / FOLDER / name).read_bytes()


def _well(plate, well: str, wavelength: int) -> pd.Series:
    rows = plate.reads[(plate.reads["well"] == well) & (plate.reads["wavelength_nm"] == wavelength)]
    assert len(rows) == 1, (well, wavelength)
    return rows.iloc[0]


def _error(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as err:
        skanit.read(data, name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message, message
    return message


def _edited_report(plate_exports, cells: dict[str, object], sheet: str = "Absorbance 1_01") -> bytes:
    """The SkanIt report with some cells of one sheet rewritten (None empties a cell)."""
    book = openpyxl.load_workbook(io.BytesIO(_bytes(plate_exports, REPORT)))
    for ref, value in cells.items():
        book[sheet][ref] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _single_read_text(plate_exports) -> str:
    """The Multiskan text export cut down to its first iteration at each wavelength (an endpoint read)."""
    out, keep = [], True
    for line in _bytes(plate_exports, SPECTRUM_TXT).decode("ascii").split("\r\n"):
        stripped = line.strip()
        if stripped.startswith("Iteration:"):
            keep = stripped == "Iteration: 1"
        elif stripped.startswith("Plate:"):
            keep = True
        if keep:
            out.append(line)
    return "\r\n".join(out)


# --- the SkanIt xlsx report ---------------------------------------------------------------------


def test_report_reads_the_raw_absorbance_step_only(plate_exports):
    [plate] = skanit.read(_bytes(plate_exports, REPORT), REPORT)
    assert plate.format == "skanit" and plate.name == "Plate 1" and plate.n_wells == 96
    assert list(plate.reads.columns) == READ_COLUMNS and len(plate.reads) == 96
    assert plate.wavelengths == [450]
    assert _well(plate, "A1", 450).value == 1.7455  # raw, not the blank-subtracted 1.655
    assert _well(plate, "D7", 450).value == 0.271
    assert _well(plate, "E6", 450).value == 0.284
    assert _well(plate, "H1", 450).value == 0.0905  # a blank well: 'Blank1' in the Sample grid
    assert _well(plate, "H12", 450).value == 0.1032
    assert (plate.reads["flag"] == "ok").all()
    assert plate.reads["value"].max() < 2  # no dilution-factor values (64.0 ...) or concentrations
    assert plate.read_time == datetime(2023, 6, 5, 18, 9, 56)  # 6/5/2023 6:09:56 PM
    assert plate.instrument == "Varioskan LUX"
    assert plate.serial == "3020-81776"
    assert plate.software_version == "SkanIt Software 7.0 RE for Microplate Readers RE, ver. 7.0.0.50"
    extra = plate.extra
    assert extra["Measurement steps"] == "Absorbance 1_01" and extra["Quantity"] == "Abs"
    assert extra["Derived steps skipped"] == "Blank Subtraction 1_02; Standard Curve 1_03; Dilution Factor 1_04"
    assert extra["Session name"] == "5. APOE potency MOA_EB_20230522_003 (1).skax"
    assert extra["Session notes"] == "5. APOE potency MOA_EB_20230522_003; APOE ELISA kit ABCAM Ab108813"
    assert extra["ESW version"] == "1.00.38" and extra["Module's serial number"] == "LL2214801"
    assert "Execution time" not in extra


def test_report_markers_and_numbers_stored_as_text(plate_exports):
    data = _edited_report(plate_exports, {"B11": " > Max", "C11": " < Min", "D11": "NaN", "E11": "0.0865", "F11": None})
    [plate] = skanit.read(data, "flags.xlsx")
    assert _well(plate, "A1", 450).flag == "overflow"
    assert _well(plate, "A2", 450).flag == "invalid"  # '< Min': below the measurable range, value unknown
    assert _well(plate, "A3", 450).flag == "missing"
    for well in ("A1", "A2", "A3"):
        assert math.isnan(_well(plate, well, 450).value)
    assert _well(plate, "A4", 450).value == 0.0865 and _well(plate, "A4", 450).flag == "ok"
    assert "A5" not in set(plate.reads["well"])  # an empty cell: a well that was not read
    assert len(plate.reads) == 95


def test_sky_kinetic_report_is_refused(plate_exports):
    message = _error(_bytes(plate_exports, SKY_KINETIC), SKY_KINETIC)
    assert message.startswith(f"{SKY_KINETIC}: sheet 'Absorbance results', cell A4: this is a kinetic read ('Kinetic')")
    assert "kinetic reads are not supported" in message


def test_report_with_two_wavelengths_in_two_steps(plate_exports):
    book = openpyxl.load_workbook(io.BytesIO(_bytes(plate_exports, REPORT)))
    copy = book.copy_worksheet(book["Absorbance 1_01"])
    copy.title = "Absorbance 2_05"
    copy["A6"], copy["B11"] = "Wavelength: 620 nm", 0.0512
    out = io.BytesIO()
    book.save(out)
    [plate] = skanit.read(out.getvalue(), "two.xlsx")
    assert plate.wavelengths == [450, 620] and len(plate.reads) == 192
    assert _well(plate, "A1", 450).value == 1.7455 and _well(plate, "A1", 620).value == 0.0512
    assert plate.extra["Measurement steps"] == "Absorbance 1_01; Absorbance 2_05"


def test_broken_reports(plate_exports):
    odd = [p.reads for p in skanit.read(_edited_report(plate_exports, {"E13": "abc"}), "r.xlsx")]
    text_cells = [r[r["flag"].eq("invalid") & r["marker"].eq("abc")] for r in odd]
    assert [t["well"].tolist() for t in text_cells if len(t)] == [["C4"]], "one odd cell flags its well, the plate is read"
    eleven = _error(_edited_report(plate_exports, {"M10": None}), "r.xlsx")
    assert eleven.startswith("r.xlsx: sheet 'Absorbance 1_01', cell B10: the grid header has columns 1-11")
    duplicated = _error(_edited_report(plate_exports, {"A15": "D"}), "r.xlsx")
    assert "'Absorbance 1_01', cell A15: expected row 'E' of the 96-well grid (rows A-H in order) but found 'D'" in duplicated
    past = _error(_edited_report(plate_exports, {"N12": 0.5}), "r.xlsx")
    assert "cell N12: row 'B' has a value past column 12; expected 12 values" in past
    extra_row = _error(_edited_report(plate_exports, {"A19": "I"}), "r.xlsx")
    assert "cell A19: row 'I' does not exist on a 96-well plate (rows A-H)" in extra_row
    data = _bytes(plate_exports, REPORT)
    assert "damaged or truncated .xlsx" in _error(data[: len(data) // 2], "r.xlsx")
    no_grid = _error(_edited_report(plate_exports, {"A10": "Sample"}), "r.xlsx")
    assert "no measurement grid in the raw step sheet(s) Absorbance 1_01" in no_grid


def test_a_workbook_that_is_not_skanit(plate_exports):
    data = (plate_exports / "tecan" / "icontrol_infinite200pro_endpoint_abs600.xlsx").read_bytes()
    assert "not a SkanIt report" in _error(data, "tecan.xlsx")


# --- the Multiskan Spectrum text export ---------------------------------------------------------


def test_multiskan_text_with_31_iterations_is_refused_as_kinetic(plate_exports):
    message = _error(_bytes(plate_exports, SPECTRUM_TXT), SPECTRUM_TXT)
    assert message.startswith(f"{SPECTRUM_TXT}: line 15: plate 1 at 340 nm is read again ('Iteration: 2'")
    assert "kinetic reads, which are not supported" in message


def test_multiskan_text_single_iteration(plate_exports):
    [plate] = skanit.read(_single_read_text(plate_exports).encode(), "single.txt")
    assert plate.name == "Plate 1" and plate.n_wells == 96 and plate.wavelengths == [340, 420]
    assert len(plate.reads) == 2 * 60  # rows A-F x columns 1-10; the empty cells were not read
    assert _well(plate, "A1", 340).value == 0.0440802853056135
    assert _well(plate, "A5", 340).value == 0.466641680137024
    assert _well(plate, "D10", 340).value == 3.28023722378538
    assert _well(plate, "F10", 340).value == 3.20105597773776
    assert _well(plate, "A1", 420).value == 0.041389454601394
    assert _well(plate, "C6", 420).value == 0.169857519160787
    assert _well(plate, "F10", 420).value == 0.0427624920365377
    assert "H12" not in set(plate.reads["well"]) and "A11" not in set(plate.reads["well"])
    assert (plate.reads["flag"] == "ok").all()
    assert plate.read_time is None and plate.instrument is None  # the export has no metadata
    assert plate.extra == {"Results": "Results of Photometric1"}


def test_multiskan_text_encodings_and_nan(plate_exports):
    text = _single_read_text(plate_exports)
    [base] = skanit.read(text.encode(), "a.txt")
    for data in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16"), text.replace("\r\n", "\n").encode()):
        pd.testing.assert_frame_equal(skanit.read(data, "b.txt")[0].reads, base.reads)
    [plate] = skanit.read(text.replace("\t0.0440802853056135\t", "\tNaN\t").encode(), "nan.txt")
    assert _well(plate, "A1", 340).flag == "missing" and math.isnan(_well(plate, "A1", 340).value)


def test_extra_empty_field_is_resolved_only_when_unambiguous(plate_exports):
    text = _single_read_text(plate_exports)
    lines = text.split("\r\n")
    a_row = lines[5]  # row A at 340 nm: 10 values, then 2 empty fields
    fields = a_row.split("\t")
    # one more empty field next to the empty run: unambiguous, the same values
    [same] = skanit.read(text.replace(a_row, a_row + "\t").encode(), "trailing.txt")
    assert _well(same, "A10", 340).value == 3.11104388403845 and "A11" not in set(same.reads["well"])
    # an empty field mid-row while the row also ends in empty fields: refused
    ambiguous = "\t".join(fields[:9] + [""] + fields[9:])
    message = _error(text.replace(a_row, ambiguous).encode(), "ambiguous.txt")
    assert message == (
        "ambiguous.txt: line 6: row A has 13 fields after the leading tab where 12 are expected; the extra field(s) "
        "cannot be placed safely (empty fields at positions 9, 12, 13); fix the line or export again."
    )
    # a full row (12 values) with one empty field inserted: only one way to drop it
    full = fields[:11] + ["1.5", "2.5"]
    inserted = "\t".join(full[:6] + [""] + full[6:])
    [plate] = skanit.read(text.replace(a_row, inserted).encode(), "inserted.txt")
    assert _well(plate, "A6", 340).value == float(fields[6])
    assert _well(plate, "A11", 340).value == 1.5 and _well(plate, "A12", 340).value == 2.5


def test_the_fixture_lines_with_14_fields_are_refused_when_read_as_endpoint(plate_exports):
    lines = _bytes(plate_exports, SPECTRUM_TXT).decode("ascii").split("\r\n")
    # the second iteration alone: its row B (14 fields) has an empty field mid-row and empty trailing fields
    text = "\r\n".join(lines[:4] + ["\tIteration: 1"] + lines[15:23] + [""])
    message = _error(text.encode(), "iter2.txt")
    assert message.startswith("iter2.txt: line 7: row B has 13 fields after the leading tab where 12 are expected")


def test_broken_multiskan_text(plate_exports):
    text = _single_read_text(plate_exports)
    lines = text.split("\r\n")
    truncated = "\r\n".join(lines[:9])
    assert _error(truncated.encode(), "t.txt") == (
        "t.txt: line 5: the read of plate 1 at 340 nm has 4 lines; expected 8 (96 wells) or 16 (384 wells), one per row."
    )
    short = text.replace(lines[7], "\t".join(lines[7].split("\t")[:9]))
    assert "line 8: row C has 8 fields after the leading tab; expected 12" in _error(short.encode(), "s.txt")
    letters = text.replace("\t0.212019643165458\t", "\tabc\t", 1)
    reads = pd.concat([p.reads for p in skanit.read(letters.encode(), "l.txt")])
    assert reads.loc[reads["marker"].eq("abc"), ["well", "flag"]].values.tolist() == [["A3", "invalid"]]
    labelled = text.replace(lines[6], "B" + lines[6])
    assert "line 7: row B starts with 'B'; expected a tab, then values." in _error(labelled.encode(), "b.txt")
    duplicated_row = text.replace(lines[7], lines[7] + "\r\n" + lines[7])
    assert "has 9 lines; expected 8 (96 wells)" in _error(duplicated_row.encode(), "d.txt")
    assert "no read found" in _error(b"Results of Photometric1\r\n\r\n", "e.txt")


# --- detection ----------------------------------------------------------------------------------


def test_registry_detects_every_skanit_fixture(plate_exports):
    for name in ALL:
        assert registry.detect(_bytes(plate_exports, name), name) is skanit, name
    plates = registry.read_plates(_bytes(plate_exports, REPORT), REPORT)
    assert [p.format for p in plates] == ["skanit"]
    for name in (SKY_KINETIC, SPECTRUM_TXT):
        with pytest.raises(InputError, match="kinetic reads"):
            registry.read_plates(_bytes(plate_exports, name), name)
    [plate] = registry.read_plates(_single_read_text(plate_exports).encode(), "single.txt")
    assert plate.format == "skanit" and plate.wavelengths == [340, 420]


def test_sniff_accepts_skanit_and_rejects_every_other_fixture(plate_exports):
    for name in ALL:
        assert skanit.sniff(_bytes(plate_exports, name), name)
    others = [p for p in plate_exports.glob("*/*") if p.parent.name != FOLDER and p.suffix != ".md"]
    assert len(others) > 10
    for path in others:
        assert not skanit.sniff(path.read_bytes(), path.name), path.name
    assert not skanit.sniff(b"PK\x03\x04 not really a zip", "x.xlsx")


TOKENS = ["", "\t", "\r\n", "A", "x", "1", "NaN", " > Max", "Iteration: 1", "Plate:2 - Wavelength:450", "-"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_text_exports_are_read_or_refused_in_one_line(plate_exports, data):
    text = _single_read_text(plate_exports)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.sampled_from(TOKENS)) + text[at + data.draw(st.integers(0, 6)) :]
    _read_or_refuse(text.encode(), "mut.txt")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_reports_are_refused_in_one_line(plate_exports, data):
    raw = bytearray(_bytes(plate_exports, data.draw(st.sampled_from([REPORT, SKY_KINETIC]))))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    assert skanit.sniff(bytes(raw), "mut.xlsx") in (True, False)
    _read_or_refuse(bytes(raw), "mut.xlsx")


def _read_or_refuse(data: bytes, name: str) -> None:
    try:
        plates = skanit.read(data, name)
    except InputError as err:
        assert str(err).startswith(f"{name}: ") and "\n" not in str(err)
        return
    for plate in plates:
        registry.check_plate(plate, name)
