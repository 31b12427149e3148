# long module: one vendor family's layouts (EnVision titled and bare grids, channels, EnSpire, Kaleido 2 and 3).
"""PerkinElmer/Revvity EnVision, EnSpire and Kaleido (VICTOR Nivo, EnSight) CSV exports, endpoint reads.

EnVision/EnSpire: per read a `Plate information` block (a header line and a value line), an optional
`Background information` block, then either `Results for <read>` and a grid `,01,...,12,` or a bare value matrix
(8 x 12 or 16 x 24 numbers, no header and no row letters). After the plates come `Key,,,,Value` sections; the
wavelength of each read is only there (`Measurements:` for EnSpire, `Labels:` and `Filters:` for EnVision); the
last line is `Exported with <software> version <v>`. A multi-channel label (HTRF: `... - channel 1`, `channel 2`)
is one read per channel, keyed by that channel's emission wavelength.
Kaleido 2: `Results for <read>`, `Barcode: <b>, PlateRepeat: 1, WellRepeat: 1`, a grid `,1,...,12`, then
`Measurement Basic Information` (`Key:,,Value`) and `Measurements:`.
Kaleido 3 / EnSight: `EnSight Results from`, then per read `Result for <read>`, a `Barcode,Repeat,Loop no,...` table
and a grid; wavelengths in `Details of Measurement Sequence` (`Operation,,,<read>`).
Fluorescence reads are keyed by the emission wavelength, absorbance by the (excitation) wavelength. Every cell goes
through base.read_cell: an odd cell flags its well with the file's text as marker, it never refuses the plate.
The field separator is the Windows list separator: ',' or ';' (with ';' the decimal separator is ',').
read_time is the wall-clock time as written (naive, like every reader); a Kaleido UTC offset stays in extra.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from labdb.core.errors import InputError
from labdb.readers.base import SNIFF_BYTES, clean_cell, decode_text, parse_datetime, read_cell
from labdb.readers.canonical import PlateRead, make_reads
from labdb.readers.revvity_footer import Footer, nm_of, parse_footer
from qc.vocab import ROW_LETTERS

FORMAT = "revvity"
DISPLAY_NAME = "PerkinElmer/Revvity EnVision, EnSpire, Kaleido"
EXTENSIONS: tuple[str, ...] = (".csv",)

Line = tuple[int, list[str]]  # (1-based line number, cleaned cells)
Record = tuple[str, float | None, str, str | None]  # (well, value, flag, marker)

_HEADER = re.compile(r"\s*([,;])\s*0?1\s*\1\s*0?2\s*\1")
_KINETIC = "kinetic reads are not supported, so export an endpoint read (one value per well and wavelength) instead."
_SHAPES = {(8, 12): 96, (16, 24): 384}


@dataclass
class _Read:
    """One `Results for` grid or value matrix: where it is, its read name and channel, its plate, and its wells."""

    line: int
    name: str  # 'A450(1)', 'Meas A', 'ABS mono 1', 'Fluorescence intensity 1'
    plate: str  # plate number (EnVision/EnSpire) or barcode (Kaleido)
    barcode: str
    info: dict[str, str]
    channel: int = 1  # 'channel 2' of a dual-emission label (HTRF)
    hint: tuple[int | None, int | None] = (None, None)  # (excitation, emission) from a Kaleido 3 table
    multi: bool = False  # one of several channels of its label on the plate (set by _keys)
    n_wells: int = 96
    records: list[Record] = field(default_factory=list)

    @property
    def display(self) -> str:
        """The read as named in messages and extra: its name, with the channel for a multi-channel label."""
        return f"{self.name} channel {self.channel}" if self.multi or self.channel != 1 else self.name


def sniff(data: bytes, filename: str) -> bool:
    """A `Plate information` block with a `Plate,Repeat,Barcode` header, a Kaleido `PlateRepeat:` line, or the
    Kaleido 3 / EnSight header (`EnSight Results from`, `Result for` over a `Barcode,Repeat` table)."""
    raw = decode_text(data[:SNIFF_BYTES]).split("\n")
    lines = [s for s in (line.replace("\u00a0", " ").strip() for line in raw) if s]
    if lines and re.match(r"(EnSight|Kaleido)\b.*\bResults from$", lines[0].strip(",; ")):
        return True
    for line, after in zip(lines, lines[1:]):
        if line.rstrip(",;").strip() == "Plate information" and re.match(r"Plate\s*[,;]\s*Repeat\s*[,;]\s*Barcode", after):
            return True
        if line.startswith("Results for") and "PlateRepeat:" in after and "WellRepeat:" in after:
            return True
        if line.startswith("Result for") and re.match(r"Barcode\s*[,;]\s*Repeat\b", after):
            return True
    return False


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every plate of an EnVision, EnSpire or Kaleido export; kinetic exports raise an InputError."""
    if not sniff(data, filename):
        raise InputError(
            f"{filename}: not an EnVision, EnSpire or Kaleido export (no 'Plate information' block, no 'Results for' "
            "grid with a 'Barcode: ..., PlateRepeat: 1' line and no 'EnSight Results from' header); export it again "
            "as CSV, or choose another format."
        )
    lines, delimiter = _split(decode_text(data))
    reads, rest = _scan(lines, filename, "," if delimiter == ";" else ".")
    if not reads:
        raise InputError(f"{filename}: no 'Results for ...' grid found; the file holds no plate results.")
    footer = parse_footer(rest)
    if footer.software is None and not set(footer.blocks) - {"", "Background information"}:
        last = max(n for n, cells in lines if any(cells))
        raise InputError(
            f"{filename}: line {last}: the file ends after the plate results, without the assay, protocol and "
            "measurement sections written after them; it looks truncated, so export it again."
        )
    plates = {r.plate: [x for x in reads if x.plate == r.plate] for r in reads}
    return [_make_plate(plate_reads, footer, filename) for plate_reads in plates.values()]


