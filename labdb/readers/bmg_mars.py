"""BMG LABTECH MARS CSV exports (PHERAstar, CLARIOstar, ...): plate view and table view, endpoint reads.

Header: `Key: value` cells, several per line (User, Path, Test run no., Test name, Date, Time, ID1-ID3),
and a mode line ('Absorbance', 'Absorbance spectrum'); comma or (European Windows) semicolon delimiter.
Plate view: per read a title 'Raw Data (450 1)' / 'Raw Data  (450)' (first number = wavelength, 'ex/em'
gives the emission), a grid header ',1,...,12' and rows 'A,...' (1-24 and A-P for 384 wells).
Table view (CLARIOstar): 'Well;Content;Raw Data (...);...', for a spectrum a second header
';Wavelength [nm];260;...;750', then one line per well ('E05;Sample X1;...' -> well E5). A spectrum
is read as one read per wavelength: legitimate multi-wavelength endpoint data.

Decisions: an EMPTY plate-view cell is a well the protocol did not read (partial plates leave whole rows
empty): it is left out of the reads, so ingest reports it as not read. In the table view a listed well
with an empty cell is 'missing'. 'overflow' -> overflow. Grids not titled 'Raw Data (...)' are derived
data: skipped, listed in extra. Kinetic exports (time/cycle columns, timed titles, one wavelength read
twice) are refused. The instrument is taken from a MARS data path ('...\\BMG\\PHERAstar\\...') if any.
"""

from __future__ import annotations

import csv
import re
from pathlib import PurePath

from labdb.core.errors import InputError
from labdb.readers.base import (
    SNIFF_BYTES,
    decode_text,
    find_grid_header,
    grid_row_done,
    parse_datetime,
    read_cell,
)
from labdb.readers.canonical import PlateRead, make_reads
from qc.vocab import ROW_LETTERS, plate_shape

FORMAT = "bmg_mars"
DISPLAY_NAME = "BMG LABTECH MARS"
EXTENSIONS: tuple[str, ...] = (".csv", ".txt")

Line = tuple[int, list[str]]  # (1-based line number, stripped cells)
Record = tuple[str, int | None, float | None, str]

_KEY = re.compile(r"([A-Za-z][A-Za-z0-9 .#/()-]{0,30}?)\s*:\s*(.*)")
_SNIFF_NAME = re.compile(r"(?:^|[,;])\s*Test name\s*:", re.MULTILINE)
_SNIFF_USER = re.compile(r"(?:^|[,;])\s*(?:User|Test run no\.)\s*:", re.MULTILINE)
_RAW = re.compile(r"Raw Data\s*\(([^)]*)\)\s*(.*)", re.IGNORECASE)
_TIMED = re.compile(r"\d+\s*(?:h|min|s|sec)\b|cycle|time", re.IGNORECASE)
_KINETIC_CELL = re.compile(r"(?:time|cycle|cycle no\.?|kinetic.*)(?:\s*\[.*\])?", re.IGNORECASE)
_TABLE_WELL = re.compile(r"([A-Pa-p])0*([1-9]|1\d|2[0-4])")
_INSTRUMENT = re.compile(r"\\BMG\\([^\\]+)", re.IGNORECASE)


def sniff(data: bytes, filename: str) -> bool:
    """MARS exports carry 'Test name:' and 'User:' / 'Test run no.:' header cells."""
    head = decode_text(data[:SNIFF_BYTES])
    return bool(_SNIFF_NAME.search(head) and _SNIFF_USER.search(head))


def read(data: bytes, filename: str) -> list[PlateRead]:
    """The plate in a MARS plate-view or table-view CSV export; kinetic exports raise an InputError."""
    text = decode_text(data).replace("\x00", "")  # NULs would stop the csv module
    if not (_SNIFF_NAME.search(text) and _SNIFF_USER.search(text)):
        raise InputError(
            f"{filename}: not a BMG MARS export (no 'Test name:' and 'User:' header cells); "
            "export it from MARS again as CSV, or choose another format."
        )
    delimiter = _delimiter(text)
    rows = csv.reader(text.split("\n"), delimiter=delimiter)
    lines = [(n, [c.strip() for c in cells]) for n, cells in enumerate(rows, 1)]
    _reject_kinetic(lines, filename)
    start = next((i for i, (_, cells) in enumerate(lines) if _is_grid_header(cells) or _is_table(cells)), len(lines))
    meta = _header(lines[:start])
    decimal = "." if delimiter == "," else _decimal(lines[start:])
    if start < len(lines) and _is_table(lines[start][1]):
        records, n_wells, skipped = _read_table(lines, start, filename, decimal, meta)
    else:
        records, n_wells, skipped = _read_plate_view(lines, filename, decimal, meta)
    if skipped:
        meta["Derived reads skipped"] = "; ".join(skipped)
    read_time = parse_datetime(meta.get("Date"), meta.get("Time"))
    if read_time is not None:
        del meta["Date"]
        meta.pop("Time", None)
    found = _INSTRUMENT.search(meta.get("Path", ""))
    name = meta.get("ID1") or meta.get("Test name") or PurePath(filename).stem
    instrument = found[1] if found else None
    return [PlateRead(name, FORMAT, make_reads(records), n_wells, instrument, read_time=read_time, extra=meta)]


