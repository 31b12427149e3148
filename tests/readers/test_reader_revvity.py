# long module: every EnVision, EnSpire and Kaleido layout against the real exports, and their refusals.
"""PerkinElmer/Revvity reader: the real EnVision, EnSpire and Kaleido exports in ../shared, variants, bad input."""

from __future__ import annotations

import math
import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from peer import differences, peer_reads

from labdb.core.errors import InputError
from labdb.readers import revvity
from labdb.readers.canonical import READ_COLUMNS
from labdb.readers.registry import detect, read_plates

ENVISION = "envision_a450_2plates.csv"
ENSPIRE = "enspire_elisa_450_630.csv"
KALEIDO = "kaleido_abs450_96.csv"


def _bytes(plate_exports, name: str) -> bytes:
    return (plate_exports / "perkinelmer_revvity" / name).read_bytes()


def _text(plate_exports, name: str) -> str:
    return _bytes(plate_exports, name).decode("utf-8")


def _value(plate, well: str, wavelength: int) -> float:
    rows = plate.reads[(plate.reads["well"] == well) & (plate.reads["wavelength_nm"] == wavelength)]
    assert len(rows) == 1, (well, wavelength)
    assert rows["flag"].iloc[0] == "ok"
    return rows["value"].iloc[0]


# --- real exports -------------------------------------------------------------------------------


def test_envision_two_plates(plate_exports):
    plates = revvity.read(_bytes(plate_exports, ENVISION), ENVISION)
    assert [p.name for p in plates] == ["Plate 1", "Plate 2"]  # barcodes are empty (="")
    for plate in plates:
        assert plate.format == "revvity" and plate.n_wells == 96 and plate.wavelengths == [450]
        assert list(plate.reads.columns) == READ_COLUMNS and len(plate.reads) == 96
        assert (plate.reads["flag"] == "ok").all()
        assert plate.instrument == "EnVision" and plate.serial == "1050242"
        assert plate.software_version == "EnVision Workstation 1.14.3049.1642"
        assert plate.extra["Protocol Name"] == "Absorbance Test Protocol"
        assert plate.extra["Label"] == "A450(1)"
    one, two = plates
    assert _value(one, "A1", 450) == 0.15
    assert _value(one, "D6", 450) == 0.22
    assert _value(one, "H12", 450) == 0.095
    assert _value(two, "A1", 450) == 0.30
    assert _value(two, "E11", 450) == 0.50
    assert _value(two, "H12", 450) == 0.13
    assert one.read_time == datetime(2024, 1, 15, 10, 30, 0)
    assert two.read_time == datetime(2024, 1, 15, 10, 31, 35)
    assert one.extra["Chamber temperature at start"] == "22.00" and two.extra["Chamber temperature at start"] == "22.05"


def test_enspire_two_reads_get_their_wavelengths_from_the_footer(plate_exports):
    [plate] = revvity.read(_bytes(plate_exports, ENSPIRE), ENSPIRE)
    assert plate.name == "Plate 1" and plate.n_wells == 96
    assert plate.wavelengths == [450, 630]
    assert len(plate.reads) == 192 and (plate.reads["flag"] == "ok").all()
    assert _value(plate, "A1", 450) == 2.045
    assert _value(plate, "D5", 450) == 0.258
    assert _value(plate, "H12", 450) == 0.073
    assert _value(plate, "A1", 630) == 0.061
    assert _value(plate, "C2", 630) == 0.067
    assert _value(plate, "H12", 630) == 0.036
    assert plate.read_time == datetime(2021, 7, 22, 15, 6, 36)
    assert plate.software_version == "EnSpire Workstation 4.13.3005.1482"
    assert plate.instrument == "EnSpire" and plate.serial == "23000584"
    assert plate.extra["Inside temperature at start"] == "26.3"
    assert plate.extra["Ambient temperature at end"] == "23.9"
    assert plate.extra["Meas"] == "Meas A; Meas B"
    assert plate.extra["Volume of the well"] == "300 µl"


