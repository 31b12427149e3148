"""Magellan's building blocks, found as cell positions and text; tecan.py parses the values into reads.

Grid: a header row whose first cell is `<>` with the column numbers read (1-12, 1-24, or the columns of
i-control's `Part of Plate`, which writes the same grid), then the rows A-H (A-P), each starting with its letter.

List layout (sheet 'Magellan Sheet 1'): a header `Well positions | Label1 | Label2 ...`, rows of the
label's cycle time ('0s') and temperature ('24.8 °C') with an empty well cell, then one row per well
(A1 ... P24) with one column per label. The footer below, in the first column, is one item per line:
`Date of measurement: 2021-07-08/Time of measurement: 14:34:46`, the method (.mth) and workspace (.wsp),
the wavelengths ('485nm'), the user, the instrument ('ULTRA'), `Instrument serial number: ...`, then per
label `Measurement 1:` with `Measurement wavelength: 485 nm` ..., and `Meas. temperature: Label1: 24.8 °C`.
This module only finds cells and text: values are parsed (and checked) by tecan.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from labdb.core.errors import InputError
from labdb.readers.base import cell_text, parse_datetime
from qc.vocab import ROW_LETTERS

LIST_HEADER = "Well positions"
_RANGE = re.compile(r"([A-P])(\d{1,2})\s*-\s*([A-P])(\d{1,2})")
_WELL = re.compile(r"([A-Za-z])0*(\d{1,2})")
_MEASURED = re.compile(r"Date of measurement:\s*(\S+)\s*/\s*Time of measurement:\s*(.+)", re.IGNORECASE)
_EXPORTED = re.compile(r"Date:\s*([^,]+),\s*Time:\s*(.+)")
_PAIR = re.compile(r"([A-Za-z][\w .()/-]{0,60}?)\s*:\s*(.*)")
_BLOCK = re.compile(r"Measurement \d+:?")

Where = Callable[[int, int], str]  # (row, column), 0-based -> "sheet 'X', cell B5" or "line 5"


@dataclass
class ListLayout:
    """Where the reads of a list export are: one column per label, one row per well."""

    labels: list[tuple[str, int, int | None]]  # (label, column, wavelength)
    wells: dict[str, int]  # well ('A1') -> row
    n_wells: int
    info: dict[str, dict[str, str]]  # per label its cycle time and temperature: {'Label1': {'Temperature': '24.8 °C'}}
    end: int  # the first row after the wells (the footer starts there)


@dataclass
class Footer:
    """What the Magellan footer says."""

    read_time: datetime | None = None
    instrument: str | None = None
    serial: str | None = None
    wavelengths: list[int] = field(default_factory=list)  # one per measurement, in label order
    extra: dict[str, str] = field(default_factory=dict)


def grid_header(row: list[object]) -> tuple[int, list[int]] | None:
    """(corner column, column numbers) when the row's first non-empty cell is '<>'."""
    for j, cell in enumerate(row):
        text = cell_text(cell)
        if text == "<>":
            numbers: list[int] = []
            for c in row[j + 1 :]:
                t = cell_text(c)
                if not t.isdigit():
                    break
                numbers.append(int(t))
            return j, numbers
        if text:
            return None
    return None


def read_grid(
    rows: list[list[object]],
    r: int,
    j: int,
    numbers: list[int],
    where: Where,
    filename: str,
    *,
    part: str = "",
    label: str = "",
    plate_type: str = "",
) -> tuple[dict[str, tuple[int, int]], int, int]:
    """(well -> (row, column) of its cell, plate size, the row after the grid) for the '<>' header at (r, j)."""
    letters, n_wells = _grid_shape(numbers, where(r, j + 1 if numbers else j), filename, part, label, plate_type)
    seen: dict[str, str] = {}
    positions: dict[str, tuple[int, int]] = {}
    for k, letter in enumerate(letters):
        row = r + 1 + k
        cells = rows[row] if row < len(rows) else []
        got = cell_text(cells[j]) if j < len(cells) else ""
        if got != letter:
            _bad_row(got, seen, letters, n_wells, where(row, j), filename, expected=letter)
        seen[got] = where(row, j)
        past = [c for c in range(j + 1 + len(numbers), len(cells)) if cell_text(cells[c])]
        if past:
            raise InputError(
                f"{filename}: {where(row, past[0])}: row '{got}' has a value right of column {numbers[-1]}, "
                "the last column of the grid header; the file looks damaged, so export it again."
            )
        positions.update({f"{got}{n}": (row, j + 1 + c) for c, n in enumerate(numbers)})
    end = r + 1 + len(letters)
    after = cell_text(rows[end][j]) if end < len(rows) and j < len(rows[end]) else ""
    if len(after) == 1 and after in ROW_LETTERS:
        _bad_row(after, seen, letters, n_wells, where(end, j), filename)
    return positions, n_wells, end


