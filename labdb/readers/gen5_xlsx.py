"""Agilent BioTek Gen5 Excel (.xlsx) exports as the lines of a Gen5 text export, for gen5.read().

Gen5 writes the text export's lines into a sheet: header keys in column A with values in B (`Date` an Excel
date, `Time` an Excel time), `Procedure Details`, then grids whose row letters are in column A or, shifted one
column right, in column B. Each cell becomes text ('0.156' whether stored as a number or as text; dates ISO),
and a shifted grid is moved back one column, so gen5 parses a sheet exactly like a text file. grid_columns()
recognises a Gen5 grid header, in a sheet and in a text file alike.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from labdb.core.errors import InputError
from labdb.readers.base import clean_cell
from labdb.readers.workbook import XLSX_MAGIC, load_sheets

Line = tuple[int, list[str]]  # (1-based Excel row, cells as text from column A)

SNIFF_XML_BYTES = 65536
_KEY = re.compile(rb">Software Version<")
_OTHER_KEYS = re.compile(rb">(?:Plate Number|Reader Type:|Procedure Details)<")


def sniff(data: bytes) -> bool:
    """Cheap: the shared strings (or the start of the first sheets) hold Gen5's header keys; xlsx only."""
    if not data.startswith(XLSX_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            parts = [n for n in names if n.startswith("xl/sharedStrings")]
            parts += sorted(n for n in names if n.startswith("xl/worksheets/sheet"))[:3]
            for name in parts:
                with archive.open(name) as part:
                    head = part.read(SNIFF_XML_BYTES)  # a bounded read: a zip bomb never unpacks here
                if _KEY.search(head) and _OTHER_KEYS.search(head):
                    return True
    except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, ValueError, EOFError, NotImplementedError):
        return False  # damaged or encrypted: not recognised here; read() gives the clear message
    return False


def sheet_lines(data: bytes, filename: str, is_gen5: Callable[[list[Line]], bool]) -> list[tuple[str, list[Line]]]:
    """(sheet name, lines) of every sheet that is_gen5 accepts; an InputError when there is none."""
    sheets = [(name, _lines(rows)) for name, rows in load_sheets(data, filename).items()]
    found = [(name, lines) for name, lines in sheets if is_gen5(lines)]
    if not found:
        names = ", ".join(f"'{name}'" for name, _ in sheets) or "none"
        raise InputError(
            f"{filename}: not a Gen5 workbook (no sheet has the 'Software Version' and 'Plate Number' cells in "
            f"column A; sheets: {names}); export it from Gen5 again, or choose another format."
        )
    return found


def grid_columns(cells: list[str], following: list[str], at: int = 0) -> tuple[int, int] | None:
    """(first, last) column of a Gen5 grid header, else None: `at` + 1 empty cells, then consecutive column numbers
    (1-12, 1-24, or a partial plate's 3-8), on a line followed by a row line (a row letter in cell `at`).

    The numbers may start and stop anywhere, so the row line that must follow keeps other lines from passing for
    a header; the caller checks the numbers against the plate."""
    if len(cells) < at + 2 or any(cells[: at + 1]):
        return None
    numbers = cells[at + 1 :]
    while numbers and not numbers[-1]:
        numbers.pop()
    if not numbers or not all(n.isdigit() for n in numbers):
        return None
    first = int(numbers[0])
    if first < 1 or [int(n) for n in numbers] != list(range(first, first + len(numbers))):
        return None
    letter = following[at] if len(following) > at else ""
    return (first, first + len(numbers) - 1) if len(letter) == 1 and "A" <= letter <= "Z" else None


def _lines(rows: list[list[object]]) -> list[Line]:
    """Rows as text cells without the trailing empty ones, with grids whose row letters sit in column B moved left."""
    lines: list[Line] = []
    for r, row in enumerate(rows, 1):
        cells = [_text(c) for c in row]
        keep = 2 if cells and cells[0].endswith(":") else 0  # 'Experiment File Path:' keeps its empty value
        while len(cells) > keep and not cells[-1]:
            cells.pop()
        lines.append((r, cells))
    shifted = False
    for k, (r, cells) in enumerate(lines):
        if not any(cells) or (cells and cells[0]):
            shifted = False
        if grid_columns(cells, lines[k + 1][1] if k + 1 < len(lines) else [], at=1):  # '', '', 1, 2, ... then '', 'A'
            shifted = True
        if shifted:
            lines[k] = (r, cells[1:])
    return lines


def _text(cell: object) -> str:
    """A cell as the text Gen5 would write: numbers in full (no '.0' on whole ones), dates ISO, times h:mm:ss."""
    if isinstance(cell, bool):
        return str(cell).upper()
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time() else cell.isoformat(" ")
    if isinstance(cell, (date, time)):
        return cell.isoformat()
    if isinstance(cell, timedelta):
        seconds = int(cell.total_seconds())
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return clean_cell(cell)
