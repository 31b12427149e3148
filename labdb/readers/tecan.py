"""Tecan exports: i-control (Infinite, Spark) workbooks and text, Magellan (Sunrise, Infinite) grids and lists.

- i-control (.xlsx, or tab-separated .txt/.asc): header rows (`Application: Tecan i-control`, `Device:`,
  `Date:`, `Time:`, `Plate`), then per label a block: `Label: <name>`, settings (key in column A, value
  in column E: `Measurement Wavelength 600 nm`, or `Emission Wavelength` for fluorescence, `Part of Plate
  A1-H3`), and a grid whose corner cell is `<>` with the columns read across and rows A-H (A-P) down.
- Magellan grid (.xls/.xlsx): `<>` grids without labels; wavelengths, if any, from the footer below.
- Magellan list: `Well positions | Label1 | Label2`, one row per well, and a footer; columns are found by header
  name (any order, plate-ID and plate-format columns beside the reads).
tecan_magellan.py finds the cells of `<>` grids, lists and footers; this module reads the i-control header
and labels, parses the values with base.read_cell (numbers, also stored as text; OVER/Overflow -> overflow;
`*0.356*` -> flagged; other text -> invalid, the file's text kept as the well's marker) and builds plates.

Decisions:
- One odd cell never refuses a plate: it flags its well (registry.check_plate refuses a plate that is mostly text).
- Partial plates: wells a grid or list does not cover are absent; an empty cell is a missing well.
- Labels are combined into one PlateRead while no (well, wavelength) repeats, so i-control's partial reads
  (columns 1-3, 4-6 ...) make one plate; wells no label read are absent (ingest reports them as not read).
  A label that reads a well again at the same wavelength starts the next PlateRead ('<name> #2').
- The wavelength is the `Measurement Wavelength` (absorbance), else the `Emission Wavelength`, else <NA>.
- i-control stores float32 readings in xlsx (0.09319999814033508): a value that is exactly a float32 is
  kept as the shortest decimal of that float32 (0.0932).
- Kinetic labels (`Cycle Nr.` rows, one row per well) are skipped and named in extra['Skipped kinetic
  labels']; a file with only kinetic reads is refused. A grid without any number in it (sample IDs typed
  in by the user), or an unlabelled grid whose cells are mostly text that is no instrument marker, is not a
  read: its cells are kept in extra.
- A Magellan list's plate-ID column names the plate (one PlateRead per ID); other non-read columns go to extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath

import numpy as np

from labdb.core.errors import InputError
from labdb.readers import tecan_magellan as magellan
from labdb.readers.base import (
    INVALID_MARKERS,
    SNIFF_BYTES,
    CellTable,
    cell_text,
    decode_text,
    parse_datetime,
    read_cell,
)
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.workbook import is_workbook, load_sheets

FORMAT = "tecan"
DISPLAY_NAME = "Tecan i-control / Magellan"
EXTENSIONS = (".xlsx", ".xls", ".txt", ".asc")

_SNIFF_ROWS = 80
_TECAN_KEYS = ("Label:", "Mode", "Measurement Wavelength", "Emission Wavelength", "Part of Plate")
_KINETIC_KEYS = ("Kinetic Measurement", "Cycle Nr.", "Cycles / Well")
_PAIR = re.compile(r"([A-Za-z][^:]{0,60}?)\s*:\s*(.*)")
_DOT_NUMBER, _COMMA_NUMBER = re.compile(r"-?\d+\.\d+"), re.compile(r"-?\d+,\d+")

Cell = tuple[float | None, str, str | None]  # (value, flag, marker), as base.read_cell gives them
_VALUED = ("ok", "flagged", "overflow")  # flags of a cell that holds a reading


class _Table(CellTable):
    """A worksheet or text file's cells (see base.CellTable), with the texts of a row."""

    def texts(self, r: int) -> list[str]:
        """The non-empty cells of row r as text."""
        return [t for t in map(_text, self.rows[r]) if t]