def test_kaleido_full_precision_barcode_and_offset_time(plate_exports):
    [plate] = revvity.read(_bytes(plate_exports, KALEIDO), KALEIDO)
    assert plate.name == "V-2020-10-26 16:16:17"  # the virtual barcode
    assert plate.wavelengths == [450] and plate.n_wells == 96 and len(plate.reads) == 96
    assert _value(plate, "A1", 450) == 2.2075694995298862
    assert _value(plate, "A11", 450) == 0.049993264081777893
    assert _value(plate, "E5", 450) == 0.098127595845789187
    assert _value(plate, "H12", 450) == 0.043160960819347817
    # Wall-clock time as written, naive; the offset stays in extra.
    assert plate.read_time == datetime(2020, 10, 26, 16, 16, 18, 228455)
    assert plate.read_time.tzinfo is None
    assert plate.extra["Measurement Started"] == "2020-10-26T16:16:18.2284559-04:00"
    assert plate.software_version == "Kaleido 2.0.3058.126"
    assert plate.serial == "1234567" and plate.instrument is None
    assert plate.extra["Protocol Name"] == "bar"


def test_registry_picks_the_revvity_reader(plate_exports):
    expected = {ENVISION: (2, [450]), ENSPIRE: (1, [450, 630]), KALEIDO: (1, [450])}
    for name, (count, wavelengths) in expected.items():
        data = _bytes(plate_exports, name)
        assert detect(data, name) is revvity, name
        plates = read_plates(data, name)
        assert len(plates) == count and all(p.format == "revvity" for p in plates)
        assert plates[0].wavelengths == wavelengths
    assert read_plates(_bytes(plate_exports, KALEIDO), "kaleido.txt", format="revvity")[0].wavelengths == [450]


def test_sniff_claims_only_the_revvity_exports(plate_exports):
    for name in (ENVISION, ENSPIRE, KALEIDO):
        assert revvity.sniff(_bytes(plate_exports, name), name)
    others = [p for p in plate_exports.rglob("*") if p.is_file() and p.parent.name != "perkinelmer_revvity"]
    assert len(others) > 15
    for path in others:
        assert not revvity.sniff(path.read_bytes(), path.name), path.name


def test_not_a_revvity_file(plate_exports):
    path = plate_exports / "agilent_biotek_gen5" / "gen5_synergyh1_abs450_ovrflw_missed.txt"
    with pytest.raises(InputError, match=r"^gen5\.txt: not an EnVision, EnSpire or Kaleido export"):
        revvity.read(path.read_bytes(), "gen5.txt")


# --- encodings, separators, plate sizes ---------------------------------------------------------


def test_bom_utf16_and_crlf_copies_read_the_same(plate_exports):
    text = _text(plate_exports, ENSPIRE)
    [plain] = revvity.read(text.encode(), "a.csv")
    crlf = text.replace("\n", "\r\n")
    for data in (b"\xef\xbb\xbf" + text.encode(), crlf.encode(), crlf.encode("utf-16"), text.encode("utf-16-le")):
        [copy] = revvity.read(data, "b.csv")
        pd.testing.assert_frame_equal(plain.reads, copy.reads)
        assert copy.read_time == plain.read_time and copy.extra == plain.extra


def _semicolon(text: str) -> str:
    """The file as Windows writes it with a German list separator: ';' between fields, ',' in decimals."""
    out = []
    for line in text.split("\n"):
        cells = line.split(",")
        out.append(";".join(re.sub(r"^(-?\d+)\.(\d+)$", r"\1,\2", c) for c in cells))
    return "\n".join(out)


@pytest.mark.parametrize("name", [ENVISION, ENSPIRE, KALEIDO])
def test_semicolon_separator_with_decimal_comma(plate_exports, name):
    text = _text(plate_exports, name)
    german = _semicolon(text)
    assert "0,1500;" in german or "2,0450;" in german or "2,2075694995298862;" in german
    assert revvity.sniff(german.encode(), "de.csv")
    plates = revvity.read(german.encode(), "de.csv")
    originals = revvity.read(text.encode(), name)
    assert [p.name for p in plates] == [p.name for p in originals]
    for plate, original in zip(plates, originals):
        pd.testing.assert_frame_equal(plate.reads, original.reads)
        assert (plate.read_time, plate.software_version) == (original.read_time, original.software_version)