def _clean(cell: str) -> str:
    """A cell without spaces, quotes, or the `="..."` wrapper EnVision puts around barcodes and serials."""
    s = clean_cell(cell)
    return s[2:-1].strip() if s.startswith('="') and s.endswith('"') else s


def _split(text: str) -> tuple[list[Line], str]:
    """Lines as cleaned cells; the delimiter is the one of the first grid header (',' unless ';')."""
    raw = text.split("\n")
    delimiter = next((m[1] for m in map(_HEADER.match, raw) if m), None)
    if delimiter is None:
        delimiter = ";" if any(line.startswith("Plate;") for line in raw[:200]) else ","
    rows = csv.reader(raw, delimiter=delimiter)
    return [(n, [_clean(c) for c in cells]) for n, cells in enumerate(rows, 1)], delimiter


def _scan(lines: list[Line], filename: str, decimal: str) -> tuple[list[_Read], list[Line]]:
    """The Results grids and value matrices (with their plate information), and every other line for the footer."""
    reads: list[_Read] = []
    rest: list[Line] = []
    info: dict[str, str] | None = None
    i = info_line = 0
    while i < len(lines):
        n, cells = lines[i]
        first = cells[0] if cells else ""
        if first == "Plate information":
            _check_done(info, info_line, filename)
            (info, i), info_line = _plate_info(lines, i, filename), n
        elif first == "Background information" and info is not None:
            while i < len(lines) and any(lines[i][1]):  # the whole block, so that its rows are never a matrix
                rest.append(lines[i])
                i += 1
        elif first.startswith("Results for") and not (info and "Formula" in info):
            read, i = _results(lines, i, info, filename, decimal)
            reads.append(read)
            info = None
        elif first.startswith("Result for"):
            read, i = _ensight_result(lines, i, filename, decimal)
            reads.append(read)
        elif info is not None and _matrix_row(cells, decimal):
            read, i = _matrix(lines, i, info, filename, decimal)
            if "Formula" not in info:
                reads.append(read)  # a calculated (derived) plate's matrix is skipped like its titled grid
            info = None
        else:
            if first.startswith(("Calculated results", "Results for")):
                info = None  # a calculated (derived) plate: parse_footer skips its grid
            rest.append((n, cells))
            i += 1
    _check_done(info, info_line, filename)
    return reads, rest


def _check_done(info: dict[str, str] | None, line: int, filename: str) -> None:
    """A `Plate information` block of raw results must have been followed by its grid or value matrix."""
    if info is not None and "Formula" not in info:
        raise InputError(
            f"{filename}: line {line}: this 'Plate information' block has no 'Results for ...' grid after it, nor a "
            "value matrix; the file looks damaged or truncated, so export it again."
        )


