"""The interface every reader module has, plus the helpers they share (decoding, cells, dates)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol

import numpy as np

from labdb.core.errors import InputError
from labdb.readers.canonical import PlateRead
from qc.vocab import READ_FLAGS, ROW_LETTERS, well_name

SNIFF_BYTES = 8192


class ForeignExport(InputError):
    """A file another program wrote, recognised by its header and refused by name (labdb.readers.registry adds the
    list of supported formats to the message)."""


class Reader(Protocol):
    """A reader module: module-level constants and two functions, listed in registry.READERS.

    FORMAT: registry key ("gen5_text"); DISPLAY_NAME: shown to users; EXTENSIONS: lowercase with dot.
    sniff() is cheap (looks at the first few KB); read() raises InputError for anything the user can fix.
    """

    FORMAT: str
    DISPLAY_NAME: str
    EXTENSIONS: tuple[str, ...]

    def sniff(self, data: bytes, filename: str) -> bool:
        """True when the bytes look like this format."""
        ...

    def read(self, data: bytes, filename: str) -> list[PlateRead]:
        """Every plate in the file, in canonical form."""
        ...


# --- text ---------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Bytes to text whatever the encoding readers write (BOMs, UTF-16, UTF-8, cp1252), with LF line ends."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:SNIFF_BYTES]:
        head = data[:SNIFF_BYTES]
        # ASCII text in UTF-16 LE has its NULs at odd offsets, in BE at even ones.
        encoding = "utf-16-le" if head[1::2].count(0) >= head[0::2].count(0) else "utf-16-be"
        text = data.decode(encoding, errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- cells --------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS_COMMA = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?")
_THOUSANDS_DOT = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d*)?")
_ABOVE_RANGE = re.compile(r">\s*[+-]?\d")
OVERFLOW_MARKERS = frozenset({"ovrflw", "overflow", "over", "> max", ">max", "*", "sat", "saturated"})
MISSING_MARKERS = frozenset({"", "missed", "missing", "-", "--", "nan", "n/a", "na"})
INVALID_MARKERS = frozenset({"?????", "invalid", "error", "err"})
# A number the instrument marked: between asterisks (*0.356*), or followed by a remark in brackets (1.2 (Range?)).
_MARKED = re.compile(r"\*+\s*(?P<a>[^*\s]+)\s*\*+|(?P<b>[^\s(\[]+)\s*[(\[][^)\]]*[)\]]")


def clean_cell(text: object) -> str:
    """A cell as stripped text: surrounding spaces, quotes and Excel's text apostrophe removed."""
    s = "" if text is None else str(text)
    s = s.replace("\u00a0", " ").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    elif s.startswith("'"):
        s = s[1:].strip()
    return s


