"""PerkinElmer/Revvity EnVision, EnSpire and Kaleido (VICTOR Nivo, EnSight) CSV exports, endpoint reads.

EnVision/EnSpire: per read a `Plate information` block (a header line and a value line), an optional
`Background information` block, then `Results for <read>` and a grid `,01,...,12,`. After the plates come
`Key,,,,Value` sections; the wavelength of each read is only there (`Measurements:` for EnSpire, `Labels:`
and `Filters:` for EnVision); the last line is `Exported with <software> version <v>`.
Kaleido: `Results for <read>`, `Barcode: <b>, PlateRepeat: 1, WellRepeat: 1`, a grid `,1,...,12`, then
`Measurement Basic Information` (`Key:,,Value`) and `Measurements:`.
The field separator is the Windows list separator: ',' or ';' (with ';' the decimal separator is ',').
read_time is the wall-clock time as written (naive, like every reader); a Kaleido UTC offset stays in extra.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from labdb.core.errors import InputError
from labdb.readers.base import (
    INVALID_MARKERS,
    SNIFF_BYTES,
    clean_cell,
    decode_text,
    parse_cell,
    parse_datetime,
)
from labdb.readers.canonical import PlateRead, make_reads
from qc.vocab import ROW_LETTERS

FORMAT = "revvity"
DISPLAY_NAME = "PerkinElmer/Revvity EnVision, EnSpire, Kaleido"
EXTENSIONS: tuple[str, ...] = (".csv",)

Line = tuple[int, list[str]]  # (1-based line number, cleaned cells)

_HEADER = re.compile(r"\s*([,;])\s*0?1\s*\1\s*0?2\s*\1")
_KINETIC = "kinetic reads are not supported, so export an endpoint read (one value per well and wavelength) instead."


@dataclass
class _Read:
    """One `Results for` grid: where it is, its read name, its plate, and its wells."""

    line: int
    name: str  # 'A450(1)', 'Meas A', 'ABS mono 1'
    plate: str  # plate number (EnVision/EnSpire) or barcode (Kaleido)
    barcode: str
    info: dict[str, str]
    n_wells: int = 96
    records: list[tuple[str, float | None, str]] = field(default_factory=list)  # (well, value, flag)


def sniff(data: bytes, filename: str) -> bool:
    """A `Plate information` block with a `Plate,Repeat,Barcode` header, or a Kaleido `PlateRepeat:` line."""
    raw = decode_text(data[:SNIFF_BYTES]).split("\n")
    lines = [s for s in (line.replace("\u00a0", " ").strip() for line in raw) if s]
    for line, after in zip(lines, lines[1:]):
        if line.rstrip(",;") == "Plate information" and re.match(r"Plate\s*[,;]\s*Repeat\s*[,;]\s*Barcode", after):
            return True
        if line.startswith("Results for") and "PlateRepeat:" in after and "WellRepeat:" in after:
            return True
    return False


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every plate of an EnVision, EnSpire or Kaleido export; kinetic exports raise an InputError."""
    if not sniff(data, filename):
        raise InputError(
            f"{filename}: not an EnVision, EnSpire or Kaleido export (no 'Plate information' block and no "
            "'Results for' grid with a 'Barcode: ..., PlateRepeat: 1' line); export it again as CSV, "
            "or choose another format."
        )
    lines, delimiter = _split(decode_text(data))
    reads, rest = _scan(lines, filename, "," if delimiter == ";" else ".")
    if not reads:
        raise InputError(f"{filename}: no 'Results for ...' grid found; the file holds no plate results.")
    footer = _footer(rest)
    if footer.software is None and not set(footer.blocks) - {"", "Background information"}:
        last = max(n for n, cells in lines if any(cells))
        raise InputError(
            f"{filename}: line {last}: the file ends after the plate results, without the assay, protocol and "
            "measurement sections written after them; it looks truncated, so export it again."
        )
    plates = {r.plate: [x for x in reads if x.plate == r.plate] for r in reads}
    return [_make_plate(plate_reads, footer, filename) for plate_reads in plates.values()]


def _clean(cell: str) -> str:
    """A cell without spaces, quotes, or the `="..."` wrapper EnVision puts around barcodes and serials."""
    s = clean_cell(cell)
    return s[2:-1].strip() if s.startswith('="') and s.endswith('"') else s


