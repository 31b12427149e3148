"""ASM (Allotrope Simple Model) plate-reader JSON: documents shaped like allotropy's outputs, write_json round trips,
registry detection, and broken documents.

No ASM fixture exists in ../shared, so the documents are built here. Each mirrors a named expected-output file of
allotropy (Benchling-Open-Source/allotropy, tests/parsers/<vendor>/testdata/...), copied key for key for the wells used.
"""
# long module: the ASM documents are built in the test (no fixture exists), one per instrument family allotropy writes.

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labdb.core.errors import InputError
from labdb.readers import asm, gen5, registry
from labdb.readers.canonical import READ_COLUMNS, PlateRead, make_reads
from qc.vocab import well_name

# --- REC/2024/06: agilent_gen5/testdata/absorbance/240411_172731_BNCH2345883_abs450_96well_non_numeric_values.json ----
# allotropy's ASM of the Gen5 export in ../shared (gen5_synergyh1_abs450_ovrflw_missed.txt): one plate reader
# document per well; OD written under "mAU"; OVRFLW / MISSED cells as error documents with "value": -0.0.
GEN5_PLATE_READER_DOCUMENT = {
    "measurement aggregate document": {
        "measurement document": [
            {
                "device control aggregate document": {
                    "device control document": [
                        {
                            "device type": "plate reader",
                            "detection type": "Absorbance",
                            "number of averages": {"value": 8.0, "unit": "#"},
                            "detector carriage speed setting": "Normal",
                            "detector wavelength setting": {"value": 450.0, "unit": "nm"},
                        }
                    ]
                },
                "measurement identifier": "AGILENT_GEN5_TEST_ID_0",
                "sample document": {
                    "sample identifier": "BNCH2345883 A1",
                    "location identifier": "A1",
                    "well plate identifier": "BNCH2345883",
                },
                "absorbance": {"value": 2.1, "unit": "mAU"},
            }
        ],
        "measurement time": "2024-04-11T17:27:15+00:00",
        "plate well count": {"value": 96, "unit": "#"},
        "analytical method identifier": "C:\\Users\\Public\\Documents\\Protocols\\20240411_abs450_96well.prt",
        "experimental data identifier": "",
        "container type": "well plate",
    }
}
GEN5_SYSTEMS = {
    "data system document": {
        "ASM file identifier": "240411_172731_BNCH2345883_abs450_96well_non_numeric_values.json",
        "data system instance identifier": "N/A",
        "file name": "240411_172731_BNCH2345883_abs450_96well_non_numeric_values.txt",
        "UNC path": "/Users/sebastian.cardona/workspace/allotropy/tests/parsers/agilent_gen5/testdata/absorbance/"
        "240411_172731_BNCH2345883_abs450_96well_non_numeric_values.txt",
        "ASM converter name": "allotropy_agilent_gen5",
        "ASM converter version": "0.1.58",
        "software name": "Gen5",
        "software version": "3.12.08",
    },
    "device system document": {"device identifier": "N/A", "model number": "Synergy H1", "equipment serial number": "Unknown"},
}
# The wells of that file used here: (location, value, error) as allotropy wrote them.
GEN5_WELLS = [("A1", 2.1, None), ("A2", 2.13, None), ("A8", -0.0, "OVRFLW"), ("D12", -0.0, "MISSED"), ("H12", 2.5, None)]


def _gen5_document(wells=GEN5_WELLS) -> dict:
    documents = []
    for k, (well, value, error) in enumerate(wells):
        prd = copy.deepcopy(GEN5_PLATE_READER_DOCUMENT)
        md = prd["measurement aggregate document"]["measurement document"][0]
        md["measurement identifier"] = f"AGILENT_GEN5_TEST_ID_{k}"
        md["sample document"].update({"sample identifier": f"BNCH2345883 {well}", "location identifier": well})
        md["absorbance"]["value"] = value
        if error is not None:
            md["error aggregate document"] = {"error document": [{"error": error, "error feature": "absorbance"}]}
        documents.append(prd)
    return {
        "$asm.manifest": "http://purl.allotrope.org/manifests/plate-reader/REC/2024/06/plate-reader.manifest",
        "plate reader aggregate document": {"plate reader document": documents, **copy.deepcopy(GEN5_SYSTEMS)},
    }