def _envision_384(values: np.ndarray, cells: dict[str, str]) -> str:
    header = "Plate,Repeat,Barcode,Measured height,Label,Measinfo,Kinetics,Measurement date,"
    lines = ["Plate information", header, '1,1,="BC-384",14.35,A450(1),De=1st,0,3/4/2025 9:05:00 AM,', ""]
    lines += ["Results for A450(1) - channel 1 (A)", "," + ",".join(f"{c:02d}" for c in range(1, 25)) + ","]
    for r in range(16):
        row = [cells.get(f"{chr(65 + r)}{c + 1}", f"{values[r, c]:.4f}") for c in range(24)]
        lines.append(chr(65 + r) + "," + ",".join(row) + ",")
    lines += ["", "Exported with EnVision Workstation version 1.14.3049.1642", ""]
    return "\r\n".join(lines)


def test_384_wells_with_flagged_and_empty_wells():
    values = np.random.default_rng(4).uniform(0, 3, (16, 24))
    text = _envision_384(values, {"B3": "", "P24": "OVRFLW", "C7": "-"})
    [plate] = revvity.read(text.encode(), "big.csv")
    assert plate.name == "BC-384" and plate.n_wells == 384 and len(plate.reads) == 384
    assert plate.wavelengths == [450]  # from the label name, as this file has no Labels section
    assert _value(plate, "A1", 450) == float(f"{values[0, 0]:.4f}")
    assert _value(plate, "P23", 450) == float(f"{values[15, 22]:.4f}")
    flags = plate.reads.set_index("well")["flag"]
    assert (flags["B3"], flags["C7"], flags["P24"]) == ("missing", "missing", "overflow")
    assert plate.reads.loc[plate.reads["flag"] != "ok", "value"].isna().all()
    assert plate.read_time == datetime(2025, 3, 4, 9, 5)
    assert read_plates(text.encode(), "big.csv")[0].format == "revvity"


# --- kinetic data -------------------------------------------------------------------------------


def _error(text: str, name: str = "run7.csv") -> str:
    with pytest.raises(InputError) as err:
        revvity.read(text.encode(), name)
    message = str(err.value)
    assert message.startswith(f"{name}: ") and "\n" not in message
    return message


def test_envision_plate_repeat_is_kinetic(plate_exports):
    text = _text(plate_exports, ENVISION).replace('\n2,1,="",14.35', '\n1,2,="",14.35')
    assert _error(text).startswith("run7.csv: line 22: plate repeat 2; kinetic reads are not supported")


def test_enspire_same_read_twice_is_kinetic(plate_exports):
    text = _text(plate_exports, ENSPIRE).replace("Results for Meas B", "Results for Meas A")
    message = _error(text)
    assert message.startswith("run7.csv: line 28: plate 'Plate 1' has a second 'Meas A' read (the first is on line 9)")
    assert "kinetic reads are not supported" in message


def test_kaleido_plate_repeat_is_kinetic(plate_exports):
    text = _text(plate_exports, KALEIDO).replace("PlateRepeat:\u00a01", "PlateRepeat:\u00a02")
    assert "line 5: PlateRepeat 2; kinetic reads are not supported" in _error(text)
    text = _text(plate_exports, KALEIDO).replace("WellRepeat:\u00a01", "WellRepeat:\u00a03")
    assert "line 5: WellRepeat 3; kinetic reads are not supported" in _error(text)


# --- broken files -------------------------------------------------------------------------------


def test_grid_header_with_eleven_columns(plate_exports):
    text = _text(plate_exports, ENVISION).replace(",10,11,12,\n", ",10,11,\n", 1)
    assert _error(text) == ("run7.csv: line 10: the grid header has columns 1-11; expected 1-12 (96-well plate) or 1-24 (384-well plate).")


def test_row_with_eleven_values(plate_exports):
    text = _text(plate_exports, ENVISION).replace(",0.6000,0.7000,\n", ",0.6000,\n", 1)
    assert "line 11: row 'A' has 11 values; expected 12" in _error(text)


