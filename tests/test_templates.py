"""Plate templates and plate maps: what fits is applied, what does not is rejected with the wells named."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from labdb.core.errors import InputError
from labdb.templates import apply_plate_map, load_plate_map, load_template

TEMPLATES = Path(__file__).resolve().parents[1] / "plate_templates"
T96 = TEMPLATES / "bdnf_96_duplicate.toml"


def test_shipped_templates_load_with_their_layouts():
    t96 = load_template(T96)
    assert (t96.plate_size, t96.measure_nm, t96.reference_nm) == (96, 450, 630)
    counts = t96.layout["role"].value_counts().to_dict()
    assert counts == {"sample": 70, "standard": 14, "control": 6, "bridge": 4, "blank": 2}
    a1 = t96.layout.set_index("well").loc["A1"]
    assert (a1["role"], a1["level"], a1["nominal"]) == ("standard", "S1", 4000.0)
    t8 = load_template(TEMPLATES / "bdnf_96_8std_duplicate.toml")
    assert t8.layout["role"].value_counts().to_dict() == {"sample": 68, "standard": 16, "control": 6, "bridge": 4, "blank": 2}
    assert t8.layout.set_index("well").loc["H2", "nominal"] == 31.25
    t384 = load_template(TEMPLATES / "bdnf_384_duplicate.toml")
    assert t384.plate_size == 384 and len(t384.layout) == 384 and t384.reference_nm is None
    assert t384.layout.set_index("well").loc["P24", "role"] == "sample"


def _template(tmp_path, text: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[well.H13]\nrole = "sample"\n', "H13 do not exist on a 96-well plate"),
        ('[well.A1]\nrole = "standrd"\nnominal = 1.0\n', "did you mean 'standard'"),
        ('[well.A1]\nrole = "standard"\n[well.B2]\nrole = "control"\n', "A1, B2 have no 'nominal'"),
        ('[well.A1]\nrole = "sample"\ndilution = -2\n', "A1 have a dilution that is not a positive number"),
        ("[template]\nrefernce_nm = 630\n", "did you mean 'reference_nm'"),
        ("[qc]\nstandard_recovery = 20\n", "[qc]"),
        ('[well.A1\nrole = "x"\n', "not a valid TOML file"),
    ],
)
def test_templates_that_do_not_fit_are_rejected_naming_the_wells(tmp_path, body, expected):
    with pytest.raises(InputError) as info:
        load_template(_template(tmp_path, body))
    assert str(info.value).startswith("t.toml") and expected in str(info.value)


def test_long_plate_map_applies_ids_and_dilutions_and_empties(tmp_path):
    t = load_template(T96)
    rows = ["plate,well,sample_id,dilution", "P1,F3,S-1,50", "P1,F4,S-1,50", "P1,G3,,", "P1,G4,,"]
    rows += [f"P1,{r}{c},X{r}{c}," for r in "H" for c in (3, 4)] + [f"P1,{r}{c},X{r}{c},2" for r in "ABCDEFGH" for c in range(5, 13)]
    path = tmp_path / "map.csv"
    path.write_text("\n".join(rows) + "\n")
    layout = apply_plate_map(t, load_plate_map(path), ("P1",), "run.txt").set_index("well")
    assert layout.loc["F3", "sample_id"] == "S-1" and layout.loc["F3", "dilution"] == 50
    assert layout.loc["G3", "role"] == "empty"
    assert layout.loc["A5", "dilution"] == 2
    with pytest.raises(InputError, match="no rows for plate P2"):
        apply_plate_map(t, load_plate_map(path), ("P2",), "run.txt")


def test_grid_plate_maps_in_csv_and_xlsx(tmp_path):
    t = load_template(T96)
    grid = [[""] + [str(c) for c in range(1, 13)]]
    for r in "ABCDEFGH":
        grid.append([r] + [("" if c <= 2 or (c <= 4 and r in "ABCDE") else f"S{r}{(c + 1) // 2}") for c in range(1, 13)])
    csv_path = tmp_path / "map.csv"
    csv_path.write_text("\n".join(",".join(row) for row in grid))
    book = openpyxl.Workbook()
    book.active.title = "P1"
    for row in grid:
        book.active.append(row)
    xlsx_path = tmp_path / "map.xlsx"
    book.save(xlsx_path)
    for path in (csv_path, xlsx_path):
        layout = apply_plate_map(t, load_plate_map(path), ("P1",), "run.txt").set_index("well")
        assert layout.loc["A5", "sample_id"] == layout.loc["A6", "sample_id"] == "SA3"
        assert layout.loc["H12", "sample_id"] == "SH6"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["well,sample_id", "Z9,S1"], "'Z9' is not a well name"),
        (["well,sample_id", "A5,S1", "A5,S2"], "A5 appear more than once"),
        (["well,sample_id,dilution", "A5,S1,zero"], "dilution 'zero' is not a positive number"),
        (["well,sample_id", "A1,S1"], "gives sample IDs for well(s) A1, which template"),
        (["well,sample_id", "A5,S1"], "sample well(s) A6, A7"),
        (["sample,ID", "S1,A5"], "not a plate map"),
    ],
)
def test_plate_maps_that_do_not_fit_name_the_wells(tmp_path, lines, expected):
    path = tmp_path / "map.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        apply_plate_map(load_template(T96), load_plate_map(path), ("P1",), "run.txt")
    assert expected in str(info.value) and "\n" not in str(info.value)
