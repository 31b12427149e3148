"""Which reads of a plate make its corrected OD: the template's measurement wavelength, and a reference read
subtracted from it (the template's `reference_nm`, or with "auto" the one reference wavelength the file has).

The choice is written in words (`od_choice`), stored with the plate (read_extra["od_reads"]) and shown on the
Upload preview: when several reads could be the reference, none is subtracted and the words say so, so a choice
among candidates is never silent.
"""

from __future__ import annotations

from labdb.core.errors import InputError
from labdb.readers.canonical import PlateRead
from labdb.templates import Template
from qc.layout import REFERENCE_CANDIDATES


def wavelengths(plate: PlateRead, template: Template, src: str) -> tuple[int | None, int | None]:
    """The measure and reference wavelengths to use for this plate (reference may be None)."""
    present = plate.wavelengths
    labelled = [w for w in present if w is not None]
    if template.measure_nm in labelled:
        measure: int | None = template.measure_nm
    elif present == [None]:
        measure = None  # one unlabelled read: taken as the measurement itself
    else:
        raise InputError(
            f"{src}: plate '{plate.name}' has reads at {nm(present)} but template {template.filename} "
            f"measures at {template.measure_nm} nm; use a template with the right measure_nm."
        )
    if template.reference_nm is not None:
        if template.reference_nm not in labelled:
            raise InputError(
                f"{src}: plate '{plate.name}' has no {template.reference_nm} nm reference read (reads: {nm(present)}); "
                f'set reference_nm = "auto" in the template if this reader does not read a reference.'
            )
        return measure, template.reference_nm
    candidates = [w for w in labelled if w != measure and w in REFERENCE_CANDIDATES]
    return measure, candidates[0] if len(candidates) == 1 else None


def od_choice(plate: PlateRead, measure: int | None, reference: int | None, template: Template) -> str:
    """How the corrected OD was made, in words, stored with the plate and shown on the Upload preview: which read is
    the measurement, which the reference and why, so a choice among several candidates is never silent."""
    od = f"{nm([measure])}" + (f" minus {nm([reference])}" if reference is not None else "")
    if template.reference_nm is not None:
        return f"{od} (reference_nm = {template.reference_nm} in template {template.filename})"
    candidates = [w for w in plate.wavelengths if w is not None and w != measure and w in REFERENCE_CANDIDATES]
    if len(candidates) > 1:
        return (
            f"{od}: no reference subtracted, because {nm(candidates)} could each be the reference; "
            f"set reference_nm in template {template.filename} to choose one"
        )
    if reference is not None:
        return f'{od} (the only reference wavelength read; reference_nm = "auto")'
    return f"{od} (no reference wavelength read)"


def nm(wavelengths: list[int | None]) -> str:
    return ", ".join("unlabelled" if w is None else f"{w} nm" for w in wavelengths)