def _split(text: str) -> tuple[list[Line], str]:
    """Lines as cleaned cells; the delimiter is the one of the first grid header (',' unless ';')."""
    raw = text.split("\n")
    delimiter = next((m[1] for m in map(_HEADER.match, raw) if m), None)
    if delimiter is None:
        delimiter = ";" if any(line.startswith("Plate;") for line in raw[:200]) else ","
    rows = csv.reader(raw, delimiter=delimiter)
    return [(n, [_clean(c) for c in cells]) for n, cells in enumerate(rows, 1)], delimiter


def _scan(lines: list[Line], filename: str, decimal: str) -> tuple[list[_Read], list[Line]]:
    """The Results grids (with their plate information), and every other line for the footer sections."""
    reads: list[_Read] = []
    rest: list[Line] = []
    info: dict[str, str] | None = None
    i = info_line = 0
    while i < len(lines):
        n, cells = lines[i]
        first = cells[0] if cells else ""
        if first == "Plate information":
            _check_done(info, info_line, filename)
            (info, i), info_line = _plate_info(lines, i, filename), n
        elif first.startswith("Results for") and not (info and "Formula" in info):
            read, i = _results(lines, i, info, filename, decimal)
            reads.append(read)
            info = None
        else:
            if first.startswith(("Calculated results", "Results for")):
                info = None  # a calculated (derived) plate: _footer skips its grid
            rest.append((n, cells))
            i += 1
    _check_done(info, info_line, filename)
    return reads, rest


def _check_done(info: dict[str, str] | None, line: int, filename: str) -> None:
    """A `Plate information` block of raw results must have been followed by its `Results for` grid."""
    if info is not None and "Formula" not in info:
        raise InputError(
            f"{filename}: line {line}: this 'Plate information' block has no 'Results for ...' grid after it; "
            "the file looks damaged or truncated, so export it again."
        )


def _plate_info(lines: list[Line], i: int, filename: str) -> tuple[dict[str, str], int]:
    """The `Plate information` header and value lines under the title at i, as a dict."""
    j = i + 1
    while j < len(lines) and any(lines[j][1]):
        j += 1
    block = lines[i + 1 : j]
    if len(block) < 2:
        raise InputError(
            f"{filename}: line {lines[i][0]}: 'Plate information' needs a header line (Plate, Repeat, Barcode, ...) "
            "and a value line below it; the file looks damaged or truncated, so export it again."
        )
    if len(block) > 2:
        raise InputError(f"{filename}: line {block[2][0]}: a second repeat in one 'Plate information'; {_KINETIC}")
    info = {k: v for k, v in zip(block[0][1], block[1][1]) if k}
    if info.get("Repeat", "1") not in ("", "0", "1"):
        raise InputError(f"{filename}: line {block[1][0]}: plate repeat {info['Repeat']}; {_KINETIC}")
    return info, j


def _results(lines: list[Line], i: int, info: dict | None, filename: str, decimal: str) -> tuple[_Read, int]:
    """A `Results for <read>` title, Kaleido's barcode line (when there is no plate information), and the grid."""
    n, cells = lines[i]
    title = " ".join(cells[0].split())
    name = title.removeprefix("Results for").strip()
    name = re.sub(r"\s+-\s+.*$", "", name).strip() or name  # 'Meas A -  (A)', 'A450(1) - channel 1 (A)'
    j = i + 1
    while j < len(lines) and not any(lines[j][1]):
        j += 1
    barcode, plate = "", ""
    if info is not None:
        barcode, plate = info.get("Barcode", ""), info.get("Plate", "") or "1"
    elif j < len(lines) and lines[j][1][0].startswith("Barcode:"):  # Kaleido
        kaleido = dict(re.findall(r"(Barcode|PlateRepeat|WellRepeat):\s*([^,;]*)", ", ".join(lines[j][1])))
        for key in ("PlateRepeat", "WellRepeat"):
            if kaleido.get(key, "1").strip() not in ("", "0", "1"):
                raise InputError(f"{filename}: line {lines[j][0]}: {key} {kaleido[key].strip()}; {_KINETIC}")
        barcode = plate = kaleido.get("Barcode", "").strip()
        j += 1
    kept = {k: v for k, v in (info or {}).items() if k not in ("Plate", "Repeat", "Barcode")}
    read = _Read(n, name, plate, barcode, kept)
    return read, _grid(lines, j, read, title, filename, decimal)