@dataclass
class _Label:
    """One label (an i-control label, a Magellan list column or an unlabelled grid) and, once read, its wells."""

    name: str
    where: str
    keys: dict[str, str] = field(default_factory=dict)
    kinetic: bool = False
    done: bool = False  # its grid has been seen
    wavelength: int | None = None
    n_wells: int = 96
    plate: str = ""  # a Magellan list's plate ID
    labelled: bool = True  # False for a Magellan grid, which no label says is a read
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class _Found:
    """What a file holds: the endpoint labels read, in file order, and the file's metadata."""

    reads: list[_Label] = field(default_factory=list)
    kinetic: list[_Label] = field(default_factory=list)
    instrument: str | None = None
    serial: str | None = None
    software: str | None = None
    read_time: datetime | None = None
    plate_type: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def sniff(data: bytes, filename: str) -> bool:
    """i-control or Magellan text; a 'Magellan' sheet; 'Well positions'; or a '<>' grid beside Tecan keys."""
    try:
        tables = _tables(data, filename) if is_workbook(data) else [_text_table(data[:SNIFF_BYTES])]
    except Exception:  # a damaged workbook is not claimed here; read() or the fallback reader explains it
        return False
    return any(_looks_tecan(t) for t in tables)


def _looks_tecan(table: _Table) -> bool:
    if "magellan" in (table.sheet or "").lower():
        return True
    rows = table.rows[:_SNIFF_ROWS]
    texts = {t for row in rows for t in map(_text, row[:16]) if t}
    if any(t.lower() == magellan.LIST_HEADER.lower() for t in texts) or any("Tecan i-control" in t or "Magellan" in t for t in texts):
        return True
    return any(t.startswith(_TECAN_KEYS) for t in texts) and any(magellan.grid_header(row) for row in rows)


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every plate in the file; labels reading different wells or wavelengths share a PlateRead."""
    found = _Found()
    for table in _tables(data, filename):
        at = magellan.find_list_header(table.rows)
        if at:
            _read_list(table, at, found, filename)
        else:
            _read_blocks(table, found, filename)
    if found.kinetic:
        found.extra["Skipped kinetic labels"] = ", ".join(label.name for label in found.kinetic)
    if not found.reads and found.kinetic:
        label = found.kinetic[0]
        raise InputError(
            f"{filename}: {label.where}: label '{label.name}' is a kinetic read (cycles across the columns); "
            "kinetic reads are not supported, so export an endpoint read (a '<>' grid per label) instead."
        )
    if not found.reads:
        raise InputError(
            f"{filename}: no Tecan plate found; expected a grid whose corner cell is '<>' (columns 1-12 across, "
            f"rows A-H down) or a Magellan list headed '{magellan.LIST_HEADER}'. Export the plate from Tecan again."
        )
    return _plates(found, filename)


def _tables(data: bytes, filename: str) -> list[_Table]:
    if is_workbook(data):
        return [_Table(rows, name) for name, rows in load_sheets(data, filename).items()]
    return [_text_table(data)]


def _text_table(data: bytes) -> _Table:
    """Tab-separated lines; the decimal separator is ',' when numbers such as '0,123' outnumber '0.123'."""
    rows = [line.split("\t") for line in decode_text(data).split("\n")]
    cells = [c.strip() for row in rows for c in row]
    commas = sum(bool(_COMMA_NUMBER.fullmatch(c)) for c in cells)
    return _Table(rows, decimal="," if commas > sum(bool(_DOT_NUMBER.fullmatch(c)) for c in cells) else None)


def _text(cell: object) -> str:
    """A cell as text: Excel dates as ISO text, numbers without '.0', no text apostrophe."""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time() else cell.isoformat(sep=" ")
    if isinstance(cell, (date, time)):
        return cell.isoformat()
    return cell_text(cell)


# --- i-control labels and '<>' grids -------------------------------------------------------------


def _read_blocks(table: _Table, found: _Found, filename: str) -> None:
    """Header rows, then label blocks with their grids; without labels (Magellan), grids and a footer."""
    label: _Label | None = None
    loose: list[int] = []  # rows outside any label: the i-control header, or the Magellan footer
    grids: list[_Label] = []  # unlabelled grids read on this sheet
    r = 0
    while r < len(table.rows):
        head = magellan.grid_header(table.rows[r])
        if head and not (label and label.kinetic):
            j, numbers = head
            target = label if label and not label.done else _Label(f"Grid {len(grids) + 1}", table.where(r, j), labelled=False)
            target.done = True
            r = _read_grid(table, r, j, numbers, target, found, filename)
            if target.cells:
                found.reads.append(target)
                if target is not label:
                    grids.append(target)
            continue
        cells = table.texts(r)
        first = cells[0] if cells else ""
        if first.startswith("Label:"):
            if label is None:
                _read_header(table, loose, found)
                loose = []
            label = _Label(first[6:].strip() or f"Label {len(found.reads) + 1}", table.where(r, 0))
        elif label is None:
            loose.append(r)
        elif not label.done and not label.kinetic and first.startswith(_KINETIC_KEYS):
            label.kinetic = True
            found.kinetic.append(label)
        elif (not label.done and not label.kinetic) or first == "End Time:":
            label.keys.update(_pairs(cells))
        r += 1
    if any("Tecan i-control" in t for x in loose for t in table.texts(x)):
        _read_header(table, loose, found)
    elif loose:
        footer = magellan.read_footer([t for x in loose if (t := _text(table.cell(x, 0)))])
        _use_footer(footer, found)
        where = grids[0].where if grids else ""
        wavelengths = magellan.assign_wavelengths(len(grids), footer.wavelengths, where, filename)
        for grid, wavelength in zip(grids, wavelengths):
            grid.wavelength = wavelength


def _pairs(cells: list[str]) -> dict[str, str]:
    """One row's 'Key: value' cells and 'Key | value | unit' runs as {key: value}."""
    pairs: list[list[str]] = []
    for cell in cells:
        m = _PAIR.fullmatch(cell)
        if m:
            pairs.append([m[1].strip(), m[2].strip()])
        elif pairs:
            pairs[-1][1] = f"{pairs[-1][1]} {cell}".strip()
        else:
            pairs.append([cell, ""])
    return {key: value for key, value in pairs}


