"""Thermo Scientific SkanIt exports: the SkanIt xlsx report and the Multiskan Spectrum text export; endpoint reads.

xlsx: one sheet per step. Raw measurement steps ('Absorbance 1_01') hold 'Wavelength: 450 nm', 'Plate 1'
and a grid whose corner names the quantity ('Abs'; columns 1.0-12.0, rows A-H), then a 'Sample' layout
grid (ignored). Derived steps (Blank Subtraction, Standard Curve, Dilution Factor) are skipped and listed
in extra; metadata comes from the General / Session / Instrument information sheets.
Text: 'Results of Photometric1', per wavelength '<TAB>Plate:1 - Wavelength:340', then '<TAB>Iteration: N'
and 8 lines of 12 tab-separated values without row or column labels.

Decisions: 'NaN' -> missing; '> Max' -> overflow; '< Min' -> invalid (below the measurable range: the
value is unknown, not zero); an empty cell is a well that was not read and is left out. Several
iterations, a 'Kinetic' table or one wavelength read twice are kinetic reads: refused. A text line with
more fields than columns (an extra empty field mid-row) is repaired only when all its empty fields form
one contiguous run (then dropping the extras gives one unambiguous row); otherwise it is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from html import unescape
from itertools import takewhile

from labdb.core.errors import InputError
from labdb.readers.base import (
    SNIFF_BYTES,
    cell_text,
    decode_text,
    find_grid_header,
    grid_row_done,
    parse_datetime,
    read_cell,
)
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.workbook import XLSX_MAGIC, is_workbook, load_sheets
from qc.vocab import ROW_LETTERS, plate_shape

FORMAT = "skanit"
DISPLAY_NAME = "Thermo Scientific SkanIt"
EXTENSIONS: tuple[str, ...] = (".xlsx", ".txt")

Record = tuple[str, int | None, float | None, str]

_INFO_SHEETS = ("General information", "Session information", "Instrument information")
_RAW_STEP = re.compile(r"(?:absorbance|photometric|fluorescence|fluorometric|luminescence|luminometric)(?![a-z])", re.I)
_WAVELENGTH = re.compile(r"Wavelength:\s*(?:\d{3,4}\s*/\s*)?(\d{3,4})\s*nm", re.I)
_PLATE = re.compile(r"Plate \d+")
_LAYOUT_CORNERS = frozenset({"sample", "sample type", "group", "layout"})
_TXT_PLATE = re.compile(r"Plate:\s*(\S+)\s*-\s*Wavelength:\s*(\d{3,4})")
_ITERATION = re.compile(r"Iteration:\s*(\d+)")


def sniff(data: bytes, filename: str) -> bool:
    """SkanIt xlsx: 'General information' plus 'Run log' / '... information' sheets; text: 'Plate:1 - Wavelength:'."""
    if is_workbook(data):
        return data.startswith(XLSX_MAGIC) and _is_skanit(_sheet_names(data))
    return bool(_TXT_PLATE.search(decode_text(data[:SNIFF_BYTES])))


def _sheet_names(data: bytes) -> list[str]:
    """Sheet names from xl/workbook.xml without loading the sheets ([] for anything unexpected)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("xl/workbook.xml")
            if info.file_size > 1_000_000:
                return []
            xml = archive.read(info).decode("utf-8", errors="replace")
    except Exception:  # a sniff never raises: damaged archives raise BadZipFile, zlib.error, EOFError ...
        return []
    return [unescape(name) for name in re.findall(r"<(?:\w+:)?sheet\b[^>]*?\bname=\"([^\"]*)\"", xml)]


