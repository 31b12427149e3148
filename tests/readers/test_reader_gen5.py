# long module: every Gen5 layout (text, csv, partial grids, read labels, odd cells) against the real exports.
"""Gen5 text reader: the real exports in ../shared, bad input, and round trips of write_text()."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdb.core.errors import InputError
from labdb.readers import gen5
from labdb.readers.base import expand_flags
from labdb.readers.canonical import READ_COLUMNS
from qc.vocab import well_name

SYNERGY = "gen5_synergyh1_abs450_ovrflw_missed.txt"
EPOCH = "gen5_epoch_abs_2wavelengths_280_325.txt"
LAYOUT = "gen5_abs630_layout_blank_concentration.txt"
KINETIC = "gen5_synergyneo2_kinetic_od600_gfp.csv"


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / "agilent_biotek_gen5" / name).read_bytes()


def _read(plate_exports, name: str):
    return gen5.read(_bytes(plate_exports, name), name)


def _well(plate, well: str, wavelength: int) -> pd.Series:
    rows = plate.reads[(plate.reads["well"] == well) & (plate.reads["wavelength_nm"] == wavelength)]
    assert len(rows) == 1, (well, wavelength)
    return rows.iloc[0]


def _by_key(plate) -> dict[tuple[str, int], tuple[float, str]]:
    return {(r.well, int(r.wavelength_nm)): (r.value, r.flag) for r in plate.reads.itertuples()}


# --- real exports -------------------------------------------------------------------------------


def test_synergy_h1_values_flags_and_metadata(plate_exports):
    [plate] = _read(plate_exports, SYNERGY)
    assert plate.format == "gen5_text"
    assert plate.name == "Plate 1"
    assert plate.n_wells == 96
    assert plate.instrument == "Synergy H1"
    assert plate.serial == "Unknown"
    assert plate.software_version == "3.12.08"
    assert plate.read_time == datetime(2024, 4, 11, 17, 27, 15)
    assert plate.wavelengths == [450]
    assert list(plate.reads.columns) == READ_COLUMNS
    assert len(plate.reads) == 96
    assert _well(plate, "A1", 450).value == 2.100
    assert _well(plate, "A7", 450).value == 2.270
    assert _well(plate, "H12", 450).value == 2.500
    a8 = _well(plate, "A8", 450)
    assert a8.flag == "overflow" and math.isnan(a8.value)
    d12 = _well(plate, "D12", 450)
    assert d12.flag == "missing" and math.isnan(d12.value)
    assert _well(plate, "H1", 450).flag == "overflow"
    assert plate.reads["flag"].value_counts().to_dict() == {"ok": 83, "overflow": 8, "missing": 5}
    assert plate.extra["Reading Type"] == "Simulation"
    assert plate.extra["Experiment File Path"] == ""
    assert plate.extra["Protocol File Path"].endswith("20240411_abs450_96well.prt")
    assert "Wavelengths:  450" in plate.extra["Procedure Details"]


def test_synergy_h1_canonical_dtypes(plate_exports):
    reads = _read(plate_exports, SYNERGY)[0].reads
    assert str(reads["wavelength_nm"].dtype) == "Int64"
    assert reads["column"].tolist()[:12] == list(range(1, 13))
    assert reads["row"].iloc[-1] == "H"
    assert reads["value"].dtype == float


def test_epoch_two_wavelengths_parsed_by_label_not_position(plate_exports):
    [plate] = _read(plate_exports, EPOCH)
    assert plate.wavelengths == [280, 325]
    assert len(plate.reads) == 192
    assert _well(plate, "A1", 280).value == 1.8012
    assert _well(plate, "A1", 325).value == 0.9066
    # Row B lists 325 first, then 280.
    assert _well(plate, "B1", 325).value == 1.6629
    assert _well(plate, "B1", 280).value == 1.0033
    assert _well(plate, "B10", 280).value == 2.0605
    assert _well(plate, "H12", 325).value == 0.0407
    assert (plate.reads["flag"] == "ok").all()
    assert plate.instrument == "Epoch"
    assert plate.serial == "1234567"
    assert plate.read_time == datetime(2025, 1, 2, 12, 30, 25)  # 01/02/2025 is month-first in Gen5
    assert plate.extra["Actual Temperature"] == "0.0"


def test_layout_and_derived_rows_are_not_reads(plate_exports):
    [plate] = _read(plate_exports, LAYOUT)
    assert plate.wavelengths == [630]
    assert len(plate.reads) == 96
    assert _well(plate, "A1", 630).value == 3.337  # the raw read, not the blanked 3.336
    assert _well(plate, "H1", 630).value == 0.001  # blanked value is -0.000
    assert _well(plate, "H12", 630).value == 0.194
    assert plate.reads["value"].max() < 4  # no [Concentration] (1980.423 ...)
    assert (plate.reads["flag"] == "ok").all()
    assert plate.instrument == "n/a"
    assert plate.read_time == datetime(2022, 10, 10, 21, 0, 4)
    assert plate.extra["Derived reads skipped"] == "Blank 630nmAbsRead:630; [Concentration]"
    assert plate.extra["Reading Type"] == "Manual"


def test_kinetic_export_is_refused_clearly(plate_exports):
    with pytest.raises(InputError) as err:
        _read(plate_exports, KINETIC)
    message = str(err.value)
    assert message.startswith(f"{KINETIC}: line 26: ")
    assert "kinetic reads are not supported" in message
    assert "\n" not in message


def test_sniff_accepts_gen5_text_and_rejects_other_vendors(plate_exports):
    for name in (SYNERGY, EPOCH, LAYOUT, KINETIC):
        assert gen5.sniff(_bytes(plate_exports, name), name)
    others = [p for p in plate_exports.glob("*/*") if p.suffix in (".txt", ".csv") and "gen5" not in p.name]
    assert others
    for path in others:
        assert not gen5.sniff(path.read_bytes(), path.name), path.name


def test_comma_delimited_and_utf16_copies_read_the_same(plate_exports):
    data = _bytes(plate_exports, EPOCH)
    [tab] = gen5.read(data, EPOCH)
    [comma] = gen5.read(data.replace(b"\t", b","), "epoch.csv")
    [utf16] = gen5.read(data.decode("ascii").encode("utf-16"), "epoch16.txt")
    pd.testing.assert_frame_equal(tab.reads, comma.reads)
    pd.testing.assert_frame_equal(tab.reads, utf16.reads)
    assert comma.read_time == tab.read_time and comma.instrument == "Epoch"


# --- bad input ----------------------------------------------------------------------------------


def _synergy_text(plate_exports) -> str:
    return _bytes(plate_exports, SYNERGY).decode("ascii")


def _error(text: str, name: str = "run7.txt") -> str:
    with pytest.raises(InputError) as err:
        gen5.read(text.encode(), name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


def test_row_beyond_the_plate(plate_exports):
    text = _synergy_text(plate_exports).replace("\r\nH\t", "\r\nI\t")
    assert _error(text) == "run7.txt: line 38: row 'I' does not exist on a 96-well plate (rows A-H)."


def test_rows_out_of_order(plate_exports):
    text = _synergy_text(plate_exports).replace("\r\nD\t", "\r\nB\t")
    assert _error(text).startswith("run7.txt: line 34: row 'B' comes after row 'C'")


def test_header_with_eleven_columns(plate_exports):
    # Issue 13: a header may be a partial plate's (columns 1-11 alone is allowed), so the refusal is now at the first
    # row, which holds 12 values under a header of 11 columns.
    text = _synergy_text(plate_exports).replace("\t10\t11\t12\r\n", "\t10\t11\r\n")
    assert _error(text) == (
        "run7.txt: line 31: row 'A' has 13 cells after its row letter, but the grid header has columns 1-11: a Gen5 grid "
        "row has 11 values and then the read label. The file looks damaged: export it from Gen5 again."
    )


def test_header_beyond_column_24(plate_exports):
    header = "\t" + "\t".join(str(c) for c in range(1, 49))
    text = _synergy_text(plate_exports).replace("\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\r\n", header + "\r\n")
    assert _error(text) == (
        "run7.txt: line 30: the grid header has columns 1-48; a Gen5 plate has columns 1-12 (96 wells) or 1-24 (384 wells)."
    )


def test_no_results_grid(plate_exports):
    text = _synergy_text(plate_exports).split("Results")[0]
    assert "no Results grid" in _error(text)


def test_two_reads_with_the_same_label(plate_exports):
    text = _bytes(plate_exports, EPOCH).decode("ascii").replace("\t0.0522\t325\r\n", "\t0.0522\t280\r\n")
    message = _error(text)
    assert "line 57: row 'B' has a second read at 280 nm (the first is on line 56): '280' after '280'" in message


# --- the writer ---------------------------------------------------------------------------------

WELLS_96 = [well_name(r, c) for r in range(8) for c in range(12)]


def _expected(values: dict[int, np.ndarray], flags: dict[str, str]) -> dict[tuple[str, int], tuple[float, str]]:
    marks = expand_flags(flags, list(values), next(iter(values.values())).shape)
    out = {}
    for w, grid in values.items():
        for r in range(grid.shape[0]):
            for c in range(grid.shape[1]):
                flag = marks.get((well_name(r, c), w), "ok")
                out[well_name(r, c), w] = (float(f"{grid[r, c]:.4f}") if flag == "ok" else math.nan, flag)
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (value, flag) in want.items():
        assert got[key][1] == flag, key
        assert (math.isnan(got[key][0]) and math.isnan(value)) or got[key][0] == value, key


def test_write_text_looks_like_a_gen5_export():
    rng = np.random.default_rng(1)
    plate = {
        "name": "Plate 1",
        "read_time": datetime(2024, 4, 11, 17, 27, 15),
        "instrument": "Synergy H1",
        "serial": "21051814",
        "values": {450: rng.uniform(0, 3, (8, 12)), 630: rng.uniform(0, 0.1, (8, 12))},
        "flags": {"A8@450": "overflow", "D12": "missing"},
    }
    data = gen5.write_text([plate])
    text = data.decode("ascii")
    assert text.count("\r\n") == text.count("\n")
    assert text.startswith("\r\n\r\nSoftware Version\t3.12.08\r\n")
    assert "\r\nDate\t4/11/2024\r\nTime\t5:27:15 PM\r\nReader Type:\tSynergy H1\r\n" in text
    assert "\tWavelengths:  450, 630\r\n" in text
    lines = text.split("\r\n")
    a_line = next(line for line in lines if line.startswith("A\t"))
    assert a_line.split("\t")[8] == "OVRFLW" and a_line.endswith("\t450")
    continuation = lines[lines.index(a_line) + 1].split("\t")
    assert continuation[0] == "" and continuation[-1] == "630" and len(continuation[2]) == 6  # 0.0xxx
    assert "MISSED" in lines[lines.index(a_line) + 6]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    wavelengths=st.sampled_from([[450], [450, 630], [630, 450], [450, 540, 570]]),
    flags=st.dictionaries(st.sampled_from(WELLS_96), st.sampled_from(["overflow", "missing", "invalid"]), max_size=8),
    when=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)),
    read_name=st.sampled_from([None, "abs450", "Read 1"]),
    delimiter=st.sampled_from(["\t", ","]),
)
def test_write_text_round_trip(seed, wavelengths, flags, when, read_name, delimiter):
    rng = np.random.default_rng(seed)
    values = {w: rng.uniform(-0.05, 4.0, (8, 12)) for w in wavelengths}
    values[wavelengths[0]][0, 0] = np.nan  # an unflagged NaN is written MISSED
    flags = {**flags, "H12@" + str(wavelengths[-1]): "overflow"}
    when = when.replace(microsecond=0)
    plate = {
        "name": "Run 5",
        "read_time": when,
        "instrument": "Epoch",
        "serial": "X1",
        "values": values,
        "flags": flags,
        "read_name": read_name,
    }
    [got] = gen5.read(gen5.write_text([plate], delimiter=delimiter), "sim.txt")
    want = _expected(values, flags)
    if ("A1", wavelengths[0]) not in expand_flags(flags, wavelengths, (8, 12)):
        want["A1", wavelengths[0]] = (math.nan, "missing")
    _assert_same(_by_key(got), want)
    assert (got.name, got.read_time, got.instrument, got.serial) == ("Run 5", when, "Epoch", "X1")
    assert got.wavelengths == wavelengths and got.n_wells == 96


def test_write_text_several_plates_and_384_wells():
    rng = np.random.default_rng(7)
    plates = [
        {
            "name": f"Plate {i}",
            "read_time": datetime(2025, 3, i, 9, 5, 0),
            "values": {450: rng.uniform(0, 3, (16, 24))},
            "flags": {"P24": "overflow"},
        }
        for i in (1, 2, 3)
    ]
    got = gen5.read(gen5.write_text(plates), "three.txt")
    assert [p.name for p in got] == ["Plate 1", "Plate 2", "Plate 3"]
    assert [p.read_time.day for p in got] == [1, 2, 3]
    for plate, sim in zip(got, plates):
        assert plate.n_wells == 384 and len(plate.reads) == 384
        _assert_same(_by_key(plate), _expected(sim["values"], sim["flags"]))
        assert plate.software_version == "3.12.08"


def test_write_text_rejects_bad_shapes_and_flags():
    with pytest.raises(ValueError):
        gen5.write_text([{"values": {450: np.zeros((8, 11))}}])
    with pytest.raises(ValueError):
        gen5.write_text([{"values": {450: np.zeros((8, 12))}, "flags": {"I1": "overflow"}}])
    with pytest.raises(ValueError):
        gen5.write_text([{"values": {450: np.zeros((8, 12))}, "flags": {"A1@630": "overflow"}}])
    with pytest.raises(ValueError):
        gen5.write_text([{"values": {450: np.zeros((8, 12))}, "flags": {"A1": "saturated"}}])


# --- issue 13: odd cells, partial plates, reads without a plain wavelength label ------------------


def _relabel(text: str, labels: list[str]) -> str:
    """The Synergy export with one continuation line per label under row A (a copy of row A's values)."""
    lines = text.split("\r\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("A\t"))
    values = lines[k].split("\t")[1:13]
    lines[k] = "\t".join(["A", *values, labels[0]])
    extra = ["\t".join(["", *values, label]) for label in labels[1:]]
    return "\r\n".join(lines[: k + 1] + extra + lines[k + 1 :])


@pytest.mark.parametrize(
    ("cell", "value", "flag"),
    [("2.1x", None, "invalid"), ("Path?", None, "invalid"), ("*0.356*", 0.356, "flagged"), ("2.5 (Range?)", 2.5, "flagged")],
)
def test_one_odd_cell_flags_its_well_and_the_plate_is_read(plate_exports, cell, value, flag):
    # Issue 13: an odd cell used to refuse the plate; now the well is flagged with the file's text as its marker.
    text = _synergy_text(plate_exports).replace("A\t2.100\t2.130\t", f"A\t2.100\t{cell}\t")
    [plate] = gen5.read(text.encode(), "run7.txt")
    a2 = _well(plate, "A2", 450)
    assert (a2.flag, a2.marker) == (flag, cell)
    assert a2.value == value if value is not None else math.isnan(a2.value)
    assert len(plate.reads) == 96 and _well(plate, "A3", 450).value == 2.160


def test_gen5_markers_are_kept_as_text(plate_exports):
    [plate] = _read(plate_exports, SYNERGY)
    assert (_well(plate, "A8", 450).flag, _well(plate, "A8", 450).marker) == ("overflow", "OVRFLW")
    assert (_well(plate, "D12", 450).flag, _well(plate, "D12", 450).marker) == ("missing", "MISSED")
    assert plate.reads.loc[plate.reads["flag"].eq("ok"), "marker"].isna().all()


def test_rows_not_in_the_file_are_not_read(plate_exports):
    # Issue 13: a grid with rows A-E only used to be refused ("the grid has no row 'F'"); it is a partial plate.
    lines = _synergy_text(plate_exports).split("\r\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("F\t"))
    [plate] = gen5.read("\r\n".join(lines[:k] + lines[k + 3 :]).encode(), "run7.txt")
    assert plate.n_wells == 96 and len(plate.reads) == 60
    assert set(plate.reads["row"]) == set("ABCDE")
    assert _well(plate, "E12", 450).value == 2.460


def test_a_partial_header_reads_only_its_columns(plate_exports):
    text = "\r\n".join(
        [
            "Software Version\t3.12.08",
            "Plate Number\tPlate 1",
            "Procedure Details",
            "",
            "Plate Type\t384 WELL PLATE",
            "\tWavelengths:  450",
            "",
            "Results",
            "\t3\t4\t5",
            "A\t0.1\t0.2\tOVRFLW\t450",
            "P\t0.4\t\t0.6\t450",
            "",
        ]
    )
    [plate] = gen5.read(text.encode(), "part.txt")
    assert plate.n_wells == 384
    assert plate.reads["well"].tolist() == ["A3", "A4", "A5", "P3", "P4", "P5"]
    assert _well(plate, "A3", 450).value == 0.1 and _well(plate, "P5", 450).value == 0.6
    assert _well(plate, "A5", 450).flag == "overflow" and _well(plate, "P4", 450).flag == "missing"


def test_pathlength_test_and_reference_reads_are_raw_reads(plate_exports):
    text = _relabel(
        _synergy_text(plate_exports), ["260:977 [Test]", "260:900 [Ref]", "260:Pathlength", "abs450:450", "Corrected [Blank 450]"]
    )
    [plate] = gen5.read(text.encode(), "run7.txt")
    assert plate.wavelengths == [977, 900, 450]
    assert _well(plate, "A1", 977).value == 2.100 and _well(plate, "A12", 900).value == 2.400
    assert plate.extra["Derived reads skipped"] == "260:Pathlength; Corrected [Blank 450]"


def test_an_unknown_bracketed_suffix_is_named_not_read(plate_exports):
    text = _relabel(_synergy_text(plate_exports), ["abs450:450", "abs450:630 [Xyz]"])
    [plate] = gen5.read(text.encode(), "run7.txt")
    assert plate.wavelengths == [450]
    assert plate.extra["Unknown reads skipped"] == "abs450:630 [Xyz]"


def test_polarisation_planes_at_one_wavelength_are_refused_by_label(plate_exports):
    text = _relabel(_synergy_text(plate_exports), ["FP:485,528 [Parallel]", "FP:485,528 [Perpendicular]"])
    assert _error(text) == (
        "run7.txt: line 32: row 'A' has a second read at 528 nm (the first is on line 31): 'FP:485,528 [Perpendicular]' "
        "after 'FP:485,528 [Parallel]'; labdb keeps one read per wavelength, so export one of these reads only."
    )


def test_an_alpha_read_is_the_one_read_without_a_wavelength(plate_exports):
    text = _synergy_text(plate_exports).replace("\tabs450:450\r\n", "\tAlpha\r\n")
    text = _relabel(text, ["Alpha", "Blank Alpha", "Log Alpha", "[Concentration]"])
    [plate] = gen5.read(text.encode(), "run7.txt")
    assert plate.wavelengths == [None] and len(plate.reads) == 96
    assert plate.reads["value"].iloc[0] == 2.100
    assert plate.extra["Read without wavelength"] == "Alpha"
    assert plate.extra["Derived reads skipped"] == "Blank Alpha; Log Alpha; [Concentration]"


def test_two_reads_without_a_wavelength_are_refused_by_label(plate_exports):
    text = _relabel(_synergy_text(plate_exports), ["Read 1:Alpha", "Read 2:Lum"])
    assert "row 'A' has a second read without a wavelength (the first is on line 31): 'Read 2:Lum' after 'Read 1:Alpha'" in _error(text)


# --- issue 13: the Gen5 files of plate_exports_more (well by well against allotropy in test_more_exports.py)


def _more(plate_exports_more, name: str):
    path = plate_exports_more / "agilent_gen5" / name
    return gen5.read(path.read_bytes(), path.name)


def test_more_lowry_flagged_value_keeps_number_and_marker(plate_exports_more):
    [plate] = _more(plate_exports_more, "absorbance__Lowry_Protein_Assay_no_results_matrix.txt")
    h3 = _well(plate, "H3", 660)
    assert (h3.value, h3.flag, h3.marker) == (0.356, "flagged", "*0.356*")
    assert plate.wavelengths == [660] and plate.extra["Derived reads skipped"] == "Conc"


def test_more_single_row_grid_is_a_partial_plate(plate_exports_more):
    [plate] = _more(plate_exports_more, "absorbance__absorbance_error_document_example.txt")
    assert plate.n_wells == 96 and plate.reads["well"].tolist() == [f"A{c}" for c in range(1, 13)]
    a1 = _well(plate, "A1", 260)
    assert (a1.flag, a1.marker) == ("overflow", "OVRFLW") and _well(plate, "A12", 260).value == 0.650


def test_more_pathlength_file_reads_all_five_raw_reads(plate_exports_more):
    [plate] = _more(plate_exports_more, "absorbance__endpoint_pathlength_correct_singleplate.txt")
    assert plate.wavelengths == [977, 900, 260, 280, 230] and len(plate.reads) == 480
    assert _well(plate, "A1", 977).value == 0.056 and _well(plate, "A1", 900).value == 0.035
    skipped = plate.extra["Derived reads skipped"].split("; ")
    assert "260:Pathlength" in skipped and "Ratio 260/280" in skipped and "DNA concentration ng/uL" in skipped


def test_more_alphalisa_reads_alpha_without_a_wavelength(plate_exports_more):
    [plate] = _more(plate_exports_more, "fluorescence__alphalisa_endpoint_singleplate.txt")
    assert plate.wavelengths == [None] and len(plate.reads) == 96 and (plate.reads["flag"] == "ok").all()
    assert plate.reads.set_index("well").loc["B6", "value"] == 3
    assert plate.extra["Derived reads skipped"] == "Blank Alpha; Log Alpha; [Concentration]"
    assert plate.extra["Read without wavelength"] == "Alpha"