def _grid(lines: list[Line], j: int, read: _Read, title: str, filename: str, decimal: str) -> int:
    """The grid header at j and its rows into read.records; returns the index after the grid."""
    if j >= len(lines):
        raise InputError(f"{filename}: line {read.line}: the file ends after '{title}' without its grid.")
    n, header = lines[j]
    ncols = 0
    while ncols + 1 < len(header) and header[ncols + 1].isdigit() and int(header[ncols + 1]) == ncols + 1:
        ncols += 1
    if header[:1] != [""] or not ncols or any(header[ncols + 1 :]):
        shown = ",".join(header)[:60]
        raise InputError(f"{filename}: line {n}: expected the grid header ',01,02,...,12' under '{title}': '{shown}'.")
    if ncols not in (12, 24):
        raise InputError(
            f"{filename}: line {n}: the grid header has columns 1-{ncols}; expected 1-12 (96-well plate) or 1-24 (384-well plate)."
        )
    trailing = len(header) > ncols + 1  # then every row ends with a ',' too
    read.n_wells, nrows = (96, 8) if ncols == 12 else (384, 16)
    last = ROW_LETTERS[nrows - 1]
    seen: dict[str, int] = {}
    for k in range(nrows + 1):
        at = j + 1 + k
        m, cells = lines[at] if at < len(lines) else (lines[-1][0] + 1, [])
        letter = cells[0].upper() if cells else ""
        if k == nrows:
            if len(letter) == 1 and letter.isalpha() and len(cells) > 1:
                where = f"{filename}: line {m}: row '{letter}'"
                raise InputError(f"{where} does not exist on a {read.n_wells}-well plate (rows A-{last}).")
            break
        if letter in seen:
            raise InputError(
                f"{filename}: line {m}: row '{letter}' of '{title}' appears a second time (first on line "
                f"{seen[letter]}); expected row '{ROW_LETTERS[k]}'."
            )
        if letter != ROW_LETTERS[k]:
            end = not any(any(c) for _, c in lines[at:])
            found = f"'{','.join(cells)[:40]}'" if any(cells) else ("the end of the file" if end else "an empty line")
            raise InputError(
                f"{filename}: line {m}: expected row '{ROW_LETTERS[k]}' of the {read.n_wells}-well grid under "
                f"'{title}' (rows A-{last} in order) but found {found}; the file looks damaged or truncated."
            )
        seen[letter] = m
        values = cells[1:-1] if trailing and cells[-1] == "" else cells[1:]
        while len(values) > ncols and not values[-1]:
            values.pop()
        if len(values) != ncols:
            raise InputError(f"{filename}: line {m}: row '{letter}' has {len(values)} values; expected {ncols} (as in the header).")
        for c, cell in enumerate(values):
            value, flag = parse_cell(cell, decimal)
            if flag == "invalid" and cell.lower() not in INVALID_MARKERS:
                raise InputError(
                    f"{filename}: line {m}: well {letter}{c + 1} holds {cell!r}, which is not a number; "
                    "expected a number, an overflow marker or an empty cell."
                )
            read.records.append((f"{letter}{c + 1}", value, flag))
    return j + 1 + nrows


