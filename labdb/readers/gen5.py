"""Agilent BioTek Gen5 text exports (tab, or comma in .csv), endpoint reads; and a writer for simulated files.

A file holds header `Key<TAB>Value` lines, `Procedure Details`, and per plate (`Plate Number`) a `Results`
grid: a header `<TAB>1..12`, rows A-H, one line per read with the read label last ('abs450:450', '280').
Only raw reads become canonical reads; Gen5's derived rows (Blank ..., [Concentration]) are skipped.
Gen5 .xlsx exports hold the same lines in sheet cells, which gen5_xlsx turns into lines. A grid cell that is
neither a number nor a Gen5 marker (OVRFLW, MISSED, ?????), or a grid without all its rows, is an InputError.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from labdb.core.errors import InputError
from labdb.readers import gen5_xlsx
from labdb.readers.base import (
    INVALID_MARKERS,
    SNIFF_BYTES,
    decode_text,
    expand_flags,
    find_grid_header,
    parse_cell,
    parse_datetime,
    plate_arrays,
)
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.workbook import is_workbook
from qc.vocab import ROW_LETTERS, plate_shape, well_name

FORMAT = "gen5_text"
DISPLAY_NAME = "Agilent BioTek Gen5 text export"
EXTENSIONS = (".txt", ".csv", ".tsv", ".xlsx")

Line = tuple[int, list[str]]  # (1-based line number, stripped cells)

# A raw read label: '280', 'abs450:450', 'Read 1:485,528', 'GFP:485/20,530/20'. The wavelength is the last one.
_RAW_LABEL = re.compile(r"(?:(?P<name>[^:]*):)?\s*(?P<ex>\d{3,4})(?:/\d+)?(?:\s*,\s*(?P<em>\d{3,4})(?:/\d+)?)?")
_DERIVED_PREFIXES = ("blank", "corrected", "delta", "ratio", "normalized", "transformed")
_WELL = re.compile(r"[A-P]\d{1,2}")
_DECIMAL_DOT = re.compile(r"-?\d+\.\d+")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")
_WRITE_MARKERS = {"overflow": "OVRFLW", "missing": "MISSED", "invalid": "?????"}


@dataclass(frozen=True)
class _Source:
    """Where lines come from, for messages: 'run7.txt: line 5' or "run7.xlsx: sheet 'Plate 1', row 5"."""

    name: str
    unit: str = "line"

    def at(self, n: int) -> str:
        """The start of a message about line (or row) n."""
        return f"{self.name}: {self.unit} {n}"


@dataclass
class _Grid:
    """One grid as written in the file: its title line and (line, row letter, label, cells) per line."""

    title: str
    n_wells: int
    rows: list[tuple[int, str, str, list[str]]]


def sniff(data: bytes, filename: str) -> bool:
    """Gen5 exports (text or workbook) start with 'Software Version' and carry 'Plate Number' / 'Reader Type:' keys."""
    if is_workbook(data):
        return gen5_xlsx.sniff(data)
    return _is_gen5(_split(decode_text(data[:SNIFF_BYTES]))[0])


def _is_gen5(lines: list[Line]) -> bool:
    """The Gen5 header keys are there."""
    keys = {cells[0] for _, cells in lines if cells}
    return "Software Version" in keys and bool(keys & {"Plate Number", "Reader Type:", "Procedure Details"})


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every plate in a Gen5 endpoint text export or workbook; kinetic exports are rejected with an InputError."""
    if is_workbook(data):
        sheets = gen5_xlsx.sheet_lines(data, filename, _is_gen5)
        return [p for sheet, ls in sheets for p in _read_lines(ls, _Source(filename, f"sheet '{sheet}', row"))]
    lines, delimiter = _split(decode_text(data))
    if not _is_gen5(lines):
        raise InputError(
            f"{filename}: not a Gen5 text export (no 'Software Version' and 'Plate Number' header lines); "
            "export it from Gen5 again, or choose another format."
        )
    return _read_lines(lines, _Source(filename), delimiter)


