"""The generic plate grid (CSV with comma, semicolon or tab; Excel), the fallback when no vendor format fits.

A grid is a header row of column numbers (1-12 or 1-24; the first cell empty or any label such as '<>'),
then rows A-H (or A-P) starting with their letter. An optional title line just above a grid gives its
wavelength ('450 nm', 'OD450', 'Wavelength: 450 nm'). One PlateRead per file, named after the file.
A file that carries another program's clear header (EnVision, EnSight/Kaleido, BMG SMART Control) is not a plain
grid: reading its grids would give wrong plates or a misleading error, so it is refused naming the program.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import PurePath

import numpy as np

from labdb.core.errors import InputError
from labdb.readers.base import (
    SNIFF_BYTES,
    CellTable,
    ForeignExport,
    cell_text,
    decode_text,
    expand_flags,
    find_grid_header,
    grid_row_done,
    plate_arrays,
    read_cell,
)
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.workbook import load_sheets
from qc.vocab import ROW_LETTERS, plate_shape, well_name

FORMAT = "grid"
DISPLAY_NAME = "Plate grid (CSV or Excel)"
EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")

_WAVELENGTH = re.compile(r"(?:wavelength|absorbance|abs|od|a|lambda|\u03bb)?\s*[:=]?\s*(\d{3,4})\s*(?:nm)?", re.IGNORECASE)
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
_WRITE_MARKERS = {"overflow": "OVRFLW", "missing": "", "invalid": "?????"}


_Table = CellTable

# Headers of programs whose exports hold plate grids but are not plain grids: (pattern, program, labdb reader or None).
_FOREIGN: tuple[tuple[re.Pattern[str], str, str | None], ...] = (
    (re.compile(r"EnSight Results from\b"), "PerkinElmer/Revvity EnSight or Kaleido", "revvity"),
    (re.compile(r"Exported with Kaleido\b"), "PerkinElmer/Revvity Kaleido", "revvity"),
    (re.compile(r"Exported with (EnVision|EnSpire) Workstation\b"), "PerkinElmer/Revvity EnVision or EnSpire", "revvity"),
    (re.compile(r"Plate[\s,;]+Repeat[\s,;]+Barcode\b"), "PerkinElmer/Revvity EnVision or EnSpire", "revvity"),
    (re.compile(r"Barcode:.*\bPlateRepeat:"), "PerkinElmer/Revvity Kaleido", "revvity"),
    (re.compile(r".*\bSMART Control\b"), "BMG Labtech SMART Control", None),
)
_FOREIGN_ROWS = 30  # rows of each worksheet searched for a foreign header


def sniff(data: bytes, filename: str) -> bool:
    """Workbooks are always candidates; text needs a header row of column numbers 1, 2, 3, ... or another program's
    header (claimed only so that read() refuses it naming the program, as the last reader tried)."""
    if data.startswith((_ZIP, _OLE)):
        return True
    text = decode_text(data[:SNIFF_BYTES])
    lines = text.split("\n")
    if _foreign(lines) is not None:
        return True
    return any(find_grid_header(row) for d in ("\t", ";", ",") for row in csv.reader(lines, delimiter=d))


def read(data: bytes, filename: str) -> list[PlateRead]:
    """One PlateRead (named after the file) holding every grid of every sheet; another program's export is refused."""
    if data.startswith((_ZIP, _OLE)):
        tables = _workbook_tables(data, filename)
        for table in tables:
            rows = [" ".join(cell_text(c) for c in row if cell_text(c)) for row in table.rows[:_FOREIGN_ROWS]]
            _refuse_foreign(_foreign(rows), f"sheet '{table.sheet}'", filename)
    else:
        _refuse_foreign(_foreign(decode_text(data[:SNIFF_BYTES]).split("\n")), "", filename)
        tables = [_csv_table(data)]
    records: list[tuple[str, int | None, float | None, str]] = []
    seen: dict[int | None, str] = {}
    extra: dict[str, str] = {}
    n_wells = 0
    for table in tables:
        r = 0
        while r < len(table.rows):
            found = find_grid_header(table.rows[r])
            if not found:
                r += 1
                continue
            title = _title(table, r, found[0])
            wavelength = _wavelength(title) or _wavelength(table.sheet or "")
            place = table.where(r, found[0])
            if wavelength in seen:
                at = f"at {wavelength} nm" if wavelength else "without a wavelength title"
                raise InputError(
                    f"{filename}: {place}: a second grid {at} (the first is at {seen[wavelength]}); "
                    "put a title such as '450 nm' above each grid."
                )
            seen[wavelength] = place
            if title and wavelength is None:
                extra[f"title of the grid at {place}"] = title
            size, grid_records, r = _read_grid(table, r, found, wavelength, filename)
            if n_wells and size != n_wells:
                raise InputError(f"{filename}: {place}: a {size}-well grid in a file whose first grid has {n_wells} wells.")
            n_wells = size
            records += grid_records
    if not records:
        raise InputError(
            f"{filename}: no plate grid found; expected a header row of column numbers 1-12 (or 1-24) "
            "followed by rows A-H (or A-P), each starting with its letter."
        )
    return [PlateRead(PurePath(filename).stem, FORMAT, make_reads(records), n_wells=n_wells, extra=extra)]