def _grid_shape(numbers: list[int], where: str, filename: str, part: str, label: str, plate_type: str) -> tuple[str, int]:
    """(row letters, plate size) a grid must have: the label's 'Part of Plate' when given, else a full plate."""
    span = "no column numbers"
    if numbers:
        run = numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        span = f"{numbers[0]}-{numbers[-1]}" if run else ", ".join(map(str, numbers))
    m = _RANGE.fullmatch(part.strip())
    if m:
        first, c1, last, c2 = m[1], int(m[2]), m[3], int(m[4])
        if numbers != list(range(c1, c2 + 1)) or first > last:
            raise InputError(
                f"{filename}: {where}: the grid header has columns {span}; label '{label}' reads part of "
                f"the plate ({m[0]}), so columns {c1}-{c2} were expected."
            )
        big = last > "H" or c2 > 12 or "384" in plate_type
        return ROW_LETTERS[ROW_LETTERS.index(first) : ROW_LETTERS.index(last) + 1], 384 if big else 96
    if numbers not in (list(range(1, 13)), list(range(1, 25))):
        raise InputError(
            f"{filename}: {where}: the grid header has columns {span}; expected 1-12 (96-well plate) or 1-24 "
            "(384-well plate) after the '<>' corner."
        )
    return (ROW_LETTERS[:8], 96) if len(numbers) == 12 else (ROW_LETTERS, 384)


def _bad_row(got: str, seen: dict[str, str], letters: str, n_wells: int, where: str, filename: str, expected: str | None = None) -> None:
    """Raise the InputError for a grid row that is repeated, out of order, missing or beyond the grid."""
    rows = f"rows {letters[0]}-{letters[-1]}"
    if got in seen:
        problem = f"row '{got}' appears twice (also at {seen[got]}); a grid has {rows}, each once"
    elif expected is None:
        problem = f"row '{got}' is beyond the grid, which has {rows} ({n_wells}-well plate)"
    else:
        found = f"'{got}'" if got else "nothing"
        problem = f"expected row '{expected}' of the grid ({rows} in order) but found {found}"
    raise InputError(f"{filename}: {where}: {problem}.")


def find_list_header(rows: list[list[object]], limit: int | None = None) -> tuple[int, int] | None:
    """(row, column) of the 'Well positions' cell, else None."""
    for r, row in enumerate(rows[:limit]):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell.strip() == LIST_HEADER:
                return r, c
    return None