def test_letters_in_a_cell_flag_only_that_well(plate_exports):
    """One odd cell does not refuse the plate (issue 13): the well is invalid, with the file's text as its marker."""
    text = _text(plate_exports, ENSPIRE).replace("A,2.0450,1.9060", "A,2.0450,1.9O60")
    [plate] = revvity.read(text.encode(), "run7.csv")
    assert plate.wavelengths == [450, 630] and len(plate.reads) == 192
    odd = _row(plate, "A2", 450)
    assert (odd["flag"], odd["marker"]) == ("invalid", "1.9O60") and math.isnan(odd["value"])
    others = plate.reads.drop(odd.name)
    assert (others["flag"] == "ok").all() and others["marker"].isna().all()
    assert _value(plate, "A1", 450) == 2.045 and _value(plate, "A2", 630) == 0.062


def _row(plate, well: str, wavelength: int | None) -> pd.Series:
    reads = plate.reads[plate.reads["well"] == well]
    reads = reads[reads["wavelength_nm"].isna() if wavelength is None else reads["wavelength_nm"] == wavelength]
    assert len(reads) == 1, (well, wavelength)
    return reads.iloc[0]


def test_marked_cells_keep_their_number_or_their_text(plate_exports):
    text = _text(plate_exports, ENSPIRE).replace("A,2.0450,1.9060,0.9430,1.0440", "A,*2.0450*,OVRFLW,Range?,0.9 (Range?)")
    [plate] = revvity.read(text.encode(), "run7.csv")
    got = {w: (_row(plate, w, 450)["flag"], _row(plate, w, 450)["marker"]) for w in ("A1", "A2", "A3", "A4", "A5")}
    got = {w: (flag, None if pd.isna(marker) else marker) for w, (flag, marker) in got.items()}
    assert got == {
        "A1": ("flagged", "*2.0450*"),
        "A2": ("overflow", "OVRFLW"),
        "A3": ("invalid", "Range?"),
        "A4": ("flagged", "0.9 (Range?)"),
        "A5": ("ok", None),
    }
    assert _row(plate, "A1", 450)["value"] == 2.045 and _row(plate, "A4", 450)["value"] == 0.9
    assert math.isnan(_row(plate, "A2", 450)["value"]) and math.isnan(_row(plate, "A3", 450)["value"])


def test_duplicated_row(plate_exports):
    text = _text(plate_exports, ENVISION).replace("\nC,0.0950", "\nB,0.0950", 1)
    assert _error(text).startswith(
        "run7.csv: line 13: row 'B' of 'Results for A450(1) - channel 1 (A)' appears a second time (first on line 12)"
    )


def test_row_beyond_the_plate(plate_exports):
    lines = _text(plate_exports, KALEIDO).split("\r\n")
    lines.insert(14, "I" + lines[13][1:])
    assert "line 15: row 'I' does not exist on a 96-well plate (rows A-H)." in _error("\r\n".join(lines))


def test_missing_row(plate_exports):
    text = _text(plate_exports, KALEIDO)
    text = re.sub(r"\r\nE,[^\r]*", "", text)
    assert "line 11: expected row 'E' of the 96-well grid" in _error(text)


