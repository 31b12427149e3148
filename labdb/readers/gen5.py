"""Agilent BioTek Gen5 text exports (tab, or comma in .csv), endpoint reads; and a writer for simulated files.

A file holds header `Key<TAB>Value` lines, `Procedure Details`, and per plate (`Plate Number`) a `Results`
grid: a header `<TAB>1..12` (a partial plate's may start and stop anywhere in 1-12 / 1-24), rows A-H (only the
rows read), one line per read with the read label last ('abs450:450', '280', '260:977 [Test]', 'Alpha').
Only raw reads become canonical reads: a label with a wavelength, with a pathlength or polarisation suffix
([Test], [Ref], [Parallel], [Perpendicular]), or Gen5's words for a read without one ('Alpha', 'Lum': the
plate's one read without a wavelength). Derived rows (Blank ..., Ratio ..., [Concentration], user-named data
sets) are skipped and named in extra, so no read disappears unsaid. Every grid cell goes through
base.read_cell: a marked or odd cell (*0.356*, OVRFLW, ?????, Path?) flags its well and keeps the file's text;
it never refuses the plate. Only broken structure is an InputError. Gen5 .xlsx exports hold the same lines in
sheet cells, which gen5_xlsx turns into lines.
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
    SNIFF_BYTES,
    decode_text,
    expand_flags,
    parse_datetime,
    plate_arrays,
    read_cell,
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
# Gen5's labels of a raw read without a wavelength ('Alpha', 'Read 1:Lum'), and a label's bracketed suffix.
_NO_WAVELENGTH = re.compile(r"(?:(?P<name>[^:]*):)?\s*(?:alpha|alphascreen|alphalisa|lum|luminescence|full light)", re.IGNORECASE)
_SUFFIX = re.compile(r"(?P<base>.*?)\s*\[(?P<suffix>[^\]]*)\]")
_RAW_SUFFIXES = ("test", "ref", "parallel", "perpendicular")  # pathlength test/reference, polarisation planes
_PLATE_TYPE = re.compile(r"(?<!\d)(96|384)(?!\d)")
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
    """One grid as written in the file: its title line, plate size, first column and (line, row letter, label, cells)
    per line."""

    title: str
    n_wells: int
    first_column: int
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
        columns = gen5_xlsx.grid_columns(cells, lines[i + 1][1] if i + 1 < len(lines) else [])
        if columns:
            if columns[1] > 24:
                raise InputError(
                    f"{src.at(n)}: the grid header has columns {columns[0]}-{columns[1]}; a Gen5 plate has columns 1-12 "
                    "(96 wells) or 1-24 (384 wells)."
                )
            grid, i = _read_grid(lines, i, columns, _plate_type(procedure), title, src)
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


def _plate_type(procedure: list[str]) -> int | None:
    """96 or 384 when the procedure's 'Plate Type' names the plate size ('96 WELL PLATE', 'Generic 96 UV'), else None."""
    for line in procedure:
        if line.startswith("Plate Type"):
            m = _PLATE_TYPE.search(line[len("Plate Type") :])
            return int(m[1]) if m else None
    return None


def _read_grid(lines: list[Line], i: int, columns: tuple[int, int], plate_type: int | None, title: str, src: _Source) -> tuple[_Grid, int]:
    """Row lines (a letter) and their continuation lines (an empty first cell) under the header at i.

    Only the rows read are in the file (a partial plate may hold row A alone); the plate's size is 384 wells when
    the header goes beyond column 12 or the procedure says so, 96 when it says so, else from the rows found."""
    first_column, last_column = columns
    ncols = last_column - first_column + 1
    size = 384 if last_column > 12 else plate_type
    last = ROW_LETTERS[plate_shape(size or 384)[0] - 1]
    rows: list[tuple[int, str, str, list[str]]] = []
    letter = ""
    for n, cells in lines[i + 1 :]:
        first = cells[0] if cells else ""
        if len(first) == 1 and "A" <= first <= "Z":
            if first > last:
                raise InputError(f"{src.at(n)}: row '{first}' does not exist on a {size or 384}-well plate (rows A-{last}).")
            if letter and first <= letter:
                raise InputError(f"{src.at(n)}: row '{first}' comes after row '{letter}'; rows run A-{last} in order.")
            letter = first
        elif first or not letter or not any(cells):
            break
        rest = cells[1 + ncols :]
        while rest and not rest[-1]:
            rest.pop()
        if len(cells) < 1 + ncols or len(rest) > 1:
            raise InputError(
                f"{src.at(n)}: row '{letter}' has {len(cells) - 1} cells after its row letter, but the grid header has "
                f"columns {first_column}-{last_column}: a Gen5 grid row has {ncols} values and then the read label. The "
                "file looks damaged: export it from Gen5 again."
            )
        rows.append((n, letter, ",".join(rest), cells[1 : 1 + ncols]))
        i += 1
    n_wells = size or (384 if letter > "H" else 96)
    return _Grid(title, n_wells, first_column, rows), i + 1