# --- BENCHLING/2023/09: bmg_mars/testdata/16-03-03 16-54-03 472 ABS 384 QC.json --------------------------------------
# "analyst" beside the measurement aggregate; unread wells written as a bare NaN; a 384-well plate.
def _bmg_document() -> dict:
    def prd(k: int, well: str, value: float) -> dict:
        return {
            "measurement aggregate document": {
                "measurement time": "2016-03-03T16:54:03+00:00",
                "plate well count": {"value": 384, "unit": "#"},
                "measurement document": [
                    {
                        "measurement identifier": f"BMG_MARS_TEST_ID_{k}",
                        "device control aggregate document": {
                            "device control document": [
                                {
                                    "device type": "absorbance detector",
                                    "detection type": "absorbance",
                                    "detector wavelength setting": {"value": 484.0, "unit": "nm"},
                                }
                            ]
                        },
                        "sample document": {
                            "sample identifier": f"472-0016 {well}",
                            "location identifier": well,
                            "well plate identifier": "472-0016",
                        },
                        "absorbance": {"value": value, "unit": "mAU"},
                    }
                ],
                "experiment type": "472 ABS 384 QC",
                "container type": "well plate",
            },
            "analyst": "USER",
        }

    wells = [("A1", 0.031), ("A2", 0.032), ("A8", float("nan")), ("C1", 2.368), ("P24", 0.033)]
    return {
        "$asm.manifest": "http://purl.allotrope.org/manifests/plate-reader/BENCHLING/2023/09/plate-reader.manifest",
        "plate reader aggregate document": {
            "plate reader document": [prd(k, w, v) for k, (w, v) in enumerate(wells)],
            "device system document": {
                "device identifier": "PHERAstar",
                "model number": "PHERAstar",
                "equipment serial number": "415-1036",
            },
            "data system document": {
                "ASM converter name": "allotropy_bmg_mars",
                "ASM converter version": "0.1.40",
                "software name": "MARS",
            },
        },
    }


# --- REC/2026/03: agilent_gen5/testdata/absorbance/endpoint_wavelength_measurement_labels.json -----------------------
# Two wavelengths of a well in one measurement aggregate; method identifiers in each measurement document; a custom
# information document in the device control document.
def _epoch_measurement(k: int, well: str, wavelength: float, value: float, custom: bool = False) -> dict:
    control = {
        "device type": "plate reader",
        "detection type": "Absorbance",
        "detector carriage speed setting": "Normal",
        "number of averages": {"value": 8.0, "unit": "#"},
        "detector wavelength setting": {"value": wavelength, "unit": "nm"},
    }
    if custom:
        control["custom information document"] = {"Reading Type": "Reader"}
    return {
        "device control aggregate document": {"device control document": [control]},
        "measurement identifier": f"AGILENT_GEN5_TEST_ID_{k}",
        "sample document": {"location identifier": well, "sample identifier": f"Plate 1 {well}", "well plate identifier": "Plate 1"},
        "absorbance": {"value": value, "unit": "mAU"},
        "analytical method identifier": "J:\\some\\protocol.prt",
        "experimental data identifier": "J:\\some\\user\\experiment.xpt",
        "compartment temperature": {"value": 0.0, "unit": "degC"},
    }


def _epoch_document() -> dict:
    wells = [("A1", 1.8012, 0.9066), ("A2", 2.6626, 1.6473), ("A3", 2.5437, 1.2302)]
    documents = [
        {
            "measurement aggregate document": {
                "measurement document": [_epoch_measurement(k, w, 280.0, a, custom=k == 0), _epoch_measurement(k + 12, w, 325.0, b)],
                "measurement time": "2025-01-02T12:30:25+00:00",
                "plate well count": {"value": 96, "unit": "#"},
                "container type": "well plate",
            }
        }
        for k, (w, a, b) in enumerate(wells)
    ]
    return {
        "$asm.manifest": "http://purl.allotrope.org/manifests/plate-reader/REC/2026/03/plate-reader.manifest",
        "plate reader aggregate document": {
            "plate reader document": documents,
            "data system document": {
                "ASM converter name": "allotropy_agilent_gen5",
                "ASM converter version": "0.1.118",
                "software name": "Gen5",
                "software version": "3.12.08",
            },
            "device system document": {"device identifier": "N/A", "model number": "Epoch", "equipment serial number": "1234567"},
        },
    }