@pytest.mark.parametrize(
    ("cut_after", "expected"),
    [
        ("\nD,0.2460,0.2380", "line 14: row 'D' has 2 values; expected 12"),
        (
            "\nF,0.0830,0.0890,0.0670,0.0680,0.2020,0.2080,0.1290,0.1250,0.0700,0.0710,0.0750,0.0760,\n",
            "line 17: expected row 'G' of the 96-well grid under 'Results for Meas A - (A)' (rows A-H in order) "
            "but found the end of the file",
        ),
        ("Results for Meas A -  (A)\n", "line 9: the file ends after 'Results for Meas A - (A)' without its grid"),
        (
            "De=1st Ex=Btm Em=N/A,1,7/22/2021 3:06:36 PM,\n\nBackground information\n",
            "line 1: this 'Plate information' block has no 'Results for ...' grid after it",
        ),
        ("Measurement date,\n", "line 1: 'Plate information' needs a header line (Plate, Repeat, Barcode, ...) and"),
        (
            "H,0.0370,0.0370,0.0380,0.0380,0.0380,0.0390,0.0390,0.0390,0.0390,0.0400,0.0370,0.0360,\n",
            "line 37: the file ends after the plate results, without the assay, protocol and measurement sections",
        ),
    ],
    ids=["mid-row", "after-row-F", "after-title", "after-plate-information", "after-header", "no-footer"],
)
def test_truncated_files(plate_exports, cut_after, expected):
    text = _text(plate_exports, ENSPIRE)
    cut = text[: text.index(cut_after) + len(cut_after)]
    assert expected in _error(cut)


def test_reads_without_wavelengths(plate_exports):
    text = _text(plate_exports, ENSPIRE).replace("Measurements:", "Measurement list:")
    assert _error(text) == (
        "run7.csv: line 28: reads 'Meas A' (line 9) and 'Meas B' of plate 'Plate 1' both have no known wavelength; "
        "the 'Measurements:' or 'Labels:' section that gives each read's wavelength is missing or incomplete "
        "(is the file truncated?)."
    )


def test_envision_cut_after_a_whole_plate(plate_exports):
    text = _text(plate_exports, ENVISION)
    message = _error(text[: text.index("Plate information", 10)])
    assert message.startswith("run7.csv: line 18: the file ends after the plate results")


def test_results_title_without_a_grid_header(plate_exports):
    header = ",01,02,03,04,05,06,07,08,09,10,11,12,\n"
    text = _text(plate_exports, ENVISION).replace(header + "A,0.1500", "A,0.1500", 1)
    expected = "line 10: expected the grid header ',01,02,...,12' under 'Results for A450(1) - channel 1 (A)'"
    assert expected in _error(text)


def test_plate_information_without_its_results(plate_exports):
    text = _text(plate_exports, ENVISION)
    first_plate_results = text[text.index("Results for") : text.index("Plate information", 10)]
    message = _error(text.replace(first_plate_results, "", 1))
    assert message.startswith("run7.csv: line 1: this 'Plate information' block has no 'Results for ...' grid after it")


def test_calculated_plates_are_skipped(plate_exports):
    text = _text(plate_exports, ENVISION)
    calculated = (
        "Plate information\nPlate,Repeat,Barcode,Formula,Measurement date,\n"
        '1,1,="",Ratio = A450 * 2,1/15/2024 10:33:00 AM,\n\nCalculated results\n'
        + text[text.index(",01,02") : text.index("\n\nPlate information")]
        + "\n\n"
    )
    at = text.index("Basic assay information")
    plates = revvity.read((text[:at] + calculated + text[at:]).encode(), "calc.csv")
    assert [p.name for p in plates] == ["Plate 1", "Plate 2"]
    assert _value(plates[0], "A1", 450) == 0.15 and "Formula" not in plates[0].extra
    assert "A" not in plates[0].extra  # the calculated grid does not leak into the metadata


def test_envision_wavelength_falls_back_to_the_filter_and_the_label(plate_exports):
    text = _text(plate_exports, ENVISION)
    assert revvity.read(text.replace("CWL=450nm", "CWL=452nm").encode(), "x.csv")[0].wavelengths == [452]
    no_labels = text[: text.index("Labels:")]  # and no 'Exported with' line
    [one, _] = revvity.read(no_labels.encode(), "x.csv")
    assert one.wavelengths == [450] and one.software_version is None and one.serial == "1050242"
    unknown = no_labels.replace("A450(1)", "Absorbance(1)")
    [one, _] = revvity.read(unknown.encode(), "x.csv")
    assert one.wavelengths == [None] and math.isclose(_unlabelled(one, "A1"), 0.15)


def _unlabelled(plate, well: str) -> float:
    return plate.reads.loc[plate.reads["well"] == well, "value"].iloc[0]


# --- more real exports: bare value matrices, HTRF channels, Kaleido 3 / EnSight (plate_exports_more) ---------