def _make_plate(reads: list[_Read], footer: _Footer, filename: str) -> PlateRead:
    """The reads of one plate, their wavelengths from the footer, and the metadata, as a PlateRead."""
    first = reads[0]
    name = first.barcode or f"Plate {first.plate or 1}"
    records: list[tuple[str, int | None, float | None, str]] = []
    seen: dict[int | None, _Read] = {}
    for r in reads:
        wavelength = footer.wavelength(r.name, single=len({x.name for x in reads}) == 1)
        other = seen.get(wavelength)
        if other is not None and other.name == r.name:
            raise InputError(
                f"{filename}: line {r.line}: plate '{name}' has a second '{r.name}' read (the first is on line "
                f"{other.line}); repeated reads are kinetic data, and {_KINETIC}"
            )
        if other is not None:
            at = f"{wavelength} nm" if wavelength else "no known wavelength"
            raise InputError(
                f"{filename}: line {r.line}: reads '{other.name}' (line {other.line}) and '{r.name}' of plate "
                f"'{name}' both have {at}; the 'Measurements:' or 'Labels:' section that gives each read's "
                "wavelength is missing or incomplete (is the file truncated?)."
            )
        seen[wavelength] = r
        records += [(well, wavelength, value, flag) for well, value, flag in r.records]
    extra: dict[str, str] = {}
    for key, value in (kv for r in reads for kv in r.info.items()):
        if key not in extra:
            extra[key] = value
        elif value not in extra[key].split("; "):
            extra[key] += f"; {value}"  # plate information that differs between reads ('Meas A; Meas B')
    extra.update({k: v for k, v in footer.meta.items() if k not in extra})
    stamps = (extra.get("Measurement date") or extra.get("Measurement Started") or "").split("; ")
    times = [t for t in map(parse_datetime, stamps) if t is not None]
    meta = footer.meta
    serial = meta.get("Serial number") or meta.get("Instrument Serial Number") or meta.get("Serial#")
    return PlateRead(
        name=name,
        format=FORMAT,
        reads=make_reads(records),
        n_wells=first.n_wells,
        instrument=footer.instrument,
        serial=serial or None,
        read_time=min(t.replace(tzinfo=None) for t in times) if times else None,
        software_version=footer.software,
        extra=extra,
    )


# --- the sections after the plates ----------------------------------------------------------------

_TITLES = {
    "Basic assay information",
    "Protocol information",
    "Background information",
    "Measurement Basic Information",
    "Plate Type",
    "Platemap",
    "Analysis Result",
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
}


@dataclass
class _Footer:
    """`Key,,,,Value` lines by section title and blank-line-separated block; the exporting software."""

    blocks: dict[str, list[list[tuple[str, str]]]]
    meta: dict[str, str]
    software: str | None = None
    instrument: str | None = None

    def wavelength(self, read: str, single: bool) -> int | None:
        """A read's wavelength: EnSpire/Kaleido `Measurements:`, EnVision `Labels:` -> `Filters:`, or its name."""
        base = re.sub(r"\(\d+\)$", "", read).strip()  # 'A450(1)' -> 'A450'
        measurements = [dict(b) for b in self.blocks.get("Measurements", [])]
        for d in measurements:
            names = {d.get("Tech", "")} | ({f"Meas {d['Meas']}", d["Meas"]} if "Meas" in d else set())
            if read in names or base in names:
                return _wavelength_of(d)
        filters = {b[0][0]: dict(b) for b in self.blocks.get("Filters", [])}
        for label in (dict(b) for b in self.blocks.get("Labels", []) if b[0][0] == base):
            for key in ("Exc. filter", "Ems. filter"):
                cwl = re.search(r"CWL=(\d{3,4})", filters.get(label.get(key, ""), {}).get("Description", ""))
                if cwl:
                    return int(cwl[1])
        named = re.fullmatch(r"(?:A|Abs|OD)\s*(\d{3,4})", base, re.IGNORECASE)
        if named:
            return int(named[1])
        return _wavelength_of(measurements[0]) if single and len(measurements) == 1 else None


def _wavelength_of(block: dict[str, str]) -> int | None:
    """The number in a block's `Excitation wavelength` ('450 nm', '450'), None without one."""
    for key, value in block.items():
        m = re.match(r"\s*(\d{3,4})\b", value)
        if "wavelength" in key.lower() and m:
            return int(m[1])
    return None


def _footer(lines: list[Line]) -> _Footer:
    """Every `Key,,,,Value` line outside the results, by section and block; metadata of the general sections."""
    footer = _Footer({}, {})
    section, block, in_grid = "", None, False
    for _, cells in lines:
        filled = [c for c in cells if c]
        first = cells[0] if cells else ""
        in_grid = (in_grid and len(first) == 1) or (not first and cells[1:2] in (["1"], ["01"]))
        if in_grid:  # a platemap or calculated grid
            continue
        exported = re.match(r"Exported with (.+?) version (\S+)", first)
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
    if "Software version" in footer.meta:  # Kaleido: 'Kaleido 2.0.3058.126'
        footer.software = footer.meta.pop("Software version")
    return footer