def _read_header(table: _Table, rows: list[int], found: _Found) -> None:
    """The i-control header: software, device, serial, date and time; the rest into extra."""
    meta: dict[str, str] = {}
    for r in rows:
        cells = table.texts(r)
        if cells and cells[0].startswith("Application:") and len(cells) > 1:
            found.software = found.software or " ".join(cells[-1].split())  # 'Tecan i-control , 2.0.10.0'
            meta["Application"] = cells[0].partition(":")[2].strip()
        else:
            meta.update(_pairs(cells))
    found.instrument = found.instrument or meta.pop("Device", "") or None
    found.serial = found.serial or meta.pop("Serial number", "") or None
    read_time = parse_datetime(meta.get("Date"), meta.get("Time"))
    if read_time:
        found.read_time = found.read_time or read_time
        del meta["Date"]
        meta.pop("Time", None)
    found.plate_type = found.plate_type or meta.get("Plate", "")
    found.extra.update(meta)


def _read_grid(table: _Table, r: int, j: int, numbers: list[int], label: _Label, found: _Found, filename: str) -> int:
    """The grid under the '<>' header at (r, j) into label.cells (left empty for a text grid); the next row."""
    part = label.keys.get("Part of Plate", "")
    positions, n_wells, row = magellan.read_grid(
        table.rows, r, j, numbers, table.where, filename, part=part, label=label.name, plate_type=found.plate_type
    )
    cells = {well: read_cell(_float32(table.cell(*at)), table.decimal) for well, at in positions.items()}
    if _is_text_grid(list(cells.values()), labelled=label.labelled):
        texts = [f"{well} {t}" for well, at in positions.items() if (t := _text(table.cell(*at)))]
        found.extra[f"Text grid at {table.where(r, j)} (not a read)"] = "; ".join(texts) or "empty"
        return row
    label.cells, label.n_wells = cells, n_wells
    label.wavelength = _wavelength(label.keys)
    return row


def _wavelength(keys: dict[str, str]) -> int | None:
    text = keys.get("Measurement Wavelength") or keys.get("Emission Wavelength") or ""
    m = re.match(r"\d{3,4}", text)
    return int(m[0]) if m else None