MATRICES = "perkin_elmer_envision/PE_Envision_absorbance_example01.csv"
HTRF = "perkin_elmer_envision/PE_Envision_fluorescence_example01.csv"
KALEIDO3 = "revvity_kaleido/fluorescence__fluorescence_endpoint_single_plate_example_01.csv"


def _more(plate_exports_more, name: str) -> str:
    return (plate_exports_more / name).read_bytes().decode("utf-8")


@pytest.mark.parametrize("name", [HTRF, KALEIDO3])
def test_more_exports_read_as_the_peer_reads_them(plate_exports_more, name):
    path = plate_exports_more / name
    assert detect(path.read_bytes(), path.name) is revvity
    assert differences(read_plates(path.read_bytes(), path.name), peer_reads(path)) == []


def test_envision_bare_value_matrices(plate_exports_more):
    """EnVision may write a bare value matrix (no header, no row letters) after the plate information."""
    path = plate_exports_more / MATRICES
    one, two = plates = read_plates(path.read_bytes(), path.name)
    assert [p.name for p in plates] == ["8/22/2023 10:50:28 AM", "8/22/2023 10:57:39 AM"]  # the barcodes
    assert all(p.n_wells == 384 and len(p.reads) == 384 and (p.reads["flag"] == "ok").all() for p in plates)
    assert one.wavelengths == [562]  # 'Labels:' BCA Absorbance @ 562: 'Excitation wavelength 562 nm'
    assert one.extra["wavelengths of BCA Absorbance @ 562(1)"] == "excitation 562 nm"
    assert two.wavelengths == [None]  # an AlphaScreen label: no wavelength anywhere in the file
    assert (_value(one, "A1", 562), _value(one, "A24", 562), _value(one, "P24", 562)) == (2.63, 2.727, 2.639)
    # Plate 2 first has a calculated (Crosstalk) matrix, which is derived and skipped; the raw one is read.
    assert _unlabelled(two, "A1") == 8.0 and _unlabelled(two, "A15") == 0.0 and _unlabelled(two, "P24") == 4.0
    assert "Formula" not in two.extra and two.extra["Label"] == "Screen 384 OptiPlate(1)"
    assert one.read_time == datetime(2023, 8, 22, 10, 57, 3) and one.serial == "1051017"
    # The peer (allotropy) gives plate 1 no wavelength: it reads filter CWLs only, not the label's monochromator
    # 'Excitation wavelength 562 nm'. The export wins (SOURCES.md); with that wavelength every well agrees.
    peer = peer_reads(path)
    assert differences(plates, peer) == ["plate 8/22/2023 10:50:28 AM: no read at None nm (ours: [562])"]
    assert differences(plates, [{**peer[0], "wavelength": 562}, *peer[1:]]) == []


def _bare(text: str) -> str:
    """The EnVision fixture with its titled grids turned into bare value matrices."""
    text = re.sub(r"Results for A450\(1\) - channel 1 \(A\)\n,01,[^\n]*\n", "", text)
    return re.sub(r"(?m)^[A-H],(?=\d)", "", text)


def test_bare_matrices_read_as_the_titled_grids(plate_exports):
    text = _text(plate_exports, ENVISION)
    bare = _bare(text)
    assert "Results for" not in bare and "\n0.1500,0.0850," in bare
    for plate, titled in zip(revvity.read(bare.encode(), "bare.csv"), revvity.read(text.encode(), ENVISION), strict=True):
        pd.testing.assert_frame_equal(plate.reads, titled.reads)
        assert plate.name == titled.name and plate.read_time == titled.read_time
    odd = bare.replace("\n0.1500,0.0850,", "\n0.1500,Path?,", 1)
    reads = revvity.read(odd.encode(), "bare.csv")[0].reads
    assert reads.loc[reads["well"] == "A2", ["flag", "marker"]].values.tolist() == [["invalid", "Path?"]]
    assert (reads.loc[reads["well"] != "A2", "flag"] == "ok").all()