def _is_skanit(names: list[str]) -> bool:
    """The sheets every SkanIt report has."""
    return "General information" in names and bool({"Run log", *_INFO_SHEETS[1:]} & set(names))


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every plate in a SkanIt report or Multiskan text export; kinetic reads raise an InputError."""
    if is_workbook(data):
        return _read_workbook(data, filename)
    return _read_text(decode_text(data).split("\n"), filename)


# --- xlsx report --------------------------------------------------------------------------------


def _where(sheet: str, r: int, c: int) -> str:
    """ "sheet 'Absorbance 1_01', cell B11" from 0-based indices."""
    letters = chr(65 + c) if c < 26 else chr(64 + c // 26) + chr(65 + c % 26)
    return f"sheet '{sheet}', cell {letters}{r + 1}"


def _read_workbook(data: bytes, filename: str) -> list[PlateRead]:
    """The raw step sheets' grids, one PlateRead per plate, with the information sheets as metadata."""
    try:
        sheets = load_sheets(data, filename)
    except InputError:
        raise
    except Exception:  # zip damage that workbook.check_expansion lets through (UnicodeDecodeError, ...)
        raise InputError(f"{filename}: damaged or truncated .xlsx file; export it again from SkanIt.") from None
    if not _is_skanit(list(sheets)):
        raise InputError(
            f"{filename}: not a SkanIt report (no 'General information' sheet with 'Run log' or 'Session "
            "information'); export the session again from SkanIt as an Excel report, or choose another format."
        )
    _reject_kinetic_sheets(sheets, filename)
    meta, when = _info(sheets)
    raw = [name for name in sheets if _RAW_STEP.match(name)]
    derived = [n for n in sheets if n not in raw and _cell(sheets[n], 0, 0).startswith("Measurement results")]
    plates: dict[str, list[Record]] = {}
    sizes: dict[str, int] = {}
    seen: dict[tuple[str, int | None], str] = {}
    quantities: list[str] = []
    for name in raw:
        _read_sheet(name, sheets[name], filename, plates, sizes, seen, quantities)
    if not plates:
        raise InputError(
            f"{filename}: no measurement grid in the raw step sheet(s) {', '.join(raw) or '(none)'}; expected "
            "'Wavelength: 450 nm', 'Plate 1' and a grid whose corner names the quantity ('Abs'), columns 1-12, "
            "rows A-H."
        )
    meta["Measurement steps"] = "; ".join(raw)
    meta["Quantity"] = "; ".join(dict.fromkeys(quantities))
    if derived:
        meta["Derived steps skipped"] = "; ".join(derived)
    when = when or _cell(sheets[raw[0]], 2, 0)  # a step sheet's third line is the run's date and time
    read_time = when if isinstance(when, datetime) else parse_datetime(str(when)) if when else None
    if read_time:
        meta.pop("Execution time", None)
    software = meta.pop("Report generated with SW version", "") or meta.pop("Version", "") or None
    instrument, serial = meta.pop("Name", "") or None, meta.pop("Serial number", "") or None
    return [
        PlateRead(
            name,
            FORMAT,
            make_reads(records),
            n_wells=sizes[name],
            instrument=instrument,
            serial=serial,
            read_time=read_time,
            software_version=software,
            extra=dict(meta),
        )
        for name, records in plates.items()
    ]


def _cell(rows: list[list[object]], r: int, c: int) -> str:
    """The text of a cell, '' beyond the sheet."""
    return cell_text(rows[r][c]) if r < len(rows) and c < len(rows[r]) else ""


def _reject_kinetic_sheets(sheets: dict[str, list[list[object]]], filename: str) -> None:
    """A 'Kinetic' cell (Multiskan Sky: the results table; protocol 'Measurement type') marks a kinetic read."""
    for name, rows in sheets.items():
        for r, row in enumerate(rows[:60]):
            for c, cell in enumerate(row):
                if isinstance(cell, str) and cell.strip().lower() in ("kinetic", "kinetic loop"):
                    raise InputError(
                        f"{filename}: {_where(name, r, c)}: this is a kinetic read ('{cell.strip()}'); kinetic reads "
                        "are not supported, so export an endpoint read (one value per well and wavelength) instead."
                    )


def _info(sheets: dict[str, list[list[object]]]) -> tuple[dict[str, str], object]:
    """Key/value rows of the information sheets, and the execution time as written (datetime or text)."""
    meta: dict[str, str] = {}
    when: object = None
    for sheet in _INFO_SHEETS:
        key, key_col = "", 99
        for row in sheets.get(sheet, []):
            filled = [(c, v) for c, v in enumerate(row) if cell_text(v)]
            if len(filled) >= 2:
                key_col, key = filled[0][0], cell_text(filled[0][1]).rstrip(":").strip()
                value = filled[-1][1]
                if key == "Execution time" and when is None:
                    when = value
                text = value.isoformat(sep=" ") if isinstance(value, datetime) else cell_text(value)
                key = key if key not in meta else f"{sheet}: {key}"
                meta[key] = text
            elif len(filled) == 1 and key and filled[0][0] > key_col:  # a second line of the previous value
                meta[key] = f"{meta[key]}; {cell_text(filled[0][1])}"
            elif filled:
                key, key_col = "", 99
    return meta, when


