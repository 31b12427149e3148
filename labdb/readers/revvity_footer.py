"""The sections a PerkinElmer/Revvity export writes after its plates: `Key,,,,Value` lines by section and block.

They hold the metadata (assay, protocol, instrument) and, only there, each read's wavelengths: EnSpire/Kaleido 2
`Measurements:`, Kaleido 3 `Details of Measurement Sequence`, EnVision `Labels:` and `Filters:`. Used by revvity.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Line = tuple[int, list[str]]  # (1-based line number, cleaned cells)

_TITLES = {
    "Basic assay information",
    "Protocol information",
    "Background information",
    "Measurement Basic Information",
    "Plate Type",
    "Platemap",
    "Analysis Result",
    "Details of Measurement Sequence",
}
_NOT_META = {
    "Background information",
    "Platemap",
    "Coordinates of corners",
    "Calculations",
    "Operations",
    "Measurements",
    "Labels",
    "Filters",
    "Comments",
    "Analysis",
    "Analysis Result",
    "Details of Measurement Sequence",
    "Mirror modules",
    "Aperture",
}
_EMISSION_FILTERS = ("Ems. filter", "2nd ems. filter")  # EnVision label keys of channel 1 and channel 2


@dataclass
class Footer:
    """`Key,,,,Value` lines by section title and blank-line-separated block; the exporting software."""

    blocks: dict[str, list[list[tuple[str, str]]]]
    meta: dict[str, str]
    software: str | None = None
    instrument: str | None = None

    def wavelengths(
        self, name: str, channel: int, hint: tuple[int | None, int | None], single: bool
    ) -> tuple[int | None, int | None, int | None]:
        """(key, excitation, emission) of a read: the key is the emission wavelength (fluorescence) or else the
        excitation one (absorbance). From EnSpire/Kaleido `Measurements:`, Kaleido 3 `Details of Measurement
        Sequence` and its table (hint), EnVision `Labels:` -> `Filters:` (per channel), or the read's name."""
        excitation, emission = hint
        base = re.sub(r"\(\d+\)$", "", name).strip()  # 'A450(1)' -> 'A450'
        measurements = [dict(b) for s in ("Measurements", "Details of Measurement Sequence") for b in self.blocks.get(s, [])]
        labels = [dict(b) for b in self.blocks.get("Labels", []) if b[0][0] == base]
        for d in measurements:
            names = ({d.get("Tech", ""), d.get("Operation", "")} | ({f"Meas {d['Meas']}", d["Meas"]} if "Meas" in d else set())) - {""}
            if name in names or base in names:
                exc, ems = _block_wavelengths(d)
                excitation, emission = excitation or exc, emission or ems
                break
        else:
            if labels:
                exc, ems = _label_wavelengths(labels[0], {b[0][0]: dict(b) for b in self.blocks.get("Filters", [])}, channel)
                excitation, emission = excitation or exc, emission or ems
        if excitation is None and emission is None:
            named = re.fullmatch(r"(?:A|Abs|OD)\s*(\d{3,4})", base, re.IGNORECASE)
            if named:
                excitation = int(named[1])
            elif single and len(measurements) == 1:
                excitation, emission = _block_wavelengths(measurements[0])
        return emission or excitation, excitation, emission


def nm_of(text: str | None) -> int | None:
    """450 from '450', '450 nm', '450.0'; None for anything else."""
    m = re.match(r"\s*(\d{3,4})(?:\.\d*)?\s*(?:nm)?\s*$", text or "")
    return int(m[1]) if m else None


def _block_wavelengths(block: dict[str, str]) -> tuple[int | None, int | None]:
    """(excitation, emission) from a block's `Excitation wavelength [nm]` / `Emission Wavelength [nm]` (a plain
    `Wavelength` is an absorbance read's, counted as excitation)."""
    excitation = emission = None
    for key, value in block.items():
        low, nm = key.lower(), nm_of(value)
        if "wavelength" not in low or nm is None:
            continue
        if "emission" in low:
            emission = emission or nm
        else:
            excitation = excitation or nm
    return excitation, emission


def _label_wavelengths(label: dict[str, str], filters: dict[str, dict[str, str]], channel: int) -> tuple[int | None, int | None]:
    """(excitation, emission) of an EnVision label: its monochromator wavelengths, else its filters' CWL; channel 2
    of a dual-emission label (HTRF) reads through the `2nd ems. filter`."""

    def cwl(name: str | None) -> int | None:
        m = re.search(r"CWL=(\d{3,4})", filters.get(name or "", {}).get("Description", ""))
        return int(m[1]) if m else None

    excitation = nm_of(label.get("Excitation wavelength")) or cwl(label.get("Exc. filter"))
    ems_key = ("Emission wavelength", "2nd emission wavelength")[channel - 1] if channel in (1, 2) else ""
    ems_filter = _EMISSION_FILTERS[channel - 1] if channel in (1, 2) else ""
    emission = nm_of(label.get(ems_key)) or cwl(label.get(ems_filter))
    return excitation, emission


def parse_footer(lines: list[Line]) -> Footer:
    """Every `Key,,,,Value` line outside the results, by section and block; metadata of the general sections."""
    footer = Footer({}, {})
    section, block, in_grid = "", None, False
    for _, cells in lines:
        filled = [c for c in cells if c]
        first = cells[0] if cells else ""
        in_grid = (in_grid and len(first) == 1) or (not first and cells[1:2] in (["1"], ["01"]))
        if in_grid:  # a platemap or calculated grid
            continue
        exported = re.match(r"Exported with (.+?)(?: version)? (\d+(?:\.\d+)+)\b", first)
        if exported:
            footer.software = f"{exported[1]} {exported[2]}"
            footer.instrument = exported[1].removesuffix(" Workstation") if "Workstation" in exported[1] else None
        elif not filled:
            block = None
        elif len(filled) == 1 and first and (first.endswith(":") or first in _TITLES):
            section, block = first.rstrip(":").strip(), None
        elif first and len(filled) > 1:
            key, value = first.rstrip(":").strip(), ", ".join(filled[1:])
            if block is None:
                block = []
                footer.blocks.setdefault(section, []).append(block)
            block.append((key, value))
            if section not in _NOT_META:
                footer.meta.setdefault(key, value)
    for key in ("Software version", "Software Version"):  # Kaleido: 'Kaleido 2.0.3058.126'
        if key in footer.meta:
            footer.software = footer.meta.pop(key)
    return footer