def _bytes(doc: dict) -> bytes:
    return json.dumps(doc, indent=4).encode("utf-8")


def _read(doc: dict, name: str = "run.json") -> list[PlateRead]:
    return asm.read(_bytes(doc), name)


def _by_key(plate: PlateRead) -> dict:
    return {(r.well, None if pd.isna(r.wavelength_nm) else int(r.wavelength_nm)): (r.value, r.flag) for r in plate.reads.itertuples()}


# --- documents shaped like allotropy's ---------------------------------------------------------------------------


def test_gen5_rec_2024_06_values_flags_and_metadata():
    [plate] = _read(_gen5_document())
    assert plate.format == "asm_json"
    assert plate.name == "BNCH2345883"
    assert plate.n_wells == 96
    assert list(plate.reads.columns) == READ_COLUMNS
    assert plate.wavelengths == [450]
    reads = _by_key(plate)
    assert reads["A1", 450] == (2.1, "ok")  # "mAU" from allotropy is the OD Gen5 showed, not milli-absorbance
    assert reads["A2", 450] == (2.13, "ok")
    assert reads["H12", 450] == (2.5, "ok")
    assert reads["A8", 450][1] == "overflow" and math.isnan(reads["A8", 450][0])
    assert reads["D12", 450][1] == "missing" and math.isnan(reads["D12", 450][0])
    assert plate.instrument == "Synergy H1"
    assert plate.serial == "Unknown"
    assert plate.software_version == "3.12.08"
    assert plate.read_time == datetime(2024, 4, 11, 17, 27, 15)
    assert plate.extra["measurement time offset"] == "+00:00"
    assert plate.extra["ASM manifest"].endswith("/plate-reader/REC/2024/06/plate-reader.manifest")
    assert plate.extra["ASM converter name"] == "allotropy_agilent_gen5"
    assert plate.extra["software name"] == "Gen5"
    assert plate.extra["analytical method identifier"].endswith("20240411_abs450_96well.prt")
    assert plate.extra["detector carriage speed setting"] == "Normal"
    assert plate.extra["number of averages"] == "8"
    assert plate.extra["detection type"] == "absorbance"
    assert plate.extra["absorbance unit"] == "mAU (read as OD)"
    assert plate.extra["device identifier"] == "N/A"
    assert all(isinstance(v, str) for v in plate.extra.values())


def test_gen5_asm_agrees_with_the_gen5_reader_on_the_same_export(plate_exports):
    # allotropy converted gen5_synergyh1_abs450_ovrflw_missed.txt into the ASM mirrored above.
    name = "gen5_synergyh1_abs450_ovrflw_missed.txt"
    [text_plate] = gen5.read((plate_exports / "agilent_biotek_gen5" / name).read_bytes(), name)
    [asm_plate] = _read(_gen5_document())
    text_reads, asm_reads = _by_key(text_plate), _by_key(asm_plate)
    for key, (value, flag) in asm_reads.items():
        assert text_reads[key][1] == flag, key
        assert flag != "ok" or text_reads[key][0] == pytest.approx(value), key
    assert (asm_plate.instrument, asm_plate.serial, asm_plate.software_version, asm_plate.read_time) == (
        text_plate.instrument,
        text_plate.serial,
        text_plate.software_version,
        text_plate.read_time,
    )


def test_bmg_benchling_2023_09_384_wells_nan_and_analyst():
    [plate] = _read(_bmg_document())
    assert plate.name == "472-0016"
    assert plate.n_wells == 384
    assert plate.wavelengths == [484]
    reads = _by_key(plate)
    assert reads["A1", 484] == (0.031, "ok")
    assert reads["C1", 484] == (2.368, "ok")
    assert reads["P24", 484] == (0.033, "ok")
    assert reads["A8", 484][1] == "missing"
    assert plate.instrument == "PHERAstar" and plate.serial == "415-1036" and plate.software_version is None
    assert plate.read_time == datetime(2016, 3, 3, 16, 54, 3)
    assert plate.extra["analyst"] == "USER"
    assert plate.extra["experiment type"] == "472 ABS 384 QC"
    assert plate.extra["device type"] == "absorbance detector"
    assert "device identifier" not in plate.extra  # the same as the model number