def _plate_info(lines: list[Line], i: int, filename: str) -> tuple[dict[str, str], int]:
    """The `Plate information` header and value lines under the title at i, as a dict."""
    j = i + 1
    while j < len(lines) and any(lines[j][1]):
        j += 1
    block = lines[i + 1 : j]
    if len(block) < 2:
        raise InputError(
            f"{filename}: line {lines[i][0]}: 'Plate information' needs a header line (Plate, Repeat, Barcode, ...) "
            "and a value line below it; the file looks damaged or truncated, so export it again."
        )
    if len(block) > 2:
        raise InputError(f"{filename}: line {block[2][0]}: a second repeat in one 'Plate information'; {_KINETIC}")
    info = {k: v for k, v in zip(block[0][1], block[1][1]) if k}
    if info.get("Repeat", "1") not in ("", "0", "1"):
        raise InputError(f"{filename}: line {block[1][0]}: plate repeat {info['Repeat']}; {_KINETIC}")
    return info, j


def _channel(title: str, info: dict[str, str]) -> int:
    """The detector channel: 'channel 2' in the grid title, else `De=2nd` in the plate information; 1 by default."""
    m = re.search(r"\bchannel\s*(\d+)", title, re.IGNORECASE)
    if m:
        return int(m[1])
    m = re.search(r"\bDe=(\d+)", info.get("Measinfo", ""))
    return int(m[1]) if m else 1


def _results(lines: list[Line], i: int, info: dict | None, filename: str, decimal: str) -> tuple[_Read, int]:
    """A `Results for <read>` title, Kaleido's barcode line (when there is no plate information), and the grid."""
    n, cells = lines[i]
    title = " ".join(cells[0].split())
    name = title.removeprefix("Results for").strip()
    name = re.sub(r"\s+-\s+.*$", "", name).strip() or name  # 'Meas A -  (A)', 'A450(1) - channel 1 (A)'
    j = _skip_blank(lines, i + 1)
    barcode, plate = "", ""
    if info is not None:
        barcode, plate = info.get("Barcode", ""), info.get("Plate", "") or "1"
    elif j < len(lines) and lines[j][1][0].startswith("Barcode:"):  # Kaleido
        kaleido = dict(re.findall(r"(Barcode|PlateRepeat|WellRepeat):\s*([^,;]*)", ", ".join(lines[j][1])))
        for key in ("PlateRepeat", "WellRepeat"):
            if kaleido.get(key, "1").strip() not in ("", "0", "1"):
                raise InputError(f"{filename}: line {lines[j][0]}: {key} {kaleido[key].strip()}; {_KINETIC}")
        barcode = plate = kaleido.get("Barcode", "").strip()
        j += 1
    kept = {k: v for k, v in (info or {}).items() if k not in ("Plate", "Repeat", "Barcode")}
    read = _Read(n, name, plate, barcode, kept, channel=_channel(title, info or {}))
    return read, _grid(lines, j, read, title, filename, decimal)


def _ensight_result(lines: list[Line], i: int, filename: str, decimal: str) -> tuple[_Read, int]:
    """A Kaleido 3 / EnSight `Result for <read>` title, its `Barcode,Repeat,Loop no,...` table, and the grid."""
    n, cells = lines[i]
    title = " ".join(cells[0].split())
    name = title.removeprefix("Result for").strip()
    j = _skip_blank(lines, i + 1)
    header = lines[j][1] if j < len(lines) else []
    if header[:1] != ["Barcode"]:
        m = lines[j][0] if j < len(lines) else n
        raise InputError(f"{filename}: line {m}: expected the 'Barcode,Repeat,...' table under '{title}'; the file looks damaged.")
    rows: list[Line] = []
    j += 1
    while j < len(lines) and any(lines[j][1]):
        rows.append(lines[j])
        j += 1
    if not rows:
        raise InputError(f"{filename}: line {lines[j - 1][0]}: the 'Barcode,Repeat,...' table under '{title}' has no row.")
    if len(rows) > 1:
        raise InputError(
            f"{filename}: line {rows[1][0]}: a second barcode row for one grid under '{title}'; repeated reads are kinetic "
            f"data, and {_KINETIC}"
        )
    m, values = rows[0]
    table = {k: v for k, v in zip(header, values) if k}
    for key in ("Repeat", "Loop no"):
        if table.get(key, "") not in ("", "0", "1"):
            raise InputError(f"{filename}: line {m}: {key} {table[key]} under '{title}'; {_KINETIC}")
    if table.get("Well scan x") or table.get("Well scan y"):
        raise InputError(
            f"{filename}: line {m}: '{title}' is a well scan (several points per well), which is not supported; "
            "export an endpoint read with one value per well."
        )
    barcode = table.get("Barcode", "")
    kept = {k: v for k, v in table.items() if v and k not in ("Barcode", "Repeat")}
    read = _Read(n, name, barcode, barcode, kept, hint=(nm_of(table.get("Exc wl / filter")), nm_of(table.get("Ems wl"))))
    return read, _grid(lines, _skip_blank(lines, j), read, title, filename, decimal)