def _read_lines(lines: list[Line], src: _Source, delimiter: str = "\t") -> list[PlateRead]:
    """The plates in the lines of a Gen5 export (from a text file or a sheet)."""
    _reject_kinetic(lines, src)
    decimal = _decimal(lines, delimiter)
    starts = [i for i, (_, cells) in enumerate(lines) if cells and cells[0] == "Plate Number"] or [0]
    head = lines[: starts[0]]
    sections = [lines[a:b] for a, b in zip(starts, starts[1:] + [len(lines)])]
    return [_read_plate(head, s, k, src, delimiter, decimal) for k, s in enumerate(sections, 1)]


def _split(text: str) -> tuple[list[Line], str]:
    """Lines as stripped cells; Gen5 writes tabs in .txt and unquoted commas in .csv."""
    raw = text.split("\n")
    delimiter = "\t" if any("\t" in line for line in raw[:300]) else ","
    rows = list(csv.reader(raw)) if delimiter == "," else [line.split("\t") for line in raw]
    return [(n, [c.strip() for c in cells]) for n, cells in enumerate(rows, 1)], delimiter


def _decimal(lines: list[Line], delimiter: str) -> str | None:
    """'.' or ',' as the file's decimal separator, from the numbers it holds (None: no evidence)."""
    if delimiter == ",":
        return "."
    cells = [c for _, cs in lines for c in cs]
    dots = sum(bool(_DECIMAL_DOT.fullmatch(c)) for c in cells)
    commas = sum(bool(_DECIMAL_COMMA.fullmatch(c)) for c in cells)
    return "," if commas > dots else ("." if dots else None)


def _reject_kinetic(lines: list[Line], src: _Source) -> None:
    """Kinetic exports (a 'Start Kinetic' step, a 'Time' column of time points) are out of scope."""
    for n, cells in lines:
        first = cells[0] if cells else ""
        if first == "Start Kinetic" or (first == "Time" and len(cells) > 2 and _WELL.fullmatch(cells[2])):
            raise InputError(
                f"{src.at(n)}: this is a Gen5 kinetic export ('{first}'); kinetic reads are not "
                "supported, so export an endpoint read (one value per well and wavelength) instead."
            )


def _read_plate(head: list[Line], section: list[Line], index: int, src: _Source, delimiter: str, decimal: str | None) -> PlateRead:
    """One plate: the header and procedure lines before its first grid, then its grids."""
    meta: dict[str, str] = {}
    procedure: list[str] = []
    grids: list[_Grid] = []
    lines = head + section  # the file's header (before the first 'Plate Number') belongs to every plate
    title, state, i = "", "header", 0
    while i < len(lines):
        n, cells = lines[i]
        ncols = _header_columns(cells)
        if ncols:
            if ncols not in (12, 24):
                raise InputError(
                    f"{src.at(n)}: the grid header has columns 1-{ncols}; a Gen5 plate has columns 1-12 (96 wells) or 1-24 (384 wells)."
                )
            grid, i = _read_grid(lines, i, ncols, title, src)
            grids.append(grid)
            continue
        if cells and cells[0] == "Procedure Details":
            state = "procedure"
        elif state == "procedure" and any(cells):
            procedure.append(" ".join(c for c in cells if c))
        elif state == "procedure" and procedure:
            state = "after"
        elif not grids and state != "procedure":
            _add_meta(meta, cells, delimiter)
        if any(cells):
            title = cells[0]
        i += 1
    return _make_plate(meta, procedure, grids, index, src, decimal)


def _add_meta(meta: dict[str, str], cells: list[str], delimiter: str) -> None:
    """A 'Key<TAB>Value' line into meta (key without its trailing colon); repeated keys keep every value."""
    if len(cells) < 2 or not cells[0]:
        return
    key, value = cells[0].rstrip(":").strip(), delimiter.join(cells[1:]).strip()
    if key in meta and value not in meta[key].split("; "):
        meta[key] = f"{meta[key]}; {value}"
    else:
        meta.setdefault(key, value)


def _header_columns(cells: list[str]) -> int:
    """The number of columns when the line is a Gen5 grid header ('' then 1, 2, 3, ...), else 0."""
    found = find_grid_header(cells)
    return found[1] if found and found[0] == 0 and not cells[0] else 0


