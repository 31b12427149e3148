"""Magellan's building blocks, found as cell positions and text; tecan.py parses the values into reads.

Grid: a header row whose first cell is `<>` with the column numbers read (1-12, 1-24, any run of columns within
them for a partial plate, or the columns of i-control's `Part of Plate`, which writes the same grid), then the
rows A-H (A-P, or the rows of the part), each starting with its letter.

List layout (sheet 'Magellan Sheet 1'): a header `Well positions | Label1 | Label2 ...` (columns in any order,
also plate-ID or plate-format columns: `Raw data | Well positions | Plate`), rows of the label's cycle time
('0s') and temperature ('24.8 °C') with an empty well cell, then one row per well read (A1 ... P24; a partial
plate lists only some) with one column per label. The footer below is one item per line:
`Date of measurement: 2021-07-08/Time of measurement: 14:34:46`, the method (.mth) and workspace (.wsp),
the wavelengths ('485nm'), the user, the instrument ('ULTRA'), `Instrument serial number: ...`, then per
label `Measurement 1:` with `Measurement wavelength: 485 nm` ..., and `Meas. temperature: Label1: 24.8 °C`.
This module finds cells and text (it only peeks at values to tell a read column from a text column); tecan.py
parses the values into reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from labdb.core.errors import InputError
from labdb.readers.base import cell_text, parse_datetime, read_cell
from qc.vocab import ROW_LETTERS

LIST_HEADER = "Well positions"
_LIST_KEY = LIST_HEADER.lower()
# Columns of a list export that describe the plate or the wells rather than hold a read.
_PLATE_ID = re.compile(r"(?i)plate(?:[\s_-]*(?:id|name|barcode|number|no\.?))?|barcode")
_DESCRIPTIVE = re.compile(r"(?i)(?:plate|well)?[\s_-]*(?:id|name|barcode|number|no\.?|format|type|definition(?: file)?|size)|plate|barcode")
_RANGE = re.compile(r"([A-P])(\d{1,2})\s*-\s*([A-P])(\d{1,2})")
_WELL = re.compile(r"([A-Za-z])0*(\d{1,2})")
_MEASURED = re.compile(r"Date of measurement:\s*(\S+)\s*/\s*Time of measurement:\s*(.+)", re.IGNORECASE)
_EXPORTED = re.compile(r"Date:\s*([^,]+),\s*Time:\s*(.+)")
_PAIR = re.compile(r"([A-Za-z][\w .()/-]{0,60}?)\s*:\s*(.*)")
_BLOCK = re.compile(r"Measurement \d+:?")

Where = Callable[[int, int], str]  # (row, column), 0-based -> "sheet 'X', cell B5" or "line 5"


@dataclass
class ListLayout:
    """Where the reads of a list export are: one column per label, one row per well (per plate)."""

    labels: list[tuple[str, int, int | None]]  # (label, column, wavelength)
    plates: dict[str, dict[str, int]]  # plate ID ('' without a plate-ID column) -> well ('A1') -> row
    n_wells: int
    info: dict[str, dict[str, str]]  # per label its cycle time and temperature: {'Label1': {'Temperature': '24.8 °C'}}
    extra: dict[str, str]  # the columns that are not reads (plate format ...): {header: value or 'A1 x; A2 y'}
    end: int  # the first row after the wells (the footer starts there)


@dataclass
class Footer:
    """What the Magellan footer says."""

    read_time: datetime | None = None
    instrument: str | None = None
    serial: str | None = None
    wavelengths: list[int] = field(default_factory=list)  # one per measurement, in label order
    labels: list[str] = field(default_factory=list)  # the labels of 'Meas. temperature: Label1: 24.8 °C', in order
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
    """(row letters, plate size) a grid must have: the label's 'Part of Plate' when given, else every row of the plate
    (the header's columns may be any run within 1-12 or 1-24: the other columns were not read)."""
    span, run = "no column numbers", False
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
    if not numbers or not run or numbers[0] < 1 or numbers[-1] > 24:
        raise InputError(
            f"{filename}: {where}: the grid header has columns {span}; expected 1-12 (96-well plate), 1-24 "
            "(384-well plate) or a run of columns within them (a partial plate) after the '<>' corner."
        )
    big = numbers[-1] > 12 or "384" in plate_type  # a partial grid (columns 1-3) of a 384-well plate says so
    return (ROW_LETTERS, 384) if big else (ROW_LETTERS[:8], 96)


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
    """(row, column) of the 'Well positions' cell (any case), else None."""
    for r, row in enumerate(rows[:limit]):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell.strip().lower() == _LIST_KEY:
                return r, c
    return None


def read_list(rows: list[list[object]], r0: int, c0: int, where: Where, filename: str) -> tuple[ListLayout, Footer]:
    """The columns and well rows under the header at (r0, c0), and the footer below; bad wells are InputErrors.

    Columns are found by their header names, in any order and on either side of 'Well positions': the labels the
    footer names ('Meas. temperature: Label1: ...') are the reads; without such names, every column holding a
    reading is. A plate-ID column ('Plate', 'Plate ID', 'Barcode') splits the wells into plates (an empty ID cell
    continues the plate above); the other columns (plate format, sample names) are kept as text in extra."""
    wells, info_rows, end = _list_rows(rows, r0, c0, where, filename)
    footer = read_footer([t for row in rows[end:] if (t := next((x for c in row if (x := cell_text(c))), ""))])
    width = max(len(rows[r]) for r in [r0, *(r for r, _ in wells)])
    names = {c: _at(rows, r0, c) or f"column {c + 1}" for c in range(width) if c != c0}
    names = {c: name for c, name in names.items() if _at(rows, r0, c) or any(_at(rows, r, c) for r, _ in wells)}
    plate_col = next((c for c, name in names.items() if _PLATE_ID.fullmatch(name)), None)
    named = [c for c, name in names.items() if name in footer.labels]
    if named and len(named) == len(set(footer.labels)):
        reads = named
    else:
        reads = [c for c, name in names.items() if not _DESCRIPTIVE.fullmatch(name) and any(_valued(rows[r], c) for r, _ in wells)]
    if not reads:
        raise InputError(
            f"{filename}: {where(r0, c0)}: no column of readings beside '{LIST_HEADER}' (columns: "
            f"{', '.join(names.values()) or 'none'}); expected label columns such as Label1, Label2 ..."
        )
    labels = [names[c] for c in reads]
    repeated = sorted({n for n in labels if labels.count(n) > 1})
    if repeated:
        raise InputError(
            f"{filename}: {where(r0, c0)}: label '{repeated[0]}' heads several columns, as in a kinetic list "
            "(one column per cycle); kinetic reads are not supported, so export an endpoint read instead."
        )
    info: dict[str, dict[str, str]] = {}
    for r in info_rows:
        for c in reads:
            if value := _at(rows, r, c):
                info.setdefault(names[c], {})["Temperature" if "°C" in value else "Time"] = value
    by_label = dict(zip(footer.labels, footer.wavelengths)) if len(footer.labels) == len(footer.wavelengths) else {}
    if all(name in by_label for name in labels):
        wavelengths: list[int | None] = [by_label[name] for name in labels]
    else:
        wavelengths = assign_wavelengths(len(reads), footer.wavelengths, where(r0, c0), filename)
    extra = {names[c]: text for c in names if c not in reads and c != plate_col and (text := _column_text(rows, wells, c))}
    plate_files = [v for k, v in footer.extra.items() if k.endswith("Plate definition file")]
    big = any(w[0] > "H" or int(w[1:]) > 12 for _, w in wells) or any("384" in v for v in plate_files)
    layout = ListLayout(
        labels=[(names[c], c, w) for c, w in zip(reads, wavelengths)],
        plates=_split_plates(rows, wells, plate_col, c0, where, filename),
        n_wells=384 if big else 96,
        info=info,
        extra=extra,
        end=end,
    )
    return layout, footer


def _list_rows(rows: list[list[object]], r0: int, c0: int, where: Where, filename: str) -> tuple[list[tuple[int, str]], list[int], int]:
    """([(row, well)] of the well rows, the info rows above them (cycle time, temperature), the row after the list).

    After the first well, the first row without one ends the list: the footer follows, in any column."""
    wells: list[tuple[int, str]] = []
    info: list[int] = []
    r = r0 + 1
    while r < len(rows):
        first = _at(rows, r, c0)
        if m := _WELL.fullmatch(first):
            letter, column = m[1].upper(), int(m[2])
            if letter not in ROW_LETTERS or not 1 <= column <= 24:
                raise InputError(f"{filename}: {where(r, c0)}: well '{first}' does not exist on a 384-well plate (rows A-P, columns 1-24).")
            wells.append((r, f"{letter}{column}"))
        elif first or wells or not any(cell_text(c) for c in rows[r]):
            break
        else:
            info.append(r)
        r += 1
    if not wells:
        raise InputError(f"{filename}: {where(r0, c0)}: no well rows (A1, A2 ...) under '{LIST_HEADER}'.")
    return wells, info, r


def _split_plates(
    rows: list[list[object]], wells: list[tuple[int, str]], plate_col: int | None, c0: int, where: Where, filename: str
) -> dict[str, dict[str, int]]:
    """{plate ID: {well: row}}, '' for the ID without a plate-ID column; an empty ID cell continues the plate above."""
    ids = [_at(rows, r, plate_col) if plate_col is not None else "" for r, _ in wells]
    current = next((i for i in ids if i), "")  # the wells above the first ID are on its plate
    plates: dict[str, dict[str, int]] = {}
    for (r, well), plate in zip(wells, ids):
        current = plate or current
        seen = plates.setdefault(current, {})
        if well in seen:
            of = f" of plate '{current}'" if current else ""
            raise InputError(
                f"{filename}: {where(r, c0)}: well {well}{of} is listed twice (first at {where(seen[well], c0)}); each well needs one row."
            )
        seen[well] = r
    return plates


def _at(rows: list[list[object]], r: int, c: int) -> str:
    """The cell (r, c) as text, '' beyond the end of the row."""
    row = rows[r]
    return cell_text(row[c]) if c < len(row) else ""


def _valued(row: list[object], c: int) -> bool:
    """True when the cell holds a reading: a number (also as text, or marked by the instrument) or an overflow."""
    return read_cell(row[c] if c < len(row) else "")[1] in ("ok", "flagged", "overflow")


def _column_text(rows: list[list[object]], wells: list[tuple[int, str]], c: int) -> str:
    """A column that is not a read, as text: its one value, or 'A1 x; A2 y' per well."""
    values = [(well, t) for r, well in wells if (t := _at(rows, r, c))]
    distinct = {t for _, t in values}
    return distinct.pop() if len(distinct) == 1 else "; ".join(f"{well} {t}" for well, t in values)


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
            if key.lower() == "meas. temperature":
                out.labels.append(sub[1])
            key, value, block = f"{sub[1]}: {key}", sub[2].strip(), ""
        out.extra[f"{block}: {key}" if block else key] = value
    if loose:
        out.extra["Footer"] = "; ".join(loose)
    return out