# --- cells, Magellan lists and footers ------------------------------------------------------------


def _float32(cell: object) -> object:
    """A float that is exactly a float32 as the shortest decimal of that float32 (0.0932, not 0.0931999981)."""
    if isinstance(cell, float) and np.isfinite(cell) and not cell.is_integer() and float(np.float32(cell)) == cell:
        return float(str(np.float32(cell)))
    return cell


def _is_text_grid(cells: list[Cell], labelled: bool) -> bool:
    """A grid that is not a read: no reading in it, or (without a label saying it is a read) mostly free text, such
    as the sample IDs Magellan writes in a second grid, some of them numbers."""
    if not any(flag in _VALUED for _, flag, _ in cells):
        return True
    text = sum(flag == "invalid" and (marker or "").lower() not in INVALID_MARKERS for _, flag, marker in cells)
    return not labelled and text > sum(flag != "missing" for _, flag, _ in cells) / 2


def _read_list(table: _Table, at: tuple[int, int], found: _Found, filename: str) -> None:
    """A Magellan list: one label per column, wavelengths from the footer below the wells."""
    layout, footer = magellan.read_list(table.rows, *at, table.where, filename)
    _use_footer(footer, found)
    found.extra.update(layout.extra)
    for plate, wells in layout.plates.items():
        for name, c, wavelength in layout.labels:
            label = _Label(name, table.where(at[0], c), layout.info.get(name, {}), wavelength=wavelength, plate=plate)
            label.n_wells = layout.n_wells
            label.cells = {well: read_cell(_float32(table.cell(r, c)), table.decimal) for well, r in wells.items()}
            found.reads.append(label)


def _use_footer(footer: magellan.Footer, found: _Found) -> None:
    found.read_time = found.read_time or footer.read_time
    found.instrument = found.instrument or footer.instrument
    found.serial = found.serial or footer.serial
    found.extra.update(footer.extra)


# --- plates ---------------------------------------------------------------------------------------


def _plates(found: _Found, filename: str) -> list[PlateRead]:
    """Labels grouped into plates (a new plate whenever a well would be read twice at one wavelength)."""
    groups: list[list[_Label]] = []
    for label in found.reads:
        group = groups[-1] if groups else []
        taken = {(well, other.wavelength) for other in group for well in other.cells}
        if (
            not group
            or (group[0].n_wells, group[0].plate) != (label.n_wells, label.plate)
            or any((w, label.wavelength) in taken for w in label.cells)
        ):
            groups.append([label])
        else:
            group.append(label)
    base = found.extra.get("Plate-ID (Stacker)") or PurePath(filename).stem
    plates = []
    for k, group in enumerate(groups, 1):
        extra = dict(found.extra)
        plate_id = group[0].plate
        if plate_id:
            extra["Plate ID"] = plate_id
        extra["Labels"] = "; ".join(
            f"{g.name} ({f'{g.wavelength} nm' if g.wavelength else 'no wavelength'}, {len(g.cells)} wells, {g.where})" for g in group
        )
        for g in group:
            extra.update({f"{g.name}: {key}": value for key, value in g.keys.items()})
        records = [(well, g.wavelength, *cell) for g in group for well, cell in g.cells.items()]
        start = next((t for g in group if (t := parse_datetime(g.keys.get("Start Time")))), None)
        plates.append(
            PlateRead(
                name=_plate_name(plate_id, base, k, groups),
                format=FORMAT,
                reads=make_reads(records),
                n_wells=group[0].n_wells,
                instrument=found.instrument,
                serial=found.serial,
                read_time=found.read_time or start,
                software_version=found.software,
                extra=extra,
            )
        )
    return plates


def _plate_name(plate_id: str, base: str, k: int, groups: list[list[_Label]]) -> str:
    """The plate's ID when the list gives one (numbered when several groups share it), else the file's name (#k)."""
    if not plate_id:
        return base if len(groups) == 1 else f"{base} #{k}"
    same = [i for i, g in enumerate(groups, 1) if g[0].plate == plate_id]
    return plate_id if len(same) == 1 else f"{plate_id} #{same.index(k) + 1}"