def read_list(rows: list[list[object]], r0: int, c0: int, where: Where, filename: str) -> tuple[ListLayout, Footer]:
    """The label columns and well rows under the header at (r0, c0), and the footer; bad wells are InputErrors."""
    header = [cell_text(c) for c in rows[r0]]
    labels = [(text, c) for c, text in enumerate(header) if c > c0 and text]
    names = [name for name, _ in labels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(
            f"{filename}: {where(r0, c0)}: label '{repeated[0]}' heads several columns, as in a kinetic list "
            "(one column per cycle); kinetic reads are not supported, so export an endpoint read instead."
        )
    if not labels:
        raise InputError(f"{filename}: {where(r0, c0)}: no label columns right of '{LIST_HEADER}'; expected Label1, Label2 ...")
    wells: dict[str, int] = {}
    info: dict[str, dict[str, str]] = {}
    r = r0 + 1
    while r < len(rows):
        row = rows[r]
        first = cell_text(row[c0]) if c0 < len(row) else ""
        if not first:
            cells = {name: cell_text(row[c]) for name, c in labels if c < len(row) and cell_text(row[c])}
            if not cells:
                break
            kind = "Temperature" if any("°C" in v for v in cells.values()) else "Time"
            for name, value in cells.items():
                info.setdefault(name, {})[kind] = value
        elif m := _WELL.fullmatch(first):
            letter, column = m[1].upper(), int(m[2])
            well = f"{letter}{column}"
            if letter not in ROW_LETTERS or not 1 <= column <= 24:
                raise InputError(f"{filename}: {where(r, c0)}: well '{first}' does not exist on a 384-well plate (rows A-P, columns 1-24).")
            if well in wells:
                raise InputError(
                    f"{filename}: {where(r, c0)}: well {well} is listed twice (first at {where(wells[well], c0)}); each well needs one row."
                )
            wells[well] = r
        else:
            break
        r += 1
    if not wells:
        raise InputError(f"{filename}: {where(r0, c0)}: no well rows (A1, A2 ...) under '{LIST_HEADER}'.")
    footer = read_footer([t for row in rows[r:] if c0 < len(row) and (t := cell_text(row[c0]))])
    wavelengths = assign_wavelengths(len(labels), footer.wavelengths, where(r0, c0), filename)
    plate_files = [v for k, v in footer.extra.items() if k.endswith("Plate definition file")]
    big = any(w[0] > "H" or int(w[1:]) > 12 for w in wells) or any("384" in v for v in plate_files)
    columns = [(name, c, w) for (name, c), w in zip(labels, wavelengths)]
    return ListLayout(columns, wells, 384 if big else 96, info, r), footer


def assign_wavelengths(n_reads: int, wavelengths: list[int], where: str, filename: str) -> list[int | None]:
    """The footer's wavelengths for n reads (labels or grids) in order; one wavelength is every read's."""
    if not wavelengths:
        return [None] * n_reads
    if len(wavelengths) not in (1, n_reads):
        raise InputError(
            f"{filename}: {where}: the footer lists {len(wavelengths)} measurement wavelengths "
            f"({', '.join(map(str, wavelengths))} nm) for {n_reads} reads; cannot tell which read is at which "
            "wavelength."
        )
    return wavelengths * n_reads if len(wavelengths) == 1 else list(wavelengths)


def read_footer(lines: list[str]) -> Footer:
    """The footer lines (first-column text below the data) as metadata; unknown lines are kept in extra."""
    out = Footer()
    block = ""
    loose: list[str] = []
    for i, line in enumerate(lines):
        if m := _MEASURED.fullmatch(line):
            out.read_time = parse_datetime(m[1], m[2].strip())
            continue
        if m := _EXPORTED.fullmatch(line):
            out.extra["Date"] = f"{m[1].strip()} {m[2].strip()}"
            continue
        if _BLOCK.fullmatch(line):
            block = line.rstrip(":")
            continue
        low = line.lower()
        if low.endswith((".mth", ".wsp")):
            out.extra["Method" if low.endswith(".mth") else "Workspace"] = line  # the path line comes last
            continue
        if re.fullmatch(r"\d{3,4}\s*nm", line):
            continue  # the wavelength list; the measurement blocks say the same per label
        m = _PAIR.fullmatch(line)
        if not m:
            loose.append(line)
            continue
        key, value = m[1], m[2].strip()
        if key.lower() == "instrument serial number":
            out.serial = value or None
            if loose and lines[i - 1] == loose[-1]:  # the two lines above: user, then instrument ('ULTRA')
                out.instrument = loose.pop()
                if loose and i >= 2 and lines[i - 2] == loose[-1]:
                    out.extra["User"] = loose.pop()
            continue
        if key.lower() == "measurement wavelength" and (w := re.match(r"\d{3,4}", value)):
            out.wavelengths.append(int(w[0]))
        if sub := _PAIR.fullmatch(value):  # 'Meas. temperature: Label1: 24.8 °C' follows the blocks
            key, value, block = f"{sub[1]}: {key}", sub[2].strip(), ""
        out.extra[f"{block}: {key}" if block else key] = value
    if loose:
        out.extra["Footer"] = "; ".join(loose)
    return out