def test_epoch_rec_2026_03_two_wavelengths_in_one_aggregate():
    [plate] = _read(_epoch_document())
    assert plate.name == "Plate 1"
    assert plate.wavelengths == [280, 325]
    reads = _by_key(plate)
    assert reads["A1", 280] == (1.8012, "ok")
    assert reads["A1", 325] == (0.9066, "ok")
    assert reads["A3", 325] == (1.2302, "ok")
    assert len(plate.reads) == 6
    assert plate.instrument == "Epoch" and plate.serial == "1234567"
    assert plate.extra["Reading Type"] == "Reader"
    assert plate.extra["analytical method identifier"] == "J:\\some\\protocol.prt"
    assert plate.extra["compartment temperature"] == "0 degC"


def test_gen5_epoch_text_and_asm_agree(plate_exports):
    name = "gen5_epoch_abs_2wavelengths_280_325.txt"
    [text_plate] = gen5.read((plate_exports / "agilent_biotek_gen5" / name).read_bytes(), name)
    text_reads = _by_key(text_plate)
    for key, (value, _) in _by_key(_read(_epoch_document())[0]).items():
        assert text_reads[key][0] == pytest.approx(value), key


def test_absorbance_and_fluorescence_of_one_plate_become_two_plates():
    # agilent_gen5/testdata/multi_read_modes/jira_cust_8062_bug.json: absorbance 600 nm and fluorescence at two
    # emission wavelengths in one measurement aggregate per well.
    doc = _epoch_document()
    for k, prd in enumerate(doc["plate reader aggregate document"]["plate reader document"]):
        measurements = prd["measurement aggregate document"]["measurement document"]
        for md, (em, ex, rfu) in zip(measurements, [(616.0, 579.0, 75.0 + k), (520.0, 479.0, 418.0 + k)]):
            control = md["device control aggregate document"]["device control document"][0]
            control.update(
                {
                    "detection type": "Fluorescence",
                    "detector wavelength setting": {"value": em, "unit": "nm"},
                    "excitation wavelength setting": {"value": ex, "unit": "nm"},
                }
            )
            del md["absorbance"]
            md["fluorescence"] = {"value": rfu, "unit": "RFU"}
        well = measurements[0]["sample document"]["location identifier"]
        measurements.insert(0, _epoch_measurement(100 + k, well, 600.0, 0.052))  # absorbance first, as in that file
    absorbance, fluorescence = _read(doc)
    assert (absorbance.name, absorbance.wavelengths) == ("Plate 1", [600])
    assert (fluorescence.name, fluorescence.wavelengths) == ("Plate 1 (fluorescence)", [616, 520])
    assert _by_key(fluorescence)["A1", 616] == (75.0, "ok")
    assert _by_key(fluorescence)["A2", 520] == (419.0, "ok")
    assert fluorescence.extra["fluorescence unit"] == "RFU"
    assert fluorescence.extra["detection type"] == "fluorescence"
    assert fluorescence.extra["excitation wavelength setting"] == "579 nm; 479 nm"
    assert _by_key(absorbance)["A1", 600] == (0.052, "ok")


@pytest.mark.parametrize(
    ("unit", "converter", "value", "expected", "note"),
    [
        ("(unitless)", "some_converter", 1.25, 1.25, "(unitless)"),
        ("mAU", "some_converter", 1250.0, 1.25, "mAU (divided by 1000 to OD)"),  # true milli-absorbance
        ("mAU", "some_converter", 1.25, 1.25, "mAU (read as OD)"),
        ("mAU", "allotropy_molecular_devices_softmax_pro", 12.5, 12.5, "mAU (read as OD)"),
    ],
)
def test_absorbance_units(unit, converter, value, expected, note):
    doc = _gen5_document([("A1", value, None), ("A2", 0.5, None)])
    doc["plate reader aggregate document"]["data system document"]["ASM converter name"] = converter
    for prd in doc["plate reader aggregate document"]["plate reader document"]:
        prd["measurement aggregate document"]["measurement document"][0]["absorbance"]["unit"] = unit
    [plate] = _read(doc)
    assert _by_key(plate)["A1", 450] == (pytest.approx(expected), "ok")
    assert _by_key(plate)["A2", 450][0] == pytest.approx(0.5 / 1000 if "1000" in note else 0.5)
    assert plate.extra["absorbance unit"] == note