def _read_grid(lines: list[Line], i: int, ncols: int, title: str, src: _Source) -> tuple[_Grid, int]:
    """Row lines (a letter) and their continuation lines (an empty first cell) under the header at i."""
    n_wells = 96 if ncols == 12 else 384
    last = ROW_LETTERS[plate_shape(n_wells)[0] - 1]
    rows: list[tuple[int, str, str, list[str]]] = []
    letter = ""
    for n, cells in lines[i + 1 :]:
        first = cells[0] if cells else ""
        if len(first) == 1 and "A" <= first <= "Z":
            if first > last:
                raise InputError(f"{src.at(n)}: row '{first}' does not exist on a {n_wells}-well plate (rows A-{last}).")
            if letter and first <= letter:
                raise InputError(f"{src.at(n)}: row '{first}' comes after row '{letter}'; rows run A-{last} in order.")
            letter = first
        elif first or not letter or not any(cells):
            break
        rest = cells[1 + ncols :]
        while rest and not rest[-1]:
            rest.pop()
        if len(cells) < 1 + ncols or len(rest) > 1:
            found = len(cells) - 1 - (1 if len(rest) == 1 else 0)
            raise InputError(
                f"{src.at(n)}: row '{letter}' has {max(found, 0)} values; a Gen5 grid row has {ncols} values "
                "and then the read label. The file looks damaged: export it from Gen5 again."
            )
        rows.append((n, letter, ",".join(rest), cells[1 : 1 + ncols]))
        i += 1
    return _Grid(title, n_wells, rows), i + 1


def _raw_wavelength(label: str) -> int | None:
    """The wavelength of a raw read label ('abs450:450' -> 450), None for a derived one ('[Concentration]')."""
    m = _RAW_LABEL.fullmatch(label)
    if not m or (m["name"] or "").strip().lower().startswith(_DERIVED_PREFIXES):
        return None
    return int(m["em"] or m["ex"])


def _make_plate(meta: dict[str, str], procedure: list[str], grids: list[_Grid], index: int, src: _Source, decimal: str | None) -> PlateRead:
    """Raw reads of every grid, and the header, into a PlateRead."""
    name = meta.pop("Plate Number", "") or f"Plate {index}"
    results = [g for g in grids if g.title != "Layout"]
    if not results:
        raise InputError(f"{src.name}: plate '{name}': no Results grid (a line '<TAB>1<TAB>2...' then rows A-H).")
    listed = re.findall(r"\d{3,4}", " ".join(p.split("Wavelengths:", 1)[1] for p in procedure if "Wavelengths:" in p))
    records: list[tuple[str, int | None, float | None, str]] = []
    seen: dict[tuple[str, int | None], int] = {}
    skipped: list[str] = []
    for grid in results:
        missing = [r for r in ROW_LETTERS[: plate_shape(grid.n_wells)[0]] if r not in {row[1] for row in grid.rows}]
        if missing and grid.rows:
            raise InputError(
                f"{src.at(grid.rows[-1][0])}: the grid has no row '{missing[0]}'; a {grid.n_wells}-well grid has rows "
                f"A-{ROW_LETTERS[plate_shape(grid.n_wells)[0] - 1]} (is the sheet cut short?)."
            )
        for n, letter, label, cells in grid.rows:
            label = label or (grid.title if _RAW_LABEL.fullmatch(grid.title) else "")
            wavelength = _raw_wavelength(label) if label else (int(listed[0]) if len(listed) == 1 else None)
            if label and wavelength is None:
                if label not in skipped:
                    skipped.append(label)
                continue
            if (letter, wavelength) in seen:
                at = f"at {wavelength} nm" if wavelength else "without a wavelength label"
                raise InputError(
                    f"{src.at(n)}: row '{letter}' has a second read {at} (the first is on {src.unit} "
                    f"{seen[letter, wavelength]}); each read of a row needs its own wavelength label."
                )
            seen[letter, wavelength] = n
            for c, cell in enumerate(cells):
                value, flag = parse_cell(cell, decimal)
                if flag == "invalid" and cell.lower() not in INVALID_MARKERS:
                    raise InputError(
                        f"{src.at(n)}: well {letter}{c + 1} holds {cell!r}, which is not a number; expected a number "
                        "or a Gen5 marker (OVRFLW, MISSED, ?????)."
                    )
                records.append((f"{letter}{c + 1}", wavelength, value, flag))
    if not records:
        labels = ", ".join(skipped)
        raise InputError(f"{src.name}: plate '{name}': no raw read in the Results grid (only {labels}).")
    read_time = parse_datetime(meta.get("Date"), meta.get("Time"))
    if read_time is not None:
        del meta["Date"]
        meta.pop("Time", None)
    if procedure:
        meta["Procedure Details"] = "; ".join(procedure)
    if skipped:
        meta["Derived reads skipped"] = "; ".join(skipped)
    return PlateRead(
        name=name,
        format=FORMAT,
        reads=make_reads(records),
        n_wells=results[0].n_wells,
        instrument=meta.pop("Reader Type", "") or None,
        serial=meta.pop("Reader Serial Number", "") or None,
        read_time=read_time,
        software_version=meta.pop("Software Version", "") or None,
        extra=meta,
    )