def _delimiter(text: str) -> str:
    """';' or ',': the one the grid or table header uses, else the more frequent one."""
    for line in text.split("\n"):
        for d in (";", ","):
            if line.startswith((f"{d}1{d}2{d}", f"Well{d}")):
                return d
    return ";" if text.count(";") > text.count(",") else ","


def _decimal(lines: list[Line]) -> str:
    """'.' unless a semicolon file writes its numbers with a decimal comma."""
    cells = [c for _, cs in lines for c in cs]
    commas = sum(bool(re.fullmatch(r"-?\d+,\d+", c)) for c in cells)
    return "," if commas > sum(bool(re.fullmatch(r"-?\d+\.\d+", c)) for c in cells) else "."


def _is_table(cells: list[str]) -> bool:
    return len(cells) > 2 and cells[0].lower() == "well"


def _is_grid_header(cells: list[str]) -> int:
    """The number of columns when the line is ',1,2,3,...', else 0."""
    found = find_grid_header(cells)
    return found[1] if found and found[0] == 0 and not cells[0] else 0


def _header(lines: list[Line]) -> dict[str, str]:
    """`Key: value` cells into a dict (a cell without a key continues the value before it); the mode line."""
    meta: dict[str, str] = {}
    for _, cells in lines:
        last = ""
        for cell in cells:
            if m := _KEY.fullmatch(cell):
                last = m[1].strip()
                meta[last] = m[2].strip()
            elif cell and last:
                meta[last] = f"{meta[last]}, {cell}" if meta[last] else cell
            elif cell and len([c for c in cells if c]) == 1 and not _RAW.match(cell):
                meta.setdefault("Mode", cell)
    return meta


def _reject_kinetic(lines: list[Line], filename: str) -> None:
    """Time or cycle columns, and titles carrying a time ('Raw Data (450) 2: 5 min'), mark a kinetic export."""
    for n, cells in lines:
        for cell in cells[:2] if cells and not cells[0] else cells[:1]:
            m = _RAW.match(cell)
            if _KINETIC_CELL.fullmatch(cell) or (m and _TIMED.search(m[2])):
                raise InputError(
                    f"{filename}: line {n}: this is a kinetic MARS export ('{cell}'); kinetic reads are not "
                    "supported, so export an endpoint read (one value per well and wavelength) instead."
                )


def _wavelength(label: str) -> int | None:
    """450 from '450 1' or '450'; the emission 520 from '485/520'; None from 'Abs Spectrum'."""
    m = re.match(r"\s*(\d{3,4})(?:\s*/\s*(\d{3,4}))?", label)
    return int(m[2] or m[1]) if m else None


def _value(cell: str, decimal: str) -> tuple[float | None, str, str | None]:
    """A MARS cell to (value, flag, marker): an odd cell flags its well (base.read_cell), it never refuses the plate."""
    return read_cell(cell, decimal)


def _read_plate_view(lines: list[Line], filename: str, decimal: str, meta: dict[str, str]) -> tuple[list[Record], int, list[str]]:
    """Every grid under its title: 'Raw Data (...)' grids into records, other (derived) grids skipped."""
    records: list[Record] = []
    seen: dict[int | None, int] = {}
    skipped: list[str] = []
    titles: list[str] = []
    title, title_line, n_wells, i = "", 0, 0, 0
    while i < len(lines):
        n, cells = lines[i]
        ncols = _is_grid_header(cells)
        if not ncols:
            text = [c for c in cells if c]
            if len(text) == 1 and not _KEY.fullmatch(text[0]) and text[0] != meta.get("Mode"):
                title, title_line = text[0], n
            i += 1
            continue
        if ncols not in (12, 24):
            raise InputError(
                f"{filename}: line {n}: the grid header has columns 1-{ncols}; a MARS plate has columns 1-12 "
                "(96 wells) or 1-24 (384 wells)."
            )
        size = 96 if ncols == 12 else 384
        raw = _RAW.match(title)
        if not raw:
            skipped.append(title or f"untitled grid on line {n}")
            i += 1
            while i < len(lines) and lines[i][1] and len(lines[i][1][0]) == 1 and lines[i][1][0] in ROW_LETTERS:
                i += 1
            continue
        wavelength = _wavelength(raw[1])
        if wavelength in seen:
            at = f"at {wavelength} nm" if wavelength else "without a wavelength"
            raise InputError(
                f"{filename}: line {title_line}: a second raw read {at} (the first is titled on line "
                f"{seen[wavelength]}); repeated reads of one wavelength are kinetic reads, which are not supported."
            )
        if n_wells and size != n_wells:
            raise InputError(f"{filename}: line {n}: a {size}-well grid after a {n_wells}-well grid.")
        seen[wavelength], n_wells = title_line, size
        titles.append(title)
        records += _read_grid(lines, i, ncols, wavelength, filename, decimal)
        i += 1 + plate_shape(size)[0]
        title = ""
    if not records:
        found = f" (found only: {'; '.join(skipped)})" if skipped else ""
        raise InputError(
            f"{filename}: no raw read{found}; expected a title such as 'Raw Data (450)' followed by a grid "
            "header ',1,2,...,12' and rows A-H."
        )
    meta["Read titles"] = "; ".join(titles)
    return records, n_wells, skipped