def test_bare_matrix_of_a_wrong_shape(plate_exports):
    bare = _bare(_text(plate_exports, ENVISION))
    short = re.sub(r"\n0\.1800,0\.0900,[^\n]*", "", bare, count=1)  # plate 1 loses its row H
    assert _error(short) == (
        "run7.csv: line 9: the value matrix under the 'Plate information' block has 7 rows of up to 12 values; "
        "expected 8 rows of 12 (96-well plate) or 16 rows of 24 (384-well plate)."
    )
    wide = bare.replace("\n0.1500,0.0850,", "\n0.1500,0.0850,0.1,", 1)
    assert "line 9: the value matrix under the 'Plate information' block has 8 rows of up to 13 values" in _error(wide)


def test_htrf_channels_are_two_reads_keyed_by_their_emission(plate_exports_more):
    path = plate_exports_more / HTRF
    [plate] = read_plates(path.read_bytes(), path.name)
    assert plate.name == "Plate 1" and plate.wavelengths == [665, 620] and len(plate.reads) == 192  # no ratio plate
    assert plate.extra["wavelengths of AC HTRF Laser [Eu](1) channel 1"] == "excitation 320 nm, emission 665 nm"
    assert plate.extra["wavelengths of AC HTRF Laser [Eu](1) channel 2"] == "excitation 320 nm, emission 620 nm"
    assert (_value(plate, "A1", 665), _value(plate, "H7", 665)) == (31441, 3339)
    assert (_value(plate, "A1", 620), _value(plate, "H7", 620)) == (80368, 81633)
    for wavelength in (665, 620):  # columns 4 and 8-12 were not read
        flags = plate.reads.loc[plate.reads["wavelength_nm"] == wavelength, "flag"]
        assert flags.value_counts().to_dict() == {"ok": 48, "missing": 48}
    assert _row(plate, "A4", 665)["flag"] == "missing"


def test_htrf_channels_that_cannot_be_told_apart(plate_exports_more):
    text = _more(plate_exports_more, HTRF)
    both = "reads 'AC HTRF Laser [Eu](1) channel 1' (line 30) and 'AC HTRF Laser [Eu](1) channel 2' of plate 'Plate 1'"
    message = _error(text.replace("2nd ems. filter,,,,Cy5 620\r\n", ""))
    assert message.startswith(f"run7.csv: line 50: {both} cannot be told apart by wavelength")
    assert "('AC HTRF Laser [Eu](1) channel 2' has no emission wavelength)" in message
    message = _error(text.replace("2nd ems. filter,,,,Cy5 620", "2nd ems. filter,,,,APC 665"))
    assert message.startswith(f"run7.csv: line 50: {both} cannot be told apart by wavelength (both 665 nm)")
    message = _error(text.replace("channel 2 window 1", "channel 1 window 1"))
    assert message.startswith("run7.csv: line 50: plate 'Plate 1' has a second 'AC HTRF Laser [Eu](1)' read")