def _foreign(lines: list[str]) -> tuple[int, str, str, str | None] | None:
    """(0-based line, its text, program, labdb reader or None) of the first line with another program's header."""
    for n, line in enumerate(lines):
        text = " ".join(line.replace("\u00a0", " ").replace('"', "").split())
        for pattern, program, reader in _FOREIGN:
            if pattern.match(text.strip(",;\t ")):
                return n, text, program, reader
    return None


def _refuse_foreign(found: tuple[int, str, str, str | None] | None, sheet: str, filename: str) -> None:
    """Refuse, in one line naming the program and what labdb reads instead, a file another program wrote."""
    if found is None:
        return
    n, text, program, reader = found
    where = f"{sheet}, row {n + 1}" if sheet else f"line {n + 1}"
    shown = text if len(text) <= 60 else text[:57] + "..."
    if reader is None:
        raise ForeignExport(
            f"{filename}: {where}: this is a {program} export ('{shown}'), which labdb does not read; export the plate "
            "as a plain grid (a header row 1-12, then rows A-H) or from a supported program"
        )
    raise ForeignExport(
        f"{filename}: {where}: this is a {program} export ('{shown}'), not a plain grid; read it with the '{reader}' "
        f"reader (a .csv file, or give --format {reader}), and if that reader refuses it, export it again as the "
        "program's standard CSV"
    )


def _csv_table(data: bytes) -> _Table:
    """The CSV cells, split on the first delimiter (tab, semicolon, comma) that yields a grid header."""
    lines = decode_text(data).split("\n")
    for delimiter in ("\t", ";", ","):
        rows = list(csv.reader(lines, delimiter=delimiter))
        if any(find_grid_header(row) for row in rows):
            return _Table(rows, decimal="," if delimiter == ";" else None)
    return _Table(list(csv.reader(lines)))


def _workbook_tables(data: bytes, filename: str) -> list[_Table]:
    """Every worksheet's cells from A1."""
    return [_Table(rows, name) for name, rows in load_sheets(data, filename).items()]


def _title(table: _Table, r: int, j: int) -> str:
    """The text of the non-empty line just above the header at row r, unless it is a grid row."""
    for above in range(r - 1, -1, -1):
        cells = [cell_text(c) for c in table.rows[above] if cell_text(c)]
        if cells:
            first = cell_text(table.cell(above, j))
            return "" if len(first) == 1 and first in ROW_LETTERS else " ".join(cells)
    return ""