def _read_grid(lines: list[Line], i: int, ncols: int, wavelength: int | None, filename: str, decimal: str) -> list[Record]:
    """The rows A-H (A-P) under the grid header at line index i; empty cells (wells not read) are left out. A row
    shorter than the header holds unread wells at its end (newer MARS versions drop trailing empty separators),
    unless nothing follows it: then the file was cut there, and it is refused as truncated."""
    n_wells = 96 if ncols == 12 else 384
    nrows = plate_shape(n_wells)[0]
    records: list[Record] = []
    for k in range(nrows + 1):
        n, cells = lines[i + 1 + k] if i + 1 + k < len(lines) else (lines[-1][0] + 1, [])
        if grid_row_done(cells[0] if cells else "", k, nrows, f"{filename}: line {n}", missing="nothing (the file may be truncated)"):
            break
        values = cells[1:]
        beyond = [c for c, v in enumerate(values) if v and c >= ncols]
        cut_here = i + 1 + k >= len(lines) - 1  # the last line of the file
        if (len(values) < ncols and cut_here) or beyond:
            count = beyond[-1] + 1 if beyond else len(values)
            raise InputError(
                f"{filename}: line {n}: row '{ROW_LETTERS[k]}' has {count} values; expected {ncols} "
                f"(columns 1-{ncols}, as in the grid header on line {lines[i][0]})."
            )
        for c, cell in enumerate(values[:ncols]):
            if cell:
                well = f"{ROW_LETTERS[k]}{c + 1}"
                records.append((well, wavelength, *_value(cell, decimal)))
    return records


def _read_table(lines: list[Line], start: int, filename: str, decimal: str, meta: dict[str, str]) -> tuple[list[Record], int, list[str]]:
    """The table view: one line per well, one column per raw read (or per wavelength of a spectrum)."""
    n_head, head = lines[start]
    n2, second = lines[start + 1] if start + 1 < len(lines) else (n_head + 1, [])
    spectrum = len(second) > 1 and not second[0] and second[1].lower().startswith("wavelength")
    columns: dict[int, int | None] = {}
    skipped: list[str] = []
    for c in range(2, len(head)):
        title = head[c]
        if spectrum and c < len(second) and second[c]:
            if not second[c].isdigit():
                raise InputError(
                    f"{filename}: line {n2}: column {c + 1} of the wavelength line holds {second[c]!r}; expected a wavelength in nm."
                )
            wavelength: int | None = int(second[c])
        elif title and not spectrum and _RAW.match(title):
            wavelength = _wavelength(_RAW.match(title)[1])
        else:
            if title and title not in skipped:
                skipped.append(title)
            continue
        if wavelength in columns.values():
            at = f"at {wavelength} nm" if wavelength else "without a wavelength"
            raise InputError(
                f"{filename}: line {n2 if spectrum else n_head}: column {c + 1} repeats the read {at}; "
                "repeated reads of one wavelength are kinetic reads, which are not supported."
            )
        columns[c] = wavelength
    if not columns:
        raise InputError(f"{filename}: line {n_head}: the table has no 'Raw Data (...)' column.")
    records: list[Record] = []
    seen: dict[str, int] = {}
    contents: list[str] = []
    for n, cells in lines[start + (2 if spectrum else 1) :]:
        if not any(cells):
            break
        m = _TABLE_WELL.fullmatch(cells[0])
        if not m:
            raise InputError(f"{filename}: line {n}: expected a well A01-P24 in the first column, found {cells[0]!r}.")
        well = f"{m[1].upper()}{int(m[2])}"
        if well in seen:
            raise InputError(f"{filename}: line {n}: well {well} is listed twice (first on line {seen[well]}).")
        seen[well] = n
        if len(cells) <= max(columns):
            raise InputError(
                f"{filename}: line {n}: well {well} has {max(len(cells) - 2, 0)} values; expected {max(columns) - 1} "
                f"(one per column of the header on line {n_head}); the file may be truncated."
            )
        if len(cells) > 1 and cells[1]:
            contents.append(f"{well}={cells[1]}")
        for c, wavelength in columns.items():
            records.append((well, wavelength, *(_value(cells[c], decimal) if cells[c] else (None, "missing", None))))
    if not records:
        raise InputError(f"{filename}: line {n_head}: the table lists no well.")
    n_wells = 96 if all(w[0] <= "H" and int(w[1:]) <= 12 for w in seen) else 384
    meta["Read titles"] = "; ".join(dict.fromkeys(head[c] for c in columns))
    if contents:
        meta["Content"] = "; ".join(contents)
    return records, n_wells, skipped
