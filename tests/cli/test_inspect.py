"""`labdb inspect`: what was read, as a grid or as one JSON object, without touching any database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from labdb.cli import app

runner = CliRunner()
GEN5 = "agilent_biotek_gen5/gen5_synergyh1_abs450_ovrflw_missed.txt"
EPOCH = "agilent_biotek_gen5/gen5_epoch_abs_2wavelengths_280_325.txt"


def test_json_shape_and_values(plate_exports, tmp_path, monkeypatch):
    monkeypatch.setenv("LABDB_DATABASE_URL", f"sqlite:///{tmp_path / 'never.sqlite'}")
    result = runner.invoke(app, ["inspect", "--json", str(plate_exports / GEN5)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == "gen5_text" and len(doc["plates"]) == 1
    plate = doc["plates"][0]
    assert plate["name"] == "Plate 1"
    (read,) = plate["reads"]
    assert read["wavelength_nm"] == 450 and len(read["values"]) == 96
    assert read["values"]["A1"] == 2.1 and read["values"]["A8"] is None
    assert read["flags"]["A8"] == "overflow" and read["flags"]["D12"] == "missing" and "A1" not in read["flags"]
    assert not (tmp_path / "never.sqlite").exists()  # inspect never opens the database


def test_two_wavelengths_and_the_human_grid(plate_exports):
    doc = json.loads(runner.invoke(app, ["inspect", "--json", str(plate_exports / EPOCH)]).stdout)
    reads = {r["wavelength_nm"]: r["values"] for r in doc["plates"][0]["reads"]}
    assert set(reads) == {280, 325}
    assert reads[325]["B1"] == 1.6629 and reads[280]["B1"] == 1.0033
    text = runner.invoke(app, ["inspect", str(plate_exports / GEN5)])
    assert text.exit_code == 0
    assert "450 nm: 96 wells, 13 flagged" in text.stdout and "OVRFLW" in text.stdout  # the file's own marker
    doc = json.loads(runner.invoke(app, ["inspect", "--json", str(plate_exports / GEN5)]).stdout)
    [read] = doc["plates"][0]["reads"]
    assert set(read["markers"]) == set(read["flags"]) and "OVRFLW" in read["markers"].values()
    assert {read["flags"][w] for w, m in read["markers"].items() if m == "OVRFLW"} == {"overflow"}