@pytest.mark.parametrize(
    ("error", "flag"),
    [
        ("OVRFLW", "overflow"),
        ("Saturated", "overflow"),
        ("Signal above range", "overflow"),
        ("MISSED", "missing"),
        ("value missing", "missing"),
        ("?????", "invalid"),
        ("Lamp error", "invalid"),
        ("", "invalid"),
    ],
)
def test_error_documents_become_flags(error, flag):
    [plate] = _read(_gen5_document([("A1", 3.9, error)]))
    value, got = _by_key(plate)["A1", 450]
    assert got == flag and math.isnan(value)


def test_plates_without_identifier_are_grouped_by_measurement_time_and_wells_normalised():
    doc = _gen5_document([("A01", 0.1, None), ("b12", 0.2, None), ("A1", 0.3, None)])
    documents = doc["plate reader aggregate document"]["plate reader document"]
    documents[2]["measurement aggregate document"]["measurement time"] = "2024-04-11T18:00:00+02:00"
    for prd in documents:
        del prd["measurement aggregate document"]["measurement document"][0]["sample document"]["well plate identifier"]
    first, second = _read(doc)
    assert (first.name, sorted(_by_key(first))) == ("Plate 1", [("A1", 450), ("B12", 450)])
    assert (second.name, _by_key(second)) == ("Plate 2", {("A1", 450): (0.3, "ok")})
    assert second.read_time == datetime(2024, 4, 11, 18, 0, 0)
    assert second.extra["measurement time offset"] == "+02:00"


def test_plate_size_is_inferred_when_the_well_count_is_not_a_plate():
    # absorbance_error_document_example.json says "plate well count": 12 for a partial read of a 96-well plate.
    doc = _gen5_document([("A1", 0.1, None), ("H12", 0.2, None)])
    for prd in doc["plate reader aggregate document"]["plate reader document"]:
        prd["measurement aggregate document"]["plate well count"]["value"] = 12
    assert _read(doc)[0].n_wells == 96
    doc = _gen5_document([("A1", 0.1, None), ("P24", 0.2, None)])
    for prd in doc["plate reader aggregate document"]["plate reader document"]:
        del prd["measurement aggregate document"]["plate well count"]
    assert _read(doc)[0].n_wells == 384


# --- write_json round trips --------------------------------------------------------------------------------------

WAVELENGTHS = [405, 450, 490, 540, 570, 600, 630, 650]


@st.composite
def plate_lists(draw) -> list[PlateRead]:
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3, unique=True))
    instrument = draw(st.sampled_from([None, "Synergy H1", "SpectraMax M5", "PHERAstar FSX"]))
    serial = draw(st.sampled_from([None, "Unknown", "1234567", "SN 42/b"]))
    software = draw(st.sampled_from([None, "3.12.08", "7.1.2"]))
    plates = []
    for name in names:
        n_wells = draw(st.sampled_from([96, 384]))
        wavelengths = draw(st.lists(st.sampled_from(WAVELENGTHS), min_size=1, max_size=2, unique=True))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        nrows, ncols = (8, 12) if n_wells == 96 else (16, 24)
        flags = rng.choice(["ok", "ok", "ok", "ok", "overflow", "missing", "invalid"], size=(nrows, ncols, len(wavelengths)))
        values = rng.normal(1.0, 1.2, size=flags.shape)
        records = [
            (well_name(r, c), w, float(values[r, c, k]), str(flags[r, c, k]))
            for r in range(nrows)
            for c in range(ncols)
            for k, w in enumerate(wavelengths)
        ]
        extra = draw(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=3))
        kind = draw(st.sampled_from([None, "absorbance", "fluorescence", "luminescence"]))
        if kind:
            extra["detection type"] = kind
        read_time = draw(st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)))
        plates.append(
            PlateRead(
                name=name,
                format="grid",
                reads=make_reads(records),
                n_wells=n_wells,
                instrument=instrument,
                serial=serial,
                read_time=read_time,
                software_version=software,
                extra=extra,
            )
        )
    return plates


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plates=plate_lists())
def test_write_json_round_trip(plates):
    data = asm.write_json(plates)
    assert asm.sniff(data, "out.json")
    back = asm.read(data, "out.json")
    assert [p.name for p in back] == [p.name for p in plates]
    for p, q in zip(plates, back):
        pd.testing.assert_frame_equal(q.reads, p.reads)
        assert q.wavelengths == p.wavelengths
        assert (q.n_wells, q.instrument, q.serial, q.software_version, q.read_time) == (
            p.n_wells,
            p.instrument,
            p.serial,
            p.software_version,
            p.read_time,
        )
        assert q.format == "asm_json"
        for key, value in p.extra.items():
            assert q.extra[key] == value, key
    assert [(p.name, p.wavelengths) for p in registry.read_plates(data, "out.json")] == [(p.name, p.wavelengths) for p in plates]