def _skip_blank(lines: list[Line], j: int) -> int:
    """The index of the first line at or after j that holds a cell."""
    while j < len(lines) and not any(lines[j][1]):
        j += 1
    return j


def _grid(lines: list[Line], j: int, read: _Read, title: str, filename: str, decimal: str) -> int:
    """The grid header at j and its rows into read.records; returns the index after the grid."""
    if j >= len(lines):
        raise InputError(f"{filename}: line {read.line}: the file ends after '{title}' without its grid.")
    n, header = lines[j]
    ncols = 0
    while ncols + 1 < len(header) and header[ncols + 1].isdigit() and int(header[ncols + 1]) == ncols + 1:
        ncols += 1
    if header[:1] != [""] or not ncols or any(header[ncols + 1 :]):
        shown = ",".join(header)[:60]
        raise InputError(f"{filename}: line {n}: expected the grid header ',01,02,...,12' under '{title}': '{shown}'.")
    if ncols not in (12, 24):
        raise InputError(
            f"{filename}: line {n}: the grid header has columns 1-{ncols}; expected 1-12 (96-well plate) or 1-24 (384-well plate)."
        )
    trailing = len(header) > ncols + 1  # then every row ends with a ',' too
    read.n_wells, nrows = (96, 8) if ncols == 12 else (384, 16)
    last = ROW_LETTERS[nrows - 1]
    seen: dict[str, int] = {}
    for k in range(nrows + 1):
        at = j + 1 + k
        m, cells = lines[at] if at < len(lines) else (lines[-1][0] + 1, [])
        letter = cells[0].upper() if cells else ""
        if k == nrows:
            if len(letter) == 1 and letter.isalpha() and len(cells) > 1:
                where = f"{filename}: line {m}: row '{letter}'"
                raise InputError(f"{where} does not exist on a {read.n_wells}-well plate (rows A-{last}).")
            break
        if letter in seen:
            raise InputError(
                f"{filename}: line {m}: row '{letter}' of '{title}' appears a second time (first on line "
                f"{seen[letter]}); expected row '{ROW_LETTERS[k]}'."
            )
        if letter != ROW_LETTERS[k]:
            end = not any(any(c) for _, c in lines[at:])
            found = f"'{','.join(cells)[:40]}'" if any(cells) else ("the end of the file" if end else "an empty line")
            raise InputError(
                f"{filename}: line {m}: expected row '{ROW_LETTERS[k]}' of the {read.n_wells}-well grid under "
                f"'{title}' (rows A-{last} in order) but found {found}; the file looks damaged or truncated."
            )
        seen[letter] = m
        values = cells[1:-1] if trailing and cells[-1] == "" else cells[1:]
        while len(values) > ncols and not values[-1]:
            values.pop()
        if len(values) != ncols:
            raise InputError(f"{filename}: line {m}: row '{letter}' has {len(values)} values; expected {ncols} (as in the header).")
        read.records += [(f"{letter}{c + 1}", *read_cell(cell, decimal)) for c, cell in enumerate(values)]
    return j + 1 + nrows


def _matrix_row(cells: list[str], decimal: str) -> bool:
    """A line that opens a bare value matrix: 12 or more cells, at least half of the filled ones numbers."""
    values = cells[:-1] if cells and cells[-1] == "" else cells
    filled = [c for c in values if c]
    numbers = sum(read_cell(c, decimal)[1] in ("ok", "flagged") for c in filled)
    return len(values) >= 12 and bool(filled) and 2 * numbers >= len(filled)


def _matrix(lines: list[Line], i: int, info: dict[str, str], filename: str, decimal: str) -> tuple[_Read, int]:
    """A bare value matrix (rows of numbers, no header, no row letters) after a `Plate information` block."""
    j = i
    while j < len(lines) and len(lines[j][1]) > 1:  # an unread row is ',,,,' (cells), a blank line has none
        j += 1
    block = lines[i:j]
    ends = all(cells[-1] == "" for _, cells in block)  # every line ends with the separator
    ncols = max(len(cells) for _, cells in block) - (1 if ends else 0)
    n = block[0][0]
    if (len(block), ncols) not in _SHAPES:
        raise InputError(
            f"{filename}: line {n}: the value matrix under the 'Plate information' block has {len(block)} rows of up to "
            f"{ncols} values; expected 8 rows of 12 (96-well plate) or 16 rows of 24 (384-well plate)."
        )
    name = info.get("Label") or info.get("Meas") or ""
    kept = {k: v for k, v in info.items() if k not in ("Plate", "Repeat", "Barcode")}
    read = _Read(n, name, info.get("Plate", "") or "1", info.get("Barcode", ""), kept, channel=_channel("", info))
    read.n_wells = _SHAPES[len(block), ncols]
    for r, (_, cells) in enumerate(block):
        values = cells[:ncols] + [""] * (ncols - len(cells))  # a short row: its last wells were not read
        read.records += [(f"{ROW_LETTERS[r]}{c + 1}", *read_cell(cell, decimal)) for c, cell in enumerate(values)]
    return read, j