def _read_sheet(
    name: str,
    rows: list[list[object]],
    filename: str,
    plates: dict[str, list[Record]],
    sizes: dict[str, int],
    seen: dict[tuple[str, int | None], str],
    quantities: list[str],
) -> None:
    """Every quantity grid of a raw step sheet, under its 'Wavelength:' and 'Plate' lines."""
    wavelength: int | None = None
    plate, r = "Plate 1", 0
    while r < len(rows):
        first = _cell(rows, r, 0)
        if m := _WAVELENGTH.search(first):
            wavelength = int(m[1])
        plate = first if _PLATE.fullmatch(first) else plate
        found = find_grid_header(rows[r])
        if not found:
            r += 1
            continue
        j, ncols = found
        corner = _cell(rows, r, j)
        if ncols not in (12, 24):
            raise InputError(
                f"{filename}: {_where(name, r, j + 1)}: the grid header has columns 1-{ncols}; expected 1-12 "
                "(96-well plate) or 1-24 (384-well plate)."
            )
        n_wells = 96 if ncols == 12 else 384
        if corner.lower() not in _LAYOUT_CORNERS:
            where = _where(name, r, j)
            if (plate, wavelength) in seen:
                at = f"at {wavelength} nm" if wavelength else "without a wavelength"
                raise InputError(
                    f"{filename}: {where}: a second grid for {plate} {at} (the first is at {seen[plate, wavelength]}); "
                    "repeated reads of one wavelength are kinetic reads, which are not supported."
                )
            if sizes.setdefault(plate, n_wells) != n_wells:
                raise InputError(f"{filename}: {where}: a {n_wells}-well grid for {plate}, which has {sizes[plate]}.")
            seen[plate, wavelength] = where
            quantities.append(corner)
            plates.setdefault(plate, []).extend(_read_grid(name, rows, r, j, ncols, wavelength, filename))
        r += 1 + plate_shape(n_wells)[0]


def _read_grid(name: str, rows: list[list[object]], r: int, j: int, ncols: int, wavelength: int | None, filename: str) -> list[Record]:
    """Rows A-H (A-P) under the header at row r, row letters in column j; empty cells are left out."""
    nrows = plate_shape(96 if ncols == 12 else 384)[0]
    records: list[Record] = []
    for k in range(nrows + 1):
        row = r + 1 + k
        if grid_row_done(_cell(rows, row, j), k, nrows, f"{filename}: {_where(name, row, j)}"):
            break
        if _cell(rows, row, j + 1 + ncols):
            raise InputError(
                f"{filename}: {_where(name, row, j + 1 + ncols)}: row '{ROW_LETTERS[k]}' has a value past column {ncols}; "
                f"expected {ncols} values (columns 1-{ncols}, as in the grid header)."
            )
        for c, cell in enumerate(rows[row][j + 1 : j + 1 + ncols]):
            if cell_text(cell):
                well = f"{ROW_LETTERS[k]}{c + 1}"
                records.append((well, wavelength, *_value(cell)))
    return records


def _value(cell: object, decimal: str | None = ".") -> tuple[float | None, str, str | None]:
    """A SkanIt cell to (value, flag, marker): NaN missing, '> Max' overflow, '< Min' invalid; other text flags its
    well as invalid with the text as marker (base.read_cell), never refusing the plate."""
    if cell_text(cell).lower().replace(" ", "") == "<min":
        return None, "invalid", cell_text(cell)
    return read_cell(cell, decimal)


# --- Multiskan Spectrum text --------------------------------------------------------------------