def test_kaleido3_ensight_export(plate_exports_more):
    path = plate_exports_more / KALEIDO3
    data = path.read_bytes()
    assert revvity.sniff(data, path.name) and detect(data, path.name) is revvity
    [plate] = read_plates(data, path.name)
    assert plate.name == "V-2022-11-10 12:11:46" and plate.n_wells == 384 and len(plate.reads) == 384
    assert plate.wavelengths == [535] and (plate.reads["flag"] == "ok").all()
    assert (_value(plate, "A1", 535), _value(plate, "B23", 535), _value(plate, "P24", 535)) == (18126, 133515, 85178)
    assert plate.extra["wavelengths of Fluorescence intensity 1"] == "excitation 485 nm, emission 535 nm"
    assert plate.read_time == datetime(2022, 11, 10, 12, 11, 46)
    assert (plate.software_version, plate.serial, plate.instrument) == ("Kaleido 3.0.3067.117", "2108181", None)
    assert plate.extra["Protocol Name"] == "foo" and plate.extra["Plate Type Name"] == "384 General"
    assert "Excitation Wavelength [nm]" not in plate.extra  # the measurement details are not plate metadata
    german = revvity.read(_semicolon(_more(plate_exports_more, KALEIDO3)).encode(), "de.csv")[0]
    pd.testing.assert_frame_equal(german.reads, plate.reads)
    row = "V-2022-11-10 12:11:46,1,,,,,,,,,"
    table = revvity.read(_more(plate_exports_more, KALEIDO3).replace(row, row.replace(",,,,,,,,,", ",,,,490,520,,,,")).encode(), "t.csv")
    assert table[0].wavelengths == [520]  # the table's 'Ems wl' is the read's own


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("V-2022-11-10 12:11:46,2,,,,,,,,,", "line 8: Repeat 2 under 'Result for Fluorescence intensity 1'; kinetic reads"),
        ("V-2022-11-10 12:11:46,1,3,,,,,,,,", "line 8: Loop no 3 under 'Result for Fluorescence intensity 1'; kinetic reads"),
        ("V-2022-11-10 12:11:46,1,,1,1,,,,,,", "line 8: 'Result for Fluorescence intensity 1' is a well scan"),
        ("V-2022-11-10 12:11:46,1,,,,,,,,,\r\nV-2022-11-10 12:11:46,1,,,,,,,,,", "line 9: a second barcode row for one grid"),
        ("", "line 7: the 'Barcode,Repeat,...' table under 'Result for Fluorescence intensity 1' has no row."),
    ],
    ids=["repeat", "loop", "well-scan", "two-rows", "no-row"],
)
def test_kaleido3_refusals(plate_exports_more, row, expected):
    text = _more(plate_exports_more, KALEIDO3).replace("V-2022-11-10 12:11:46,1,,,,,,,,,\r\n", row + "\r\n" if row else "", 1)
    assert expected in _error(text)


def test_kaleido3_refusals_of_a_broken_structure(plate_exports_more):
    text = _more(plate_exports_more, KALEIDO3)
    no_table = re.sub(r"Barcode,Repeat,[^\n]*\n[^\n]*\n", "", text, count=1)
    assert "line 8: expected the 'Barcode,Repeat,...' table under 'Result for Fluorescence intensity 1'" in _error(no_table)
    cut = text[: text.index("Measurement Information")]
    assert "line 26: the file ends after the plate results" in _error(cut)


def test_sniff_in_plate_exports_more(plate_exports_more):
    claimed = {
        str(p.relative_to(plate_exports_more))
        for p in plate_exports_more.rglob("*")
        if p.is_file() and revvity.sniff(p.read_bytes(), p.name)
    }
    assert claimed == {MATRICES, HTRF, KALEIDO3}


TRUNCATED = [("plate_exports", f"perkinelmer_revvity/{n}", 45) for n in (ENVISION, ENSPIRE, KALEIDO)]
TRUNCATED += [("plate_exports_more", n, 90) for n in (MATRICES, HTRF, KALEIDO3)]


@pytest.mark.parametrize(("folder", "name", "head"), TRUNCATED, ids=[n.split("/")[-1] for _, n, _ in TRUNCATED])
def test_every_truncation_gives_plates_or_a_one_line_error(request, folder, name, head):
    """Cut the file at the end and in the middle of every line of the plates (then of every 10th line of the
    footer): never a crash, never a malformed plate."""
    text = (request.getfixturevalue(folder) / name).read_bytes().decode("utf-8")
    ends = [m.end() for m in re.finditer("\n", text)]
    cuts = sorted(set(ends[:head] + ends[head::10]) | {(a + b) // 2 for a, b in zip([0, *ends[: head - 1]], ends[:head])})
    outcomes = {"plates": 0, "errors": 0}
    for cut in cuts:
        try:
            plates = read_plates(text[:cut].encode(), "cut.csv", format="revvity")
        except InputError as err:
            assert str(err).startswith("cut.csv: ") and "\n" not in str(err), cut
            outcomes["errors"] += 1
        else:
            for plate in plates:  # read_plates has checked them; whatever was read is whole grids
                assert len(plate.reads) % plate.n_wells == 0
            outcomes["plates"] += 1
    assert outcomes["plates"] and outcomes["errors"]
