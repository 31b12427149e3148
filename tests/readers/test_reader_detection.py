"""The registry picks the right reader for every real export, and every format has a working reader."""

from __future__ import annotations

import pytest

from labdb.core.errors import InputError
from labdb.readers.registry import READERS, ReaderFormat, read_plates

# Every file in ../shared/fixtures/plate_exports: the reader that must claim it, or "kinetic" when it
# holds only kinetic reads (refused with a clear message). No fixture is genuinely ambiguous today.
EXPECTED = {
    "agilent_biotek_gen5/gen5_abs630_layout_blank_concentration.txt": "gen5_text",
    "agilent_biotek_gen5/gen5_epoch2_kinetic_abs340.xlsx": "kinetic",
    "agilent_biotek_gen5/gen5_epoch_abs_2wavelengths_280_325.txt": "gen5_text",
    "agilent_biotek_gen5/gen5_synergyh1_abs450_ovrflw_missed.txt": "gen5_text",
    "agilent_biotek_gen5/gen5_synergyneo2_kinetic_od600_gfp.csv": "kinetic",
    "bmg_labtech/mars_abs450_96_plate.csv": "bmg_mars",
    "bmg_labtech/mars_clariostar_table_absspectrum_semicolon.csv": "bmg_mars",
    "bmg_labtech/mars_pherastar_abs484_384_partial.csv": "bmg_mars",
    "bmg_labtech/mars_pherastar_elisa_abs450_96.csv": "bmg_mars",
    "molecular_devices_softmax/softmax_abs450_4plates_utf16le.txt": "softmax",
    "molecular_devices_softmax/softmax_elisa_450_630_plateformat.txt": "softmax",
    "molecular_devices_softmax/softmax_elisa_450_650_plateformat_groups.txt": "softmax",
    "molecular_devices_softmax/softmax_elisa_450_650_timeformat_reduced.txt": "softmax",
    "perkinelmer_revvity/enspire_elisa_450_630.csv": "revvity",
    "perkinelmer_revvity/envision_a450_2plates.csv": "revvity",
    "perkinelmer_revvity/kaleido_abs450_96.csv": "revvity",
    "tecan/icontrol_infinite200pro_endpoint_abs600.xlsx": "tecan",
    "tecan/icontrol_infinite200pro_endpoint_kinetic_abs600_ddmmyyyy.xlsx": "tecan",
    "tecan/icontrol_infiniteF200_fluor_partial_plates.txt": "tecan",
    "tecan/magellan_list_384_abs485_560.xlsx": "tecan",
    "tecan/magellan_sunrise_elisa_grid.xls": "tecan",
    "thermo_skanit/skanit_elisa450_blank_stdcurve.xlsx": "skanit",
    "thermo_skanit/skanit_multiskan_sky_kinetic_abs340.xlsx": "kinetic",
    "thermo_skanit/skanit_multiskan_spectrum_txt_340_420.txt": "kinetic",
}


def test_every_fixture_is_listed(plate_exports):
    present = {str(p.relative_to(plate_exports)) for p in plate_exports.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert present == set(EXPECTED), "list new fixtures in EXPECTED with the reader that must claim them"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detection_picks_the_right_reader(plate_exports, name):
    data = (plate_exports / name).read_bytes()
    if EXPECTED[name] == "kinetic":
        with pytest.raises(InputError, match=r"kinetic reads.*not supported"):
            read_plates(data, name.split("/")[-1])
        return
    plates = read_plates(data, name.split("/")[-1])
    assert {p.format for p in plates} == {EXPECTED[name]}
    for plate in plates:
        assert len(plate.reads) > 0 and plate.n_wells in (96, 384)
        flagged = plate.reads["flag"] != "ok"
        assert plate.reads.loc[flagged, "value"].isna().all()  # saturated wells are never numbers


def test_every_format_has_a_reader_with_unique_names():
    assert set(READERS) == set(ReaderFormat)
    formats = [r.FORMAT for r in READERS.values()]
    assert len(formats) == len(set(formats)) and formats == [f.value for f in READERS]
    names = [r.DISPLAY_NAME for r in READERS.values()]
    assert len(names) == len(set(names))
    for reader in READERS.values():
        assert reader.EXTENSIONS and all(e.startswith(".") and e == e.lower() for e in reader.EXTENSIONS)
        assert "not available yet" not in (reader.read.__doc__ or "")