def cell_text(cell: object) -> str:
    """A cell as text, with Excel's whole-number floats written without '.0'."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return clean_cell(cell)


def find_grid_header(row: list[object]) -> tuple[int, int] | None:
    """(column of the row letters, number of columns) when a row is a grid header: a label cell, then 1, 2, 3 ..."""
    cells = [cell_text(c) for c in row]
    for j in range(len(cells) - 6):
        if cells[j + 1].lstrip("0") == "1" and not (len(cells[j]) == 1 and cells[j] in ROW_LETTERS):
            k = 0
            while j + k + 1 < len(cells) and cells[j + k + 1].isdigit() and int(cells[j + k + 1]) == k + 1:
                k += 1
            if k >= 6:  # shorter runs of 1, 2, 3 are not grids; 6-11 and 13-23 are wrong-shaped grids
                return j, k
    return None


def grid_row_done(letter: str, k: int, nrows: int, where: str, missing: str = "nothing") -> bool:
    """Check the row letter of line k under a plate grid with `nrows` rows: True when the grid is complete (k == nrows
    and no extra row follows); a wrong letter, or a row beyond the plate, is an InputError naming `where` (the file
    and line or cell). `missing` says what an empty letter means."""
    n_wells = 96 if nrows == 8 else 384
    last = ROW_LETTERS[nrows - 1]
    if k == nrows:
        if nrows < 26 and letter.upper() == chr(ord("A") + nrows):
            raise InputError(f"{where}: row '{letter}' does not exist on a {n_wells}-well plate (rows A-{last}).")
        return True
    if letter.upper() != ROW_LETTERS[k]:
        found = f"'{letter}'" if letter else missing
        raise InputError(f"{where}: expected row '{ROW_LETTERS[k]}' of the {n_wells}-well grid (rows A-{last} in order) but found {found}.")
    return False


def parse_number(text: str, decimal: str | None = None) -> float | None:
    """A number from text, or None; decimal is '.', ',' or None (a comma only when unambiguous)."""
    s = text.replace("\u2212", "-").strip()
    if _NUMBER.fullmatch(s):
        return float(s)
    if decimal != "." and s.count(",") == 1 and "." not in s:
        whole, _, frac = s.partition(",")
        # '0,123' and '12,5' cannot be thousands; '1,234' can, so it needs decimal=','.
        unambiguous = decimal == "," or len(frac) != 3 or whole.lstrip("+-") in ("", "0")
        candidate = f"{whole}.{frac}"
        if unambiguous and _NUMBER.fullmatch(candidate):
            return float(candidate)
    if decimal == "," and "," in s and _THOUSANDS_DOT.fullmatch(s):
        return float(s.replace(".", "").replace(",", "."))
    if decimal == "." and _THOUSANDS_COMMA.fullmatch(s):
        return float(s.replace(",", ""))
    return None


def parse_cell(text: object, decimal: str | None = None) -> tuple[float | None, str]:
    """A cell to (value, flag): `read_cell` without the marker."""
    value, flag, _ = read_cell(text, decimal)
    return value, flag


def read_cell(text: object, decimal: str | None = None) -> tuple[float | None, str, str | None]:
    """A cell to (value, flag, marker); flag is one of qc.vocab.READ_FLAGS, never an error.

    A plain number is ok. A number the instrument marked (between asterisks, `*0.356*`, or followed by a remark in
    brackets, `1.2 (Range?)`) keeps its number and is flagged. Overflow and missing words are what they say; any
    other text (`Path?`, `?????`, `Error`) is invalid. The marker is the cell's text whenever it is not a plain
    number (None for numbers and empty cells), so the well shows what the file said."""
    if isinstance(text, bool):
        return None, "invalid", str(text)
    if isinstance(text, (int, float)):
        if math.isnan(text):
            return None, "missing", None
        return (float(text), "ok", None) if math.isfinite(text) else (None, "invalid", str(text))
    s = clean_cell(text)
    low = s.lower()
    if low in MISSING_MARKERS:
        return None, "missing", s or None
    if low in OVERFLOW_MARKERS or _ABOVE_RANGE.match(s):
        return None, "overflow", s
    value = parse_number(s, decimal)
    if value is not None and math.isfinite(value):
        return value, "ok", None
    marked = _MARKED.fullmatch(s)
    if marked:
        value = parse_number(marked.group("a") or marked.group("b"), decimal)
        if value is not None and math.isfinite(value):
            return value, "flagged", s
    return None, "invalid", s


# --- dates --------------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?\s*([AaPp]\.?[Mm]\.?)?")


def parse_date(text: str) -> date | None:
    """'4/11/2024' (month-first unless the first number > 12), '20.02.2024' (day-first), ISO; else None."""
    m = _DATE.fullmatch(text.strip())
    if not m:
        return None
    a, sep, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    if len(m[1]) == 4:
        year, month, day = a, b, c
    elif sep == "." or a > 12:
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_time(text: str) -> time | None:
    """'5:27:15 PM', '12:30:25', '13:25', '17:27:15.250' to a time, else None."""
    m = _TIME.fullmatch(text.strip())
    if not m:
        return None
    hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
    micro = int((m[4] or "0").ljust(6, "0"))
    if m[5]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m[5][0] in "Pp" else 0)
    try:
        return time(hour, minute, second, micro)
    except ValueError:
        return None


def parse_datetime(date_text: str | None, time_text: str | None = None) -> datetime | None:
    """A read time from a date and an optional time (or both in date_text, 'T' or space between); else None."""
    if not date_text:
        return None
    s = date_text.strip()
    if time_text is None:
        try:
            return datetime.fromisoformat(s)
        except ValueError:
            pass
        s, _, time_text = s.replace("T", " ", 1).partition(" ")
    d = parse_date(s)
    if d is None:
        return None
    t = parse_time(time_text) if time_text and time_text.strip() else time()
    return None if t is None else datetime.combine(d, t)


# --- writers of simulated files -----------------------------------------------------------------


def plate_arrays(values: dict) -> tuple[dict, tuple[int, int]]:
    """Writer input as float arrays, checked to be all (8, 12) or all (16, 24); returns them and the shape."""
    arrays = {w: np.asarray(v, dtype=float) for w, v in values.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or next(iter(shapes)) not in ((8, 12), (16, 24)):
        raise ValueError(f"every wavelength needs an (8, 12) or (16, 24) array, got shapes {sorted(shapes)}")
    return arrays, next(iter(shapes))


def expand_flags(flags: dict[str, str], wavelengths: list[int | None], shape: tuple[int, int]) -> dict[tuple[str, int | None], str]:
    """Writer flags {'A1': f} (every wavelength) or {'A1@450': f} (one) to {(well, wavelength): f}; checks them."""
    wells = {well_name(r, c) for r in range(shape[0]) for c in range(shape[1])}
    out: dict[tuple[str, int | None], str] = {}
    for key, flag in flags.items():
        well, _, wl = key.partition("@")
        targets = wavelengths if not wl else ([int(wl)] if wl.isdigit() else [])
        if well not in wells or flag not in READ_FLAGS or not targets or not set(targets) <= set(wavelengths):
            raise ValueError(f"bad flag {key!r}: {flag!r} (plate {shape}, wavelengths {wavelengths}, flags {READ_FLAGS})")
        for w in targets:
            out[well, w] = flag
    return out


@dataclass
class CellTable:
    """The cells of a text file or of one worksheet, and how to point at a cell in a message."""

    rows: list[list[object]]
    sheet: str | None = None  # None for a text file
    decimal: str | None = None  # ',' for a file written with decimal commas

    def where(self, r: int, c: int) -> str:
        """'line 5' in a text file, "sheet 'Plate', cell C5" in a workbook (r, c are 0-based)."""
        if self.sheet is None:
            return f"line {r + 1}"
        letters, n = "", c + 1
        while n:
            n, rem = divmod(n - 1, 26)
            letters = chr(65 + rem) + letters
        return f"sheet '{self.sheet}', cell {letters}{r + 1}"

    def cell(self, r: int, c: int) -> object:
        """The cell at (r, c), '' beyond the end of the table or of a row."""
        row = self.rows[r] if r < len(self.rows) else []
        return row[c] if c < len(row) else ""