def _keys(reads: list[_Read], footer: Footer, name: str, filename: str) -> list[tuple[int | None, int | None, int | None]]:
    """(key, excitation, emission) of each read of plate `name`; a repeated read, two channels of one label that
    cannot be told apart by emission wavelength, or two reads at one wavelength are refused naming both."""
    single = len({(x.name, x.channel) for x in reads}) == 1
    channels = {r.name: {x.channel for x in reads if x.name == r.name} for r in reads}
    for r in reads:
        r.multi = len(channels[r.name]) > 1  # a dual-emission label (HTRF): each channel is keyed by its emission
    out: list[tuple[int | None, int | None, int | None]] = []
    seen: dict[int | None, _Read] = {}
    for r in reads:
        key, excitation, emission = footer.wavelengths(r.name, r.channel, r.hint, single=single)
        key = emission if r.multi else key
        other = seen.get(key)
        if r.multi and key is None:  # a channel without its emission wavelength: name it with another channel
            other = next(x for x in reads if x.name == r.name and x.channel != r.channel)
        at = f"{key} nm" if key else "no known wavelength"
        if other is not None and (other.name, other.channel) == (r.name, r.channel):
            raise InputError(
                f"{filename}: line {r.line}: plate '{name}' has a second '{r.display}' read (the first is on line "
                f"{other.line}); repeated reads are kinetic data, and {_KINETIC}"
            )
        if other is not None and other.name == r.name:
            detail = f"both {at}" if key else f"'{r.display}' has no emission wavelength"
            raise InputError(
                f"{filename}: line {r.line}: reads '{other.display}' (line {other.line}) and '{r.display}' "
                f"of plate '{name}' cannot be told apart by wavelength ({detail}); the channels of one label are reads "
                "keyed by their emission wavelengths, which the 'Labels:' section must give (is it missing or truncated?)."
            )
        if other is not None:
            raise InputError(
                f"{filename}: line {r.line}: reads '{other.display}' (line {other.line}) and '{r.display}' of plate "
                f"'{name}' both have {at}; the 'Measurements:' or 'Labels:' section that gives each read's "
                "wavelength is missing or incomplete (is the file truncated?)."
            )
        seen[key] = r
        out.append((key, excitation, emission))
    return out


def _make_plate(reads: list[_Read], footer: Footer, filename: str) -> PlateRead:
    """The reads of one plate, their wavelengths from the footer, and the metadata, as a PlateRead."""
    first = reads[0]
    name = first.barcode or f"Plate {first.plate or 1}"
    records: list[tuple[str, int | None, float | None, str, str | None]] = []
    described: dict[str, str] = {}
    for r, (key, excitation, emission) in zip(reads, _keys(reads, footer, name, filename)):
        parts = [f"{what} {nm} nm" for what, nm in (("excitation", excitation), ("emission", emission)) if nm]
        if parts:
            described[f"wavelengths of {r.display}"] = ", ".join(parts)
        records += [(well, key, value, flag, marker) for well, value, flag, marker in r.records]
    extra: dict[str, str] = {}
    for k, value in (kv for r in reads for kv in r.info.items()):
        if k not in extra:
            extra[k] = value
        elif value not in extra[k].split("; "):
            extra[k] += f"; {value}"  # plate information that differs between reads ('Meas A; Meas B')
    extra.update({k: v for k, v in footer.meta.items() if k not in extra})
    extra.update(described)
    stamps = (extra.get("Measurement date") or extra.get("Measurement Started") or "").split("; ")
    times = [t for t in map(parse_datetime, stamps) if t is not None]
    meta = footer.meta
    serial = meta.get("Serial number") or meta.get("Instrument Serial Number") or meta.get("Serial#")
    return PlateRead(
        name=name,
        format=FORMAT,
        reads=make_reads(records),
        n_wells=first.n_wells,
        instrument=footer.instrument,
        serial=serial or None,
        read_time=min(t.replace(tzinfo=None) for t in times) if times else None,
        software_version=footer.software,
        extra=extra,
    )
