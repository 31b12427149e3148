"""labdb.read_choice: which reads make the corrected OD, and the words that say so (never a silent pick)."""

from __future__ import annotations

from labdb.core.config import resource_dir
from labdb.read_choice import od_choice, wavelengths
from labdb.readers.canonical import PlateRead, make_reads
from labdb.templates import load_template, parse_template

TEMPLATE = resource_dir("plate_templates") / "bdnf_96_duplicate.toml"


def _plate(*nm: int | None) -> PlateRead:
    return PlateRead("P1", "grid", make_reads([(f"A{c}", w, 0.1, "ok") for c in range(1, 13) for w in nm]))


def _auto():
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "reference_nm" in text
    lines = [line for line in text.splitlines() if not line.strip().startswith("reference_nm")]
    lines.insert(next(i for i, line in enumerate(lines) if line.strip() == "[template]") + 1, 'reference_nm = "auto"')
    return parse_template("auto.toml", "\n".join(lines).encode())


def test_the_only_reference_read_is_used_and_named():
    template = _auto()
    plate = _plate(450, 630)
    measure, reference = wavelengths(plate, template, "f.csv")
    assert (measure, reference) == (450, 630)
    assert (
        od_choice(plate, measure, reference, template) == '450 nm minus 630 nm (the only reference wavelength read; reference_nm = "auto")'
    )


def test_several_reference_candidates_are_named_not_picked():
    template = _auto()
    plate = _plate(450, 630, 650)
    measure, reference = wavelengths(plate, template, "f.csv")
    assert (measure, reference) == (450, None)
    words = od_choice(plate, measure, reference, template)
    assert words.startswith("450 nm: no reference subtracted, because 630 nm, 650 nm could each be the reference")
    assert "set reference_nm in template auto.toml" in words


def test_a_fixed_reference_says_where_it_comes_from():
    template = load_template(TEMPLATE)
    assert template.reference_nm is not None
    plate = _plate(450, template.reference_nm)
    measure, reference = wavelengths(plate, template, "f.csv")
    assert od_choice(plate, measure, reference, template).endswith(f"(reference_nm = {template.reference_nm} in template {TEMPLATE.name})")
    assert od_choice(_plate(450), 450, None, _auto()) == "450 nm (no reference wavelength read)"