def test_write_json_looks_like_current_plate_reader_asm():
    reads = make_reads([("A1", 450, 0.25, "ok"), ("A1", 630, 0.05, "ok"), ("B2", 450, None, "overflow")])
    when = datetime(2025, 3, 4, 9, 15, tzinfo=timezone(timedelta(hours=-5)))
    plate = PlateRead(
        name="P1",
        format="gen5_text",
        reads=reads,
        instrument="Synergy H1",
        serial="S1",
        software_version="3.12.08",
        read_time=when,
        extra={"Reading Type": "Reader"},
    )
    doc = json.loads(asm.write_json([plate], software_version="9.9"))
    assert doc["$asm.manifest"] == "http://purl.allotrope.org/manifests/plate-reader/REC/2026/03/plate-reader.manifest"
    aggregate = doc["plate reader aggregate document"]
    assert aggregate["device system document"]["model number"] == "Synergy H1"
    assert aggregate["device system document"]["equipment serial number"] == "S1"
    assert aggregate["data system document"] == {
        "ASM converter name": "labdb",
        "ASM converter version": "9.9",
        "software version": "3.12.08",
    }
    [prd] = aggregate["plate reader document"]
    mad = prd["measurement aggregate document"]
    assert mad["measurement time"] == "2025-03-04T09:15:00-05:00"
    assert mad["plate well count"] == {"value": 96, "unit": "#"}
    a1, a1_630, b2 = mad["measurement document"]
    assert a1["sample document"] == {"sample identifier": "P1 A1", "location identifier": "A1", "well plate identifier": "P1"}
    assert a1["absorbance"] == {"value": 0.25, "unit": "mAU"}
    control = a1_630["device control aggregate document"]["device control document"][0]
    assert control["detector wavelength setting"] == {"value": 630.0, "unit": "nm"}
    assert b2["error aggregate document"]["error document"][0]["error"] == "Overflow (saturated)"
    assert prd["custom information document"] == {"Reading Type": "Reader"}
    [back] = asm.read(asm.write_json([plate]), "x.json")
    assert back.read_time == datetime(2025, 3, 4, 9, 15) and back.extra["measurement time offset"] == "-05:00"


def test_write_json_refuses_what_one_document_cannot_hold():
    reads = make_reads([("A1", 450, 0.25, "ok")])
    with pytest.raises(ValueError, match="at least one plate"):
        asm.write_json([])
    with pytest.raises(ValueError, match="one instrument"):
        asm.write_json([PlateRead("P1", "grid", reads, instrument="A"), PlateRead("P2", "grid", reads, instrument="B")])
    with pytest.raises(ValueError, match="distinct non-empty names"):
        asm.write_json([PlateRead("P1", "grid", reads), PlateRead("P1", "grid", reads)])


# --- registry ----------------------------------------------------------------------------------------------------


def test_registry_detects_asm_json():
    data = _bytes(_gen5_document())
    assert registry.detect(data, "x.json") is asm
    [plate] = registry.read_plates(data, "x.json")
    assert plate.format == "asm_json"
    assert registry.read_plates(_bytes(_bmg_document()), "x.json")[0].n_wells == 384
    utf16 = json.dumps(_epoch_document()).encode("utf-16")
    assert registry.read_plates(utf16, "x.json")[0].wavelengths == [280, 325]


def test_sniff_claims_no_fixture_export(plate_exports):
    files = [p for p in sorted(plate_exports.rglob("*")) if p.is_file()]
    assert files
    for path in files:
        assert not asm.sniff(path.read_bytes(), path.name), path.name


def test_sniff_needs_json_naming_asm():
    assert asm.sniff(b'\xef\xbb\xbf  {"$asm.manifest": "x"}', "a.json")
    assert not asm.sniff(b'{"hello": "world"}', "a.json")
    assert not asm.sniff(b"plate reader aggregate document", "a.txt")


# --- broken documents --------------------------------------------------------------------------------------------