def _classify(label: str) -> tuple[str, int | None]:
    """What a read label is: ('raw', wavelength or None), ('derived', None) or ('unknown', None).

    Raw: 'abs450:450' -> 450, 'Read 1:485,528' -> 528 (the emission), '260:977 [Test]' -> 977 (pathlength test and
    reference, polarisation planes), 'Alpha' / 'Read 1:Lum' -> None. Derived: Blank/Corrected/Ratio ... prefixes,
    '[Concentration]', anything without a wavelength ('260:Pathlength', 'Log Alpha', 'Conc'). Unknown: a raw label
    with a bracketed suffix labdb does not know ('450 [Xyz]'): not read, but named in extra."""
    suffix = _SUFFIX.fullmatch(label)
    base = suffix["base"] if suffix else label
    if not base:
        return "derived", None  # '[Concentration]'
    m = _RAW_LABEL.fullmatch(base)
    if m and not (m["name"] or "").strip().lower().startswith(_DERIVED_PREFIXES):
        if suffix and suffix["suffix"].strip().lower() not in _RAW_SUFFIXES:
            return "unknown", None
        return "raw", int(m["em"] or m["ex"])
    m = _NO_WAVELENGTH.fullmatch(label)
    if m and not (m["name"] or "").strip().lower().startswith(_DERIVED_PREFIXES):
        return "raw", None
    return "derived", None


def _make_plate(meta: dict[str, str], procedure: list[str], grids: list[_Grid], index: int, src: _Source, decimal: str | None) -> PlateRead:
    """Raw reads of every grid, and the header, into a PlateRead; every cell of a raw read through base.read_cell."""
    name = meta.pop("Plate Number", "") or f"Plate {index}"
    results = [g for g in grids if g.title != "Layout"]
    if not results:
        raise InputError(f"{src.name}: plate '{name}': no Results grid (a line '<TAB>1<TAB>2...' then rows A-H).")
    listed = re.findall(r"\d{3,4}", " ".join(p.split("Wavelengths:", 1)[1] for p in procedure if "Wavelengths:" in p))
    records: list[tuple[str, int | None, float | None, str, str | None]] = []
    seen: dict[tuple[str, int | None], tuple[int, str]] = {}
    skipped: dict[str, list[str]] = {"derived": [], "unknown": []}
    unlabelled: list[str] = []
    for grid in results:
        for n, letter, label, cells in grid.rows:
            label = label or (grid.title if _classify(grid.title)[0] == "raw" else "")
            kind, wavelength = _classify(label) if label else ("raw", int(listed[0]) if len(listed) == 1 else None)
            if kind != "raw":
                if label not in skipped[kind]:
                    skipped[kind].append(label)
                continue
            if (letter, wavelength) in seen:
                at = f"at {wavelength} nm" if wavelength else "without a wavelength"
                line, before = seen[letter, wavelength]
                raise InputError(
                    f"{src.at(n)}: row '{letter}' has a second read {at} (the first is on {src.unit} {line}): "
                    f"{label or 'no label'!r} after {before or 'no label'!r}; labdb keeps one read per wavelength, "
                    "so export one of these reads only."
                )
            seen[letter, wavelength] = (n, label)
            if wavelength is None and label and label not in unlabelled:
                unlabelled.append(label)
            for c, cell in enumerate(cells):
                records.append((f"{letter}{grid.first_column + c}", wavelength, *read_cell(cell, decimal)))
    if not records:
        labels = ", ".join(skipped["derived"] + skipped["unknown"])
        raise InputError(f"{src.name}: plate '{name}': no raw read in the Results grid (only {labels}).")
    read_time = parse_datetime(meta.get("Date"), meta.get("Time"))
    if read_time is not None:
        del meta["Date"]
        meta.pop("Time", None)
    if procedure:
        meta["Procedure Details"] = "; ".join(procedure)
    if skipped["derived"]:
        meta["Derived reads skipped"] = "; ".join(skipped["derived"])
    if skipped["unknown"]:
        meta["Unknown reads skipped"] = "; ".join(skipped["unknown"])
    if unlabelled:
        meta["Read without wavelength"] = "; ".join(unlabelled)
    return PlateRead(
        name=name,
        format=FORMAT,
        reads=make_reads(records),
        n_wells=max(g.n_wells for g in results),
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
