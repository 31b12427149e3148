# long module: every SoftMax block layout (plate, time, notes, groups, odd cells) against the real exports.
"""SoftMax Pro text reader: the real exports in ../shared, the registry, and broken or unusual variants."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd
import pytest

from labdb.core.errors import InputError
from labdb.readers import registry, softmax
from labdb.readers.canonical import READ_COLUMNS

FOLDER = "molecular_devices_softmax"
ELISA_630 = "softmax_elisa_450_630_plateformat.txt"
GROUPS_650 = "softmax_elisa_450_650_plateformat_groups.txt"
UTF16_4PLATES = "softmax_abs450_4plates_utf16le.txt"
TIME_REDUCED = "softmax_elisa_450_650_timeformat_reduced.txt"
ALL = [ELISA_630, GROUPS_650, UTF16_4PLATES, TIME_REDUCED]


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / FOLDER / name).read_bytes()


def _read(plate_exports, name: str):
    return softmax.read(_bytes(plate_exports, name), name)


def _well(plate, well: str, wavelength: int | None) -> pd.Series:
    reads = plate.reads
    at = reads["wavelength_nm"].isna() if wavelength is None else reads["wavelength_nm"] == wavelength
    rows = reads[(reads["well"] == well) & at]
    assert len(rows) == 1, (well, wavelength)
    return rows.iloc[0]


def _values(plate, wavelength: int | None) -> dict[str, float]:
    return {well: _well(plate, well, wavelength).value for well in ("A1", "D6", "E5", "H1", "H12")}


# --- real exports -------------------------------------------------------------------------------


def test_elisa_450_630_side_by_side_grids(plate_exports):
    [plate] = _read(plate_exports, ELISA_630)
    assert plate.format == "softmax" and plate.name == "final read" and plate.n_wells == 96
    assert plate.wavelengths == [450, 630]
    assert list(plate.reads.columns) == READ_COLUMNS and len(plate.reads) == 192
    assert str(plate.reads["wavelength_nm"].dtype) == "Int64"
    # Line 4 is row A (temperature 37 in its second cell), line 11 row H; 630 nm starts after one empty cell.
    assert _values(plate, 450) == {"A1": 2.8864, "D6": 0.7142, "E5": 0.6682, "H1": 0.0632, "H12": 0.4211}
    assert _values(plate, 630) == {"A1": 0.0566, "D6": 0.0345, "E5": 0.0347, "H1": 0.0329, "H12": 0.0329}
    assert _well(plate, "A12", 450).value == 0.5058 and _well(plate, "A1", 630).row == "A"
    assert (plate.reads["flag"] == "ok").all()
    assert plate.read_time == datetime(2020, 11, 12, 13, 23, 30)  # Date Last Saved, M/D/Y
    assert plate.software_version is None and plate.instrument is None
    extra = plate.extra
    assert extra["export_version"] == "1.3" and extra["export_format"] == "PlateFormat"
    assert (extra["read_type"], extra["read_mode"], extra["data_type"]) == ("Endpoint", "Absorbance", "Raw")
    assert (extra["num_wavelengths"], extra["wavelengths"]) == ("2", "450 630")
    shape = (extra["first_column"], extra["num_columns"], extra["num_wells"], extra["num_rows"])
    assert shape == ("1", "12", "96", "8")
    assert extra["temperature_c"] == "37"
    assert extra["reduced_data"] == "empty"  # the second grid is all single spaces
    assert extra["original_filename"] == "2020-11-12_MM_csELISA-022"
    assert extra["date_last_saved"] == "11/12/2020 1:23:30 PM"
    assert "name" not in extra and "group_blocks" not in extra


def test_elisa_450_650_with_group_blocks(plate_exports):
    [plate] = _read(plate_exports, GROUPS_650)
    assert plate.name == "Plate01" and plate.wavelengths == [450, 650] and len(plate.reads) == 192
    assert _values(plate, 450) == {"A1": 0.4011, "D6": 0.1156, "E5": 0.465, "H1": 0.1478, "H12": 0.1104}
    assert _values(plate, 650) == {"A1": 0.0394, "D6": 0.0389, "E5": 0.037, "H1": 0.0437, "H12": 0.0369}
    assert (plate.reads["flag"] == "ok").all()  # 'Range?' sits in a Group table, not in the plate
    assert plate.read_time == datetime(2025, 4, 21, 13, 40, 24)
    assert plate.extra["group_blocks"] == "Standards; Controls; Samples"
    assert plate.extra["temperature_c"] == "21.8"
    assert "reduced_data" not in plate.extra


def test_utf16_file_with_two_plates(plate_exports):
    plates = _read(plate_exports, UTF16_4PLATES)
    assert [p.name for p in plates] == ["Plate01", "Plate02"]  # the other two blocks are Group: blocks
    first, second = plates
    assert first.wavelengths == [450] and second.wavelengths == [450]
    assert len(first.reads) == 96 and len(second.reads) == 96
    assert _values(first, 450) == {
        "A1": 3.41797666666667,
        "D6": 2.36194642166667,
        "E5": 2.01368360166667,
        "H1": 7.66666666666667e-05,
        "H12": 2.68254658466667,
    }
    assert _well(first, "H2", 450).value == -0.000243333333333333
    assert _well(second, "A1", 450).value == 3.43082333333333
    assert _well(second, "H12", 450).value == 1.79018796133333
    # The raw grid is read, not the reduced one below it (3.4179766666666667 at full precision).
    assert first.extra["reduced_data"] == "present, not read: reads are raw values"
    assert "temperature_c" not in first.extra  # NaN
    assert first.extra["group_blocks"] == "Standards; UnknownsNoDiln"
    assert first.read_time == second.read_time == datetime(2023, 11, 27, 10, 43, 25)


def test_utf16_reads_the_same_as_its_text_in_utf8_with_lf(plate_exports):
    data = _bytes(plate_exports, UTF16_4PLATES)
    assert data.startswith(b"\xff\xfe")
    text = data.decode("utf-16")
    for copy in (text.encode("utf-8"), text.replace("\r\n", "\n").encode("utf-8")):
        for a, b in zip(softmax.read(data, "a.txt"), softmax.read(copy, "b.txt"), strict=True):
            pd.testing.assert_frame_equal(a.reads, b.reads)
            assert (a.name, a.read_time, a.extra) == (b.name, b.read_time, b.extra)


def test_timeformat_reduced_values_have_no_wavelength(plate_exports):
    [plate] = _read(plate_exports, TIME_REDUCED)
    assert plate.name == "Plate1" and plate.wavelengths == [None] and len(plate.reads) == 96
    assert _values(plate, None) == {
        "A1": 1.8565999999999998,
        "D6": 0.47680000000000006,
        "E5": 0.34390000000000004,
        "H1": 0.95110000000000006,
        "H12": -0.0001,
    }
    assert _well(plate, "E7", None).value == 0.16360000000000002
    assert _well(plate, "A12", None).value == 0.0 and _well(plate, "H11", None).value == -0.0002
    assert plate.reads["well"].tolist()[:13] == [f"A{c}" for c in range(1, 13)] + ["B1"]
    assert plate.extra["data_type"] == "Reduced" and plate.extra["export_format"] == "TimeFormat"
    assert plate.extra["wavelengths"] == "450 650"
    assert "reduced values" in plate.extra["values"]
    assert plate.extra["note_blocks"] == "2 untitled"
    assert plate.extra["group_blocks"] == "Control; Matrix_Spike_1; Matrix_Spike_2; Standards; Samples"
    assert plate.read_time == datetime(2025, 1, 17, 12, 13, 53)


# --- registry and sniffing ----------------------------------------------------------------------


def test_registry_picks_softmax_for_every_softmax_fixture(plate_exports):
    counts = {}
    for name in ALL:
        data = _bytes(plate_exports, name)
        assert registry.detect(data, name) is softmax, name
        plates = registry.read_plates(data, name)
        assert all(p.format == "softmax" for p in plates)
        counts[name] = [(p.name, p.wavelengths) for p in plates]
    assert counts == {
        ELISA_630: [("final read", [450, 630])],
        GROUPS_650: [("Plate01", [450, 650])],
        UTF16_4PLATES: [("Plate01", [450]), ("Plate02", [450])],
        TIME_REDUCED: [("Plate1", [None])],
    }


def test_sniff_is_false_for_every_other_fixture(plate_exports):
    others = [p for p in plate_exports.glob("*/*") if p.parent.name != FOLDER]
    assert len(others) > 10
    for path in others:
        assert not softmax.sniff(path.read_bytes(), path.name), path.name
    for name in ALL:
        assert softmax.sniff(_bytes(plate_exports, name), name)


# --- markers ------------------------------------------------------------------------------------


def _lines(plate_exports, name: str = ELISA_630) -> list[str]:
    return _bytes(plate_exports, name).decode("utf-8").split("\n")


def _set_cell(lines: list[str], line_no: int, cell: int, value: str) -> list[str]:
    """A copy with cell (0-based, tab-separated) of 1-based line_no replaced."""
    out = list(lines)
    cells = out[line_no - 1].split("\t")
    cells[cell] = value
    out[line_no - 1] = "\t".join(cells)
    return out


def test_markers_become_flags_with_nan_values_and_keep_their_text(plate_exports):
    lines = _lines(plate_exports)
    # Line 4 is row A: cells 2-13 are A1-A12 at 450 nm, cell 14 is empty, cells 15-26 are A1-A12 at 630 nm.
    for cell, marker in [(2, "Range?"), (3, "#Sat"), (4, "Sat"), (5, "Error"), (6, ""), (7, " "), (15, "OVRFLW")]:
        lines = _set_cell(lines, 4, cell, marker)
    [plate] = softmax.read("\n".join(lines).encode(), "markers.txt")
    expected = {
        "A1": ("invalid", "Range?"),
        "A2": ("overflow", "#Sat"),
        "A3": ("overflow", "Sat"),
        "A4": ("invalid", "Error"),
        "A5": ("missing", None),
        "A6": ("missing", None),
    }
    for well, (flag, marker) in expected.items():
        row = _well(plate, well, 450)
        assert row.flag == flag and math.isnan(row.value), well
        assert pd.isna(row.marker) if marker is None else row.marker == marker, well
    assert (_well(plate, "A1", 630).flag, _well(plate, "A1", 630).marker) == ("overflow", "OVRFLW")
    assert _well(plate, "A7", 450).value == 0.5062 and _well(plate, "A2", 630).value == 0.0575
    assert pd.isna(_well(plate, "A7", 450).marker)
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 185, "invalid": 2, "overflow": 3, "missing": 2}


def test_pathcheck_failure_and_a_flagged_number_flag_one_well_each(plate_exports):
    # SoftMax writes 'Path?' where PathCheck failed (allotropy's abs_endpoint_plates.txt, well B1): the well is
    # invalid with that marker and the plate is read; a number between asterisks keeps its number, flagged.
    lines = _set_cell(_set_cell(_lines(plate_exports), 5, 2, "Path?"), 5, 16, "*0.0461*")  # B1 at 450, B2 at 630
    [plate] = registry.read_plates("\n".join(lines).encode(), "path.txt")
    b1 = _well(plate, "B1", 450)
    assert (b1.flag, b1.marker) == ("invalid", "Path?") and math.isnan(b1.value)
    b2 = _well(plate, "B2", 630)
    assert (b2.flag, b2.value, b2.marker) == ("flagged", 0.0461, "*0.0461*")
    assert _well(plate, "B2", 450).value == 1.6721 and _well(plate, "B1", 630).value == 0.0442
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 190, "invalid": 1, "flagged": 1}


# --- broken files -------------------------------------------------------------------------------


def _error(lines: list[str] | str, name: str = "run7.txt") -> str:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    with pytest.raises(InputError) as err:
        softmax.read(text.encode("utf-8"), name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


def test_truncated_mid_grid(plate_exports):
    lines = _lines(plate_exports)
    message = _error(lines[:8] + [""])  # header on line 3, rows A-E on lines 4-8
    assert message.startswith("run7.txt: line 9: plate 'final read': the grid stops after 5 of its 8 rows (A-H).")
    message = _error(lines[:7] + [lines[7][:40]])  # cut inside row E
    assert message.startswith("run7.txt: line 8: plate 'final read': row E has 8 cells (its header 29)")


def test_truncated_after_the_grid(plate_exports):
    lines = _lines(plate_exports, GROUPS_650)
    message = _error(lines[:20])
    assert message.startswith("run7.txt: line 20: the file ends inside block 'Group: Standards' (from line 14)")
    assert "truncated" in message


def test_row_with_an_extra_cell(plate_exports):
    lines = _lines(plate_exports)
    cells = lines[5].split("\t")
    lines[5] = "\t".join(cells[:5] + ["0.5"] + cells[5:])  # line 6, row C
    message = _error(lines)
    assert message.startswith("run7.txt: line 6: plate 'final read': row C has '0.1348' in cell 15; expected time,")


def test_row_with_a_missing_cell(plate_exports):
    lines = _lines(plate_exports, GROUPS_650)
    cells = lines[9].split("\t")
    lines[9] = "\t".join(cells[:5] + cells[6:])  # line 10, row G
    assert "line 10: plate 'Plate01': row G has " in _error(lines)


def test_letters_in_the_grid_flag_that_well_and_the_plate_is_read(plate_exports):
    # Issue 13: one odd cell never refuses the plate (it used to); the well is invalid with the cell's text.
    lines = _set_cell(_lines(plate_exports), 5, 6, "abc")  # line 5 is row B; cell 6 is B5 at 450 nm
    [plate] = registry.read_plates("\n".join(lines).encode(), "run7.txt")
    b5 = _well(plate, "B5", 450)
    assert (b5.flag, b5.marker) == ("invalid", "abc") and math.isnan(b5.value)
    assert _well(plate, "B5", 630).flag == "ok" and _well(plate, "B6", 450).value == 0.6056
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 191, "invalid": 1}
    lines = _set_cell(_lines(plate_exports, TIME_REDUCED), 21, 10, "x1")  # TimeFormat: cell 10 is A9
    [plate] = registry.read_plates("\n".join(lines).encode(), "run7.txt")
    a9 = _well(plate, "A9", None)
    assert (a9.flag, a9.marker) == ("invalid", "x1") and math.isnan(a9.value)
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 95, "invalid": 1}


def test_repeated_reads_at_one_wavelength_are_refused_by_name(plate_exports):
    # allotropy's abs_endpoint_plates.txt lists '426 426 426': three reads the canonical form (one read per well and
    # wavelength) cannot hold apart yet, so they are refused, never merged or dropped.
    lines = _lines(plate_exports)
    lines[1] = lines[1].replace("\t450 630 \t", "\t450 450 \t")
    message = _error(lines)
    assert message.startswith("run7.txt: line 2: plate 'final read': the wavelengths '450 450' hold 2 reads at 450 nm;")
    assert "one read per well and wavelength" in message


def test_block_count_that_does_not_match(plate_exports):
    lines = _lines(plate_exports)
    lines[0] = "##BLOCKS= 2"
    message = _error(lines)
    assert message.startswith("run7.txt: line 1: '##BLOCKS= 2' announces 2 blocks but the file holds 1")


def test_missing_end_line(plate_exports):
    lines = _lines(plate_exports, GROUPS_650)
    assert lines[12] == "~End"
    del lines[12]
    message = _error(lines)
    assert message.startswith("run7.txt: line 13: a new block starts inside block 'Plate: Plate01' (line 2)")


def test_kinetic_header_is_refused(plate_exports):
    lines = _lines(plate_exports)
    lines[1] = lines[1].replace("\tEndpoint\tAbsorbance\tRaw\tFALSE\t1\t", "\tKinetic\tAbsorbance\tRaw\tFALSE\t5\t")
    message = _error(lines)
    assert message.startswith("run7.txt: line 2: plate 'final read': a Kinetic read with 5 time points;")
    assert "kinetic reads are not supported" in message


def test_kinetic_time_points_are_refused_even_under_an_endpoint_header(plate_exports):
    lines = _lines(plate_exports)
    second = ["00:01:00" + line for line in lines[3:11]]  # a second time point: 8 more rows after a blank line
    message = _error(lines[:11] + [""] + second + lines[11:])
    assert message.startswith("run7.txt: line 13: plate 'final read': a second read of the plate follows the first")
    assert "kinetic reads are not supported" in message
    time_lines = _lines(plate_exports, TIME_REDUCED)
    message = _error(time_lines[:21] + [time_lines[20]] + time_lines[21:])
    assert "line 22: plate 'Plate1': the read has more than one line (time points); kinetic reads" in message


def test_other_header_problems(plate_exports):
    lines = _lines(plate_exports)
    spectrum = lines[1].replace("\tEndpoint\t", "\tSpectrum\t")
    assert "read type 'Spectrum'; only Endpoint" in _error([lines[0], spectrum, *lines[2:]])
    wrong_count = lines[1].replace("\t2\t450 630 \t", "\t3\t450 630 \t")
    assert "line 2: plate 'final read': the wavelengths '450 630' are not 3 whole numbers" in _error([lines[0], wrong_count, *lines[2:]])
    plate48 = lines[1].replace("\t12\t96\t", "\t8\t48\t")
    assert "a plate of '48' wells; labdb reads 96- and 384-well plates" in _error([lines[0], plate48, *lines[2:]])
    assert _error(lines[1:]).startswith("run7.txt: line 1: expected '##BLOCKS= N' first, found 'Plate:")


def test_no_plate_block(plate_exports):
    lines = _lines(plate_exports, GROUPS_650)
    only_groups = ["##BLOCKS= 3", *lines[13:]]
    assert "no 'Plate:' block" in _error(only_groups)


# --- Note blocks: free text, cut at '~End' ----------------------------------------------------


def _plate_block(name: str, base: float) -> list[str]:
    """A one-wavelength (450 nm) 96-well PlateFormat Plate: block; well (r, c) holds base + r + c / 100."""
    fields = [name, "1.3", "PlateFormat", "Endpoint", "Absorbance", "Raw", "FALSE", "1", "", "", "", "", ""]
    lines = ["\t".join(["Plate:", *fields, "1", "450 ", "1", "12", "96", "1", "8"])]
    lines.append("\tTemperature(¡C)\t" + "\t".join(str(c) for c in range(1, 13)))
    for r in range(8):
        lines.append(("\t23.0\t" if r == 0 else "\t\t") + "\t".join(f"{base + r + c / 100:.2f}" for c in range(1, 13)))
    return [*lines, "", "~End"]


NOTE = [
    "Note:\tRun notes",
    "Plate: 2 was read after a 10 min wait.",
    "Group: Standards diluted 1:2 in assay buffer",
    "Note: see the lab book",
    "~End of incubation at 10:05, read at 10:15",
    "~Ended early: well H12 was empty",
    "\tA tab-led line\t1\t2\t3",
    "~End",
]


def test_note_lines_that_begin_like_blocks_are_text_and_the_plates_around_it_are_read():
    text = "\r\n".join(["##BLOCKS= 3", *_plate_block("Before", 0.0), *NOTE, *_plate_block("After", 10.0), "Original Filename: n"])
    before, after = registry.read_plates(text.encode("utf-8"), "notes.txt")
    assert (before.name, after.name) == ("Before", "After")
    assert _well(before, "A1", 450).value == 0.01 and _well(before, "H12", 450).value == 7.12
    assert _well(after, "A1", 450).value == 10.01 and _well(after, "H12", 450).value == 17.12
    assert all((p.reads["flag"] == "ok").all() and len(p.reads) == 96 for p in (before, after))
    assert before.extra["note_blocks"] == after.extra["note_blocks"] == "Run notes"
    assert before.extra["original_filename"] == "n"
    # The same Note first, in UTF-16 as SoftMax writes it.
    text = "\r\n".join(["##BLOCKS= 2", *NOTE, *_plate_block("Only", 1.0), ""])
    [only] = softmax.read(text.encode("utf-16"), "notes.txt")
    assert only.name == "Only" and _well(only, "B3", 450).value == 2.03


def test_a_note_missing_its_end_line_is_named_not_split_at_a_keyword():
    # Without its '~End' the Note runs on to the next '~End': the block count no longer matches, and the message
    # points at the first line inside the Note that starts like a block.
    note = [line for line in NOTE if line != "~End"]
    text = "\n".join(["##BLOCKS= 2", *note, *_plate_block("P", 0.0)])
    message = _error(text, "notes.txt")
    assert message.startswith("notes.txt: line 1: '##BLOCKS= 2' announces 2 blocks but the file holds 1")
    assert "(line 3, inside block 'Note: Run notes', starts like a block: is the '~End' before it missing?)" in message


# --- a 384-well plate ---------------------------------------------------------------------------


def test_384_well_plate_with_unread_wells():
    fields = ["P384", "1.3", "PlateFormat", "Endpoint", "Absorbance", "Raw", "FALSE", "1", "", "", "", "", ""]
    header = "\t".join(["Plate:", *fields, "1", "450 ", "1", "24", "384", "1", "16", "", ""])
    grid = ["\tTemperature(¡C)\t" + "\t".join(str(c) for c in range(1, 25)) + "\t\t"]
    for r in range(16):
        values = [f"{r + c / 100:.2f}" if r < 4 else "" for c in range(1, 25)]
        grid.append(("\t25.0\t" if r == 0 else "\t\t") + "\t".join(values) + "\t\t")
    footer = "Original Filename: x; Date Last Saved: 1/2/2024 9:05:00 AM"
    text = "\r\n".join(["##BLOCKS= 1", header, *grid, "", "~End", footer])
    [plate] = softmax.read(text.encode("utf-16"), "p384.txt")
    assert plate.n_wells == 384 and len(plate.reads) == 384
    assert _well(plate, "A1", 450).value == 0.01 and _well(plate, "D24", 450).value == 3.24
    p24 = _well(plate, "P24", 450)
    assert p24.flag == "missing" and math.isnan(p24.value)
    assert plate.reads["flag"].value_counts().to_dict() == {"missing": 288, "ok": 96}
    assert plate.read_time == datetime(2024, 1, 2, 9, 5)
    registry.check_plate(plate, "p384.txt")


def test_fluorescence_header_and_a_partial_plate():
    # Field order of a fluorescence Plate: line (bottom-read flag after the read mode, optics before the rows),
    # as in allotropy's fixtures: 3 emission wavelengths, columns 3-10 and rows C-F read.
    header = (
        "Plate:\tPlate1\t1.3\tPlateFormat\tEndpoint\tFluorescence\tFALSE\tRaw\tFALSE\t1\t\t\t\t\t"
        "\t3\t535 610 720 \t3\t8"
        "\t96\t485 550 650 \tManual\t\t\t\t6\t\t\t\t3\t4\t485 550 650 \t\t"
    )
    grid = ["\tTemperature(¡C)\t" + "\t\t".join("\t".join(str(c) for c in range(1, 13)) for _ in range(3)) + "\t\t"]
    for r in range(8):
        per_wavelength = [
            "\t".join(str(1000 * k + 10 * r + c) if 2 <= r <= 5 and 3 <= c <= 10 else "" for c in range(1, 13)) for k in range(1, 4)
        ]
        grid.append(("\t22.5\t" if r == 0 else "\t\t") + "\t\t".join(per_wavelength) + "\t\t")
    text = "\n".join(["##BLOCKS= 1", header, *grid, "", "~End", ""])
    [plate] = softmax.read(text.encode(), "fluor.txt")
    assert plate.wavelengths == [535, 610, 720] and len(plate.reads) == 288
    assert _well(plate, "C3", 535).value == 1023 and _well(plate, "F10", 720).value == 3060
    assert _well(plate, "A1", 610).flag == "missing" and _well(plate, "C11", 535).flag == "missing"
    assert plate.reads["flag"].value_counts().to_dict() == {"missing": 192, "ok": 96}
    extra = plate.extra
    assert (extra["read_mode"], extra["bottom_read"], extra["data_type"]) == ("Fluorescence", "FALSE", "Raw")
    assert (extra["excitation_wavelengths"], extra["reads_per_well"]) == ("485 550 650", "6")
    shape = (extra["first_column"], extra["num_columns"], extra["first_row"], extra["num_rows"])
    assert shape == ("3", "8", "3", "4")
    assert extra["temperature_c"] == "22.5"
    assert plate.read_time is None and "read_time_source" not in extra


def test_timeformat_raw_two_wavelengths_and_a_reduced_line():
    wells = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
    line = "\t".join
    header = "Plate:\tP\t1.3\tTimeFormat\tEndpoint\tAbsorbance\tRaw\tFALSE\t1\t\t\t\t\t\t2\t450 650 \t1\t12\t96\t1\t8"
    rows = [
        line(["Time", "Temperature(¡C)", *wells, ""]),
        line(["00:00:00", "24.1", *(f"{0.5 + i / 1000:.3f}" for i in range(96)), ""]),
        "",
        line(["00:00:00", "24.1", *(f"{0.05 + i / 10000:.4f}" for i in range(96)), ""]),
        "",
        line(["", "", *wells, ""]),
        line(["", "", *(f"{0.45 + i / 1000:.4f}" for i in range(96)), ""]),
    ]
    text = "\r\n".join(["##BLOCKS= 1", header, *rows, "~End", ""])
    [plate] = softmax.read(text.encode(), "time.txt")
    assert plate.wavelengths == [450, 650] and len(plate.reads) == 192
    assert _well(plate, "A1", 450).value == 0.5 and _well(plate, "H12", 450).value == 0.595
    assert _well(plate, "A1", 650).value == 0.05 and _well(plate, "H12", 650).value == 0.0595
    assert plate.extra["reduced_data"] == "present, not read: reads are raw values"
    assert plate.extra["temperature_c"] == "24.1"
    message = _error(text.replace("\r\n\r\n" + rows[3], ""), "time.txt")  # the 650 nm line is gone
    assert message.startswith("time.txt: line 6: plate 'P': expected the read at 650 nm here.")
    message = _error(text.replace(rows[3], rows[3] + "\r\n" + rows[3]), "time.txt")  # two time points
    assert message.startswith("time.txt: line 7: plate 'P': the read at 650 nm has more than one line (time points)")