def _wavelength(title: str) -> int | None:
    """450 from '450', '450 nm', 'OD450', 'A450', 'Wavelength: 450 nm', 'Abs 450 nm'; else None."""
    m = _WAVELENGTH.fullmatch(title.strip())
    return int(m[1]) if m and 200 <= int(m[1]) <= 1100 else None


def _read_grid(
    table: _Table, r: int, found: tuple[int, int], wavelength: int | None, filename: str
) -> tuple[int, list[tuple[str, int | None, float | None, str]], int]:
    """(plate size, records, next row) for the grid whose header is at row r; InputError on a wrong shape."""
    j, ncols = found
    if ncols not in (12, 24):
        raise InputError(
            f"{filename}: {table.where(r, j + 1)}: the grid header has columns 1-{ncols}; "
            "expected 1-12 (96-well plate) or 1-24 (384-well plate)."
        )
    n_wells = 96 if ncols == 12 else 384
    nrows = plate_shape(n_wells)[0]
    records = []
    for k in range(nrows + 1):
        row = r + 1 + k
        if grid_row_done(cell_text(table.cell(row, j)), k, nrows, f"{filename}: {table.where(row, j)}"):
            break
        records += _read_row(table, row, j, ncols, k, wavelength, filename)
    return n_wells, records, r + 1 + nrows


def _read_row(
    table: _Table, row: int, j: int, ncols: int, k: int, wavelength: int | None, filename: str
) -> list[tuple[str, int | None, float | None, str]]:
    """The wells of one grid row; a short row, a value past the last column or a junk cell is an InputError."""
    cells = table.rows[row]
    letter = ROW_LETTERS[k]
    present = len(cells) - j - 1
    extra = [c for c in range(j + 1 + ncols, len(cells)) if cell_text(cells[c])]
    if present < ncols or extra:
        count = present if present < ncols else extra[-1] - j
        raise InputError(
            f"{filename}: {table.where(row, j)}: row '{letter}' has {count} values; "
            f"expected {ncols} (columns 1-{ncols}, as in the grid header)."
        )
    out = []
    for c in range(ncols):
        cell = cells[j + 1 + c]
        out.append((well_name(k, c), wavelength, *read_cell(cell, table.decimal)))  # an odd cell flags its well
    return out


# --- writer for simulated plates ----------------------------------------------------------------


def write_csv(
    values: dict[int | None, np.ndarray],
    flags: dict[str, str] | None = None,
    *,
    delimiter: str = ",",
    decimal: str = ".",
) -> bytes:
    """Titled grids ('450 nm', then the grid), CRLF, 4 decimals; read() returns the same values and flags.

    values: {wavelength_nm or None: array (8, 12) or (16, 24)}; None writes the grid without a title.
    flags: {"A1": flag} for every wavelength or {"A1@450": flag} for one; overflow -> OVRFLW,
    missing -> empty cell, invalid -> ?????. NaN values without a flag are written as empty cells.
    Use delimiter=";" with decimal="," for the European style.
    """
    arrays, (nrows, ncols) = plate_arrays(values)
    marks = expand_flags(flags or {}, list(arrays), (nrows, ncols))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    for w, grid in arrays.items():
        if w is not None:
            writer.writerow([f"{w} nm"])
        writer.writerow(["", *range(1, ncols + 1)])
        for r in range(nrows):
            flags_row = [marks.get((well_name(r, c), w), "ok") for c in range(ncols)]
            writer.writerow([ROW_LETTERS[r], *(_format_cell(v, f, decimal) for v, f in zip(grid[r], flags_row))])
        writer.writerow([])
    return out.getvalue().encode("utf-8")


def _format_cell(value: float, flag: str, decimal: str) -> str:
    """A value with 4 decimals, or the marker of a flagged well; NaN is an empty cell."""
    if flag != "ok":
        return _WRITE_MARKERS[flag]
    return f"{value:.4f}".replace(".", decimal) if np.isfinite(value) else ""