def _read_text(lines: list[str], filename: str) -> list[PlateRead]:
    """One PlateRead per 'Plate:' number; a second iteration of a plate and wavelength is a kinetic read."""
    blocks: list[tuple[int, str, int]] = []  # (index of the 'Iteration' line, plate, wavelength)
    current: tuple[str, int] | None = None
    first: dict[tuple[str, int], int] = {}
    for i, line in enumerate(lines):
        if m := _TXT_PLATE.fullmatch(line.strip()):
            current = (m[1], int(m[2]))
        elif m := _ITERATION.fullmatch(line.strip()):
            if current is None:
                raise InputError(f"{filename}: line {i + 1}: '{line.strip()}' before any 'Plate:1 - Wavelength:' line.")
            if current in first:
                raise InputError(
                    f"{filename}: line {i + 1}: plate {current[0]} at {current[1]} nm is read again ('{line.strip()}', "
                    f"the first read is on line {first[current] + 1}); several iterations are kinetic reads, which are "
                    "not supported, so export a single read."
                )
            first[current] = i
            blocks.append((i, *current))
    if not blocks:
        raise InputError(f"{filename}: no read found; expected 'Plate:1 - Wavelength:450', 'Iteration: 1', then rows.")
    plates: dict[str, list[Record]] = {}
    sizes: dict[str, int] = {}
    for i, plate, wavelength in blocks:
        block = list(takewhile(lambda s: s and not (_TXT_PLATE.search(s) or _ITERATION.search(s)), lines[i + 1 :]))
        where = f"{filename}: line {i + 1}: the read of plate {plate} at {wavelength} nm"
        if len(block) not in (8, 16):
            raise InputError(f"{where} has {len(block)} lines; expected 8 (96 wells) or 16 (384 wells), one per row.")
        n_wells, ncols = (96, 12) if len(block) == 8 else (384, 24)
        if sizes.setdefault(plate, n_wells) != n_wells:
            raise InputError(f"{where} has {n_wells} wells; the plate's first read has {sizes[plate]}.")
        rows = [_align(line, ncols, i + 2 + k, ROW_LETTERS[k], filename) for k, line in enumerate(block)]
        decimal = _decimal([c for cells in rows for c in cells])
        for k, cells in enumerate(rows):
            wells = [(f"{ROW_LETTERS[k]}{c + 1}", cell) for c, cell in enumerate(cells) if cell]
            plates.setdefault(plate, []).extend((w, wavelength, *_value(cell, decimal)) for w, cell in wells)
    results = lines[0].strip() if lines and lines[0].strip().startswith("Results of") else ""
    extra = {"Results": results} if results else {}
    return [PlateRead(f"Plate {p}", FORMAT, make_reads(rs), sizes[p], extra=dict(extra)) for p, rs in plates.items()]


def _align(line: str, ncols: int, n: int, letter: str, filename: str) -> list[str]:
    """The ncols cells of a row line (a leading tab, then the values); extra empty fields only when unambiguous."""
    fields = [f.strip() for f in line.split("\t")]
    if fields[0]:
        raise InputError(f"{filename}: line {n}: row {letter} starts with {fields[0]!r}; expected a tab, then values.")
    cells = fields[1:]
    extra = len(cells) - ncols
    if extra < 0:
        raise InputError(
            f"{filename}: line {n}: row {letter} has {len(cells)} fields after the leading tab; expected {ncols}. The file looks truncated."
        )
    empties = [c for c, cell in enumerate(cells) if not cell]
    if extra and not (len(empties) >= extra and empties[-1] - empties[0] + 1 == len(empties)):
        shown = ", ".join(str(c + 1) for c in empties) or "none"
        raise InputError(
            f"{filename}: line {n}: row {letter} has {len(cells)} fields after the leading tab where {ncols} are "
            f"expected; the extra field(s) cannot be placed safely (empty fields at positions {shown}); "
            "fix the line or export again."
        )
    return cells[: empties[0]] + cells[empties[0] + extra :] if extra else cells


def _decimal(cells: list[str]) -> str:
    """',' when a block writes its numbers with a decimal comma, else '.'."""
    commas = sum(bool(re.fullmatch(r"-?\d+,\d+", c)) for c in cells)
    return "," if commas > sum(bool(re.fullmatch(r"-?\d+\.\d+", c)) for c in cells) else "."