# --- writer for simulated plates ----------------------------------------------------------------


def write_text(plates: list[dict], *, software_version: str = "3.12.08", delimiter: str = "\t") -> bytes:
    """A Gen5 3.x text export (CRLF, 4 decimals) of simulated plates; read() returns the same plates.

    Each plate dict: "values" {wavelength_nm: array of shape (8, 12) or (16, 24)} (required);
    "name" ("Plate <i>"); "read_time" (datetime, written to the second; None leaves Date/Time empty);
    "instrument" ("Synergy H1"); "serial" (""); "read_name" (None: labels are bare wavelengths as the
    Epoch writes them; "abs450": labels "abs450:450" as the Synergy H1 writes them);
    "flags" {"A1": flag} for every wavelength or {"A1@450": flag} for one wavelength, flag in FLAGS:
    overflow -> OVRFLW, missing -> MISSED, invalid -> ?????. NaN values without a flag are written MISSED.
    """
    d = delimiter
    out = ["", "", f"Software Version{d}{software_version}", "", "", ""]
    out += [f"Experiment File Path:{d}", f"Protocol File Path:{d}", "", "", ""]
    for index, plate in enumerate(plates, 1):
        out += _plate_lines(plate, index, d)
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _plate_lines(plate: dict, index: int, d: str) -> list[str]:
    """The header, procedure and Results lines of one simulated plate."""
    values, (nrows, ncols) = plate_arrays({int(w): v for w, v in plate["values"].items()})
    flags = expand_flags(plate.get("flags") or {}, list(values), (nrows, ncols))
    t: datetime | None = plate.get("read_time")
    read_name = plate.get("read_name")
    label = {w: f"{read_name}:{w}" if read_name else str(w) for w in values}
    clock = f"{(t.hour % 12) or 12}:{t.minute:02d}:{t.second:02d} {'PM' if t.hour >= 12 else 'AM'}" if t else ""
    lines = [
        f"Plate Number{d}{plate.get('name') or f'Plate {index}'}",
        f"Date{d}{f'{t.month}/{t.day}/{t.year}' if t else ''}",
        f"Time{d}{clock}",
        f"Reader Type:{d}{plate.get('instrument', 'Synergy H1')}",
        f"Reader Serial Number:{d}{plate.get('serial', '')}",
        f"Reading Type{d}Reader",
        "",
        "Procedure Details",
        "",
        f"Plate Type{d}{nrows * ncols} WELL PLATE (Use plate lid)",
        f"Eject plate on completion{d}",
        *([f"Read{d}{read_name}", f"{d}Absorbance Endpoint"] if read_name else [f"Read{d}Absorbance Endpoint"]),
        f"{d}Full Plate",
        f"{d}Wavelengths:  {', '.join(str(w) for w in values)}",
        f"{d}Read Speed: Normal,  Delay: 100 msec,  Measurements/Data Point: 8",
        "",
        "Results",
        d + d.join(str(c + 1) for c in range(ncols)),
    ]
    for r in range(nrows):
        for k, (w, grid) in enumerate(values.items()):
            cells = [_format_cell(grid[r, c], flags.get((well_name(r, c), w), "ok")) for c in range(ncols)]
            lines.append(d.join(["" if k else ROW_LETTERS[r], *cells, label[w]]))
    return lines + ["", "", ""]


def _format_cell(value: float, flag: str) -> str:
    """A value with 4 decimals, or Gen5's marker for a flagged or NaN well."""
    if flag != "ok":
        return _WRITE_MARKERS[flag]
    return f"{value:.4f}" if np.isfinite(value) else "MISSED"