def _with(edit) -> bytes:
    doc = _gen5_document()
    edit(doc)
    return _bytes(doc)


def _measurement_document(doc: dict, i: int = 0) -> dict:
    return doc["plate reader aggregate document"]["plate reader document"][i]["measurement aggregate document"]["measurement document"][0]


def _set_well(i: int, well: str):
    return lambda doc: _measurement_document(doc, i)["sample document"].update({"location identifier": well})


def _spectrophotometry(doc: dict) -> None:
    doc["$asm.manifest"] = "http://purl.allotrope.org/manifests/spectrophotometry/REC/2024/06/spectrophotometry.manifest"


def _kinetic(doc: dict) -> None:
    md = _measurement_document(doc)
    md["absorption profile data cube"] = md.pop("absorbance")


def _no_value(doc: dict) -> None:
    del _measurement_document(doc)["absorbance"]


def _no_count(doc: dict) -> None:
    for prd in doc["plate reader aggregate document"]["plate reader document"]:
        del prd["measurement aggregate document"]["plate well count"]


M0 = "$['plate reader aggregate document']['plate reader document'][0]['measurement aggregate document']['measurement document'][0]"
M1 = M0.replace("document'][0]['measurement aggregate", "document'][1]['measurement aggregate")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_bytes(_gen5_document())[:700], "not valid JSON (Expecting"),
        (_bytes(_gen5_document())[:700], "the file ends early (truncated?)"),
        (b"", "not valid JSON (Expecting value at line 1, column 1"),
        (
            _with(_spectrophotometry),
            "an ASM document for 'spectrophotometry' (http://purl.allotrope.org/manifests/"
            "spectrophotometry/REC/2024/06/spectrophotometry.manifest), not a plate reader",
        ),
        (
            b'{"name": "run 7", "wells": [1, 2]}',
            "not a plate-reader ASM document: expected an object with "
            "'$asm.manifest' and 'plate reader aggregate document', found an object "
            "with keys 'name', 'wells'.",
        ),
        (b"[1, 2, 3]", "found a JSON list."),
        (
            b'{"$asm.manifest": "x", "plate reader aggregate document": {"plate reader document": []}}',
            "$['plate reader aggregate document']['plate reader document'] is missing or empty",
        ),
        (
            _with(_set_well(1, "I1")),
            f"plate 'BNCH2345883': well 'I1' at {M1}['sample document']['location identifier'] "
            "does not exist on a 96-well plate (rows A-H, columns 1-12); its 'plate well count' "
            "is 96.",
        ),
        (_with(lambda d: (_no_count(d), _set_well(1, "Q1")(d))), "well 'Q1' at "),
        (
            _with(lambda d: (_no_count(d), _set_well(1, "Q1")(d))),
            "does not exist on a 384-well plate (rows A-P, columns 1-24); labdb reads 96- and 384-well plates.",
        ),
        (_with(_set_well(1, "A13")), "well 'A13' at "),
        (
            _with(_set_well(0, "well 5")),
            f"{M0}['sample document']['location identifier'] is 'well 5'; expected a well name like 'A1' or 'A01'.",
        ),
        (
            _with(_set_well(1, "A01")),
            f"plate 'BNCH2345883': well 'A1' is read twice at 450 nm (at {M0} and at {M1}); each well needs one read per wavelength.",
        ),
        (_with(_kinetic), f"{M0} holds 'absorption profile data cube' (a kinetic or spectrum read); only endpoint reads"),
        (
            _with(
                lambda d: _measurement_document(d)["device control aggregate document"]["device control document"][0][
                    "detector wavelength setting"
                ].update({"value": 1e308})
            ),
            f"{M0}: 'detector wavelength setting' is 1e+308; expected a wavelength in nm",
        ),
        (_with(_no_value), f"{M0} has no 'absorbance', 'fluorescence' or 'luminescence' value."),
        (
            _with(lambda d: _measurement_document(d)["absorbance"].update({"unit": "%"})),
            f"{M0}['absorbance'] has unit '%'; expected 'mAU' or '(unitless)'.",
        ),
    ],
)
def test_broken_documents_give_one_line_errors(data, expected):
    with pytest.raises(InputError) as err:
        asm.read(data, "plates/run7.json")
    message = str(err.value)
    assert message.startswith("plates/run7.json: ")
    assert "\n" not in message
    assert expected in message
