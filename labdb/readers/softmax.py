"""Molecular Devices SoftMax Pro text exports (`##BLOCKS= N`, tab separated), endpoint reads.

`##BLOCKS= N`, N blocks each ending `~End`, a footer `Original Filename: ...; Date Last Saved: 11/12/2020
1:23:30 PM` (M/D/Y). `Plate:` blocks hold the reads; `Group:`/`Note:` blocks are skipped, named in `extra`.
Blocks are cut at their `~End` line only: a Note holds free text and a Group user-named samples, so their lines
may begin with `Plate:` or `Group:` and are not block starts (only inside a Plate: block, whose lines are all
structured, does such a line mean a missing `~End`).
The `Plate:` line is positional (_FIELDS); its data follow in one of two layouts:
- PlateFormat: a header `<time><TAB>Temperature(°C)<TAB>1..12` with the wavelengths' grids side by side (one
  empty cell between), then one line per plate row, A-H implied by order. A second grid after a blank line
  holds SoftMax's reduced values: checked, not read.
- TimeFormat: a header of wells `A1..H12`, one line per wavelength (blank lines between), maybe a reduced pair.
Data type 'Reduced' (only reduced values, e.g. 450-650, exported): reads without a wavelength.
Every value cell goes through base.read_cell: a SoftMax marker (`Range?`, `Path?` for a failed PathCheck, `#Sat`)
flags its well and is kept as the well's marker; one odd cell never refuses the plate. A Plate: line listing one
wavelength twice (`426 426 426`) is refused: the canonical form keys reads by wavelength, so it cannot hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import groupby

from labdb.core.errors import InputError
from labdb.readers.base import clean_cell, decode_text, parse_cell, parse_datetime, read_cell
from labdb.readers.canonical import PlateRead, make_reads
from qc.vocab import ROW_LETTERS, plate_shape, well_name

FORMAT = "softmax"
DISPLAY_NAME = "Molecular Devices SoftMax Pro text export"
EXTENSIONS: tuple[str, ...] = (".txt", ".xls")  # SoftMax Pro also names this tab-separated text '.xls'

Line = tuple[int, str]  # (1-based line number, text)
Where = tuple[str, str]  # (file name, plate name) for messages

# Fields of a Plate: line after 'Plate:', by position (checked on the fixtures; allotropy's parsers agree).
# Fluorescence adds its top/bottom read flag after the read mode; it and luminescence add optics fields.
_COMMON = ("name", "export_version", "export_format", "read_type", "read_mode", "data_type", "pre_read",
           "kinetic_points", "read_time_or_scan_pattern", "read_interval_or_scan_density", "start_wavelength",
           "end_wavelength", "wavelength_step", "num_wavelengths", "wavelengths", "first_column", "num_columns",
           "num_wells")  # fmt: skip
_OPTICS = ("excitation_wavelengths", "cutoff", "cutoff_filters", "sweep_wave", "sweep_wavelength",
           "reads_per_well", "pmt_gain", "start_integration_time", "end_integration_time")  # fmt: skip
_FIELDS = {
    "Absorbance": (*_COMMON, "first_row", "num_rows"),
    "Luminescence": (*_COMMON, *_OPTICS, "first_row", "num_rows"),
    "Fluorescence": (*_COMMON[:5], "bottom_read", *_COMMON[5:], *_OPTICS, "first_row", "num_rows"),
}
_BLOCKS = re.compile(r"\s*##BLOCKS=\s*(\d+)\s*")
_BLOCK_START = re.compile(r"([A-Za-z]+):(?:\s|$)")
_NESTED_START = re.compile(r"(?:Plate|Group|Note):(?:\s|$)")
# SoftMax's saturation words: base.read_cell knows 'Sat' as overflow, not SoftMax's '#Sat'.
_SATURATED = frozenset({"#sat", "#saturated"})
_AGAIN = "The file looks damaged or edited: export it from SoftMax Pro again."
_KINETIC = "kinetic reads are not supported, so export an endpoint read (one value per well and wavelength) instead."


@dataclass
class _Block:
    kind: str  # 'Plate', 'Group', 'Note', ...
    title: str
    lines: list[Line]  # the block's first line and everything before its '~End'
    ended: bool = True
    inner_start: int | None = None  # first line inside a Note/Group block that begins like a block: for messages


@dataclass
class _RawPlate:
    """A Plate: block as text: header fields and one (well, wavelength, cell text, line) per cell read."""

    line: int
    fields: dict[str, str]
    wavelengths: list[int | None]
    n_wells: int
    cells: list[tuple[str, int | None, str, int]] = field(default_factory=list)
    temperature: str = ""
    reduced: str = ""  # the reduced values after raw ones: '' (none), 'empty' or 'present'


def sniff(data: bytes, filename: str) -> bool:
    """SoftMax Pro text exports start with '##BLOCKS= N'."""
    return bool(_BLOCKS.match(decode_text(data[:1024]).lstrip().split("\n", 1)[0]))


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Every Plate: block of a SoftMax Pro endpoint export."""
    lines = list(enumerate(decode_text(data).split("\n"), 1))
    (first, declared), blocks, footer = _split_blocks(lines, filename)
    plates = [_parse_plate(b, filename) for b in blocks if b.kind == "Plate"]
    if blocks and not blocks[-1].ended:
        b = blocks[-1]
        raise InputError(
            f"{filename}: line {b.lines[-1][0]}: the file ends inside block '{b.kind}: {b.title}' (from line "
            f"{b.lines[0][0]}) before its '~End' line{_inner_hint(blocks)}. The file looks truncated: export it from SoftMax "
            "Pro again."
        )
    if len(blocks) != declared:
        raise InputError(
            f"{filename}: line {first}: '##BLOCKS= {declared}' announces {declared} blocks but the file holds "
            f"{len(blocks)} (each ending '~End'){_inner_hint(blocks)}. {_AGAIN}"
        )
    if not plates:
        raise InputError(f"{filename}: no 'Plate:' block in this SoftMax Pro export, only Group:/Note: blocks.")
    common = dict(footer)
    for kind in sorted({b.kind for b in blocks} - {"Plate"}):
        titles = [b.title for b in blocks if b.kind == kind]
        common[f"{kind.lower()}_blocks"] = "; ".join(t for t in titles if t) or f"{len(titles)} untitled"
    return [_to_plate(p, common) for p in plates]


# --- raw text -----------------------------------------------------------------------------------


def _blank(text: str) -> bool:
    """An empty line (a line of tabs is a grid row of unread wells, not a blank line)."""
    return not text.strip(" ")


def _inner_hint(blocks: list[_Block]) -> str:
    """For a block-structure message: where a Note/Group block holds a line that may be a block whose '~End' before it
    is missing (such lines are read as the block's text, since Notes are free text)."""
    b = next((b for b in blocks if b.inner_start is not None), None)
    if b is None:
        return ""
    return f" (line {b.inner_start}, inside block '{b.kind}: {b.title}', starts like a block: is the '~End' before it missing?)"


def _split_blocks(lines: list[Line], filename: str) -> tuple[tuple[int, int], list[_Block], dict[str, str]]:
    """(line and count of '##BLOCKS='), the blocks, and the footer's 'Key: value' pairs."""
    first = next(((n, t) for n, t in lines if not _blank(t)), (1, ""))
    m = _BLOCKS.fullmatch(first[1])
    if not m:
        raise InputError(f"{filename}: line {first[0]}: expected '##BLOCKS= N' first, found {first[1][:40]!r}.")
    blocks: list[_Block] = []
    footer: dict[str, str] = {}
    current: _Block | None = None
    for n, text in lines[first[0] :]:
        if current is not None:
            if text.strip() == "~End":
                current = None
            elif current.kind == "Plate" and _NESTED_START.match(text):
                raise InputError(
                    f"{filename}: line {n}: a new block starts inside block '{current.kind}: {current.title}' "
                    f"(line {current.lines[0][0]}), whose '~End' line is missing. {_AGAIN}"
                )
            else:  # a Note's free text or a Group's table, whatever its first word
                current.lines.append((n, text))
                if current.inner_start is None and _NESTED_START.match(text):
                    current.inner_start = n
        elif text.startswith("Original Filename:") or "Date Last Saved:" in text:
            for part in text.split(";"):
                key, _, value = part.partition(":")
                footer[re.sub(r"\W+", "_", key.strip().lower()).strip("_")] = value.strip()
        elif start := _BLOCK_START.match(text):
            cells = text.split("\t")
            title = cells[1].strip() if start[1] == "Plate" and len(cells) > 1 else text[start.end() :].strip()
            current = _Block(start[1], title, [(n, text)])
            blocks.append(current)
        elif not _blank(text):
            raise InputError(
                f"{filename}: line {n}: expected a block starting 'Plate:', 'Group:' or 'Note:', or the "
                f"'Original Filename:' footer; found {text.strip()[:40]!r}. {_AGAIN}"
            )
    if current is not None:
        current.ended = False
    return (first[0], int(m[1])), blocks, footer


def _error(where: Where, n: int, message: str) -> InputError:
    """'<file>: line <n>: plate '<name>': <message>'."""
    return InputError(f"{where[0]}: line {n}: plate '{where[1]}': {message}")


def _paragraphs(lines: list[Line]) -> list[list[Line]]:
    """Runs of non-blank lines."""
    return [list(run) for blank, run in groupby(lines, key=lambda line: _blank(line[1])) if not blank]


def _parse_plate(block: _Block, filename: str) -> _RawPlate:
    """The header fields and the cells of one Plate: block."""
    raw = _header(block.lines[0], filename)
    where = (filename, raw.fields.get("name", ""))
    paragraphs = _paragraphs(block.lines[1:])
    if not paragraphs:
        raise _error(where, raw.line + 1, f"no data follow the Plate: line. {_AGAIN}")
    reader = _plate_format if raw.fields["export_format"] == "PlateFormat" else _time_format
    reader(raw, paragraphs, where)
    return raw


def _header(line: Line, filename: str) -> _RawPlate:
    """The positional fields of a Plate: line, checked."""
    n, text = line
    cells = [c.strip() for c in text.split("\t")]
    mode = cells[5] if len(cells) > 5 else ""
    where = (filename, cells[1] if len(cells) > 1 else "")
    if mode not in _FIELDS:
        raise _error(where, n, f"read mode {mode!r} (field 6) is not Absorbance, Fluorescence or Luminescence.")
    names = _FIELDS[mode]
    if len(cells) <= names.index("num_wells") + 1:
        raise _error(where, n, f"the Plate: line has {len(cells)} fields, a {mode} one {len(names) + 1}. {_AGAIN}")
    fields = {name: cell for name, cell in zip(names, cells[1:]) if cell}
    fmt, read_type, data_type = (fields.get(k, "") for k in ("export_format", "read_type", "data_type"))
    points = fields.get("kinetic_points", "1")
    if read_type == "Kinetic" or (points.isdigit() and int(points) > 1):
        raise _error(where, n, f"a {read_type} read with {points} time points; {_KINETIC}")
    if read_type != "Endpoint":
        raise _error(where, n, f"read type {read_type!r}; only Endpoint reads are supported.")
    if fmt not in ("PlateFormat", "TimeFormat") or data_type not in ("Raw", "Reduced", "Both"):
        expected = "expected PlateFormat or TimeFormat and Raw, Reduced or Both"
        raise _error(where, n, f"format {fmt!r}, data type {data_type!r}; {expected}. {_AGAIN}")
    n_wells = fields.get("num_wells", "")
    if n_wells not in ("96", "384"):
        raise _error(where, n, f"a plate of {n_wells!r} wells; labdb reads 96- and 384-well plates.")
    listed, count = fields.get("wavelengths", "").split(), fields.get("num_wavelengths", "1")
    if not all(w.isdigit() for w in listed) or (listed and count != str(len(listed))):
        raise _error(where, n, f"the wavelengths {' '.join(listed)!r} are not {count} whole numbers. {_AGAIN}")
    repeated = sorted({w for w in listed if listed.count(w) > 1}, key=int)
    if repeated and data_type != "Reduced":
        reads = ", ".join(f"{listed.count(w)} reads at {w} nm" for w in repeated)
        raise _error(
            where,
            n,
            f"the wavelengths {' '.join(listed)!r} hold {reads}; labdb keeps one read per well and wavelength, so it cannot "
            "hold repeated reads at one wavelength yet: export a protocol reading each wavelength once.",
        )
    return _RawPlate(n, fields, [int(w) for w in listed] or [None], int(n_wells))


def _check_row(line: Line, header: Line, data: list[int], what: str, expected: str, where: Where) -> list[str]:
    """The cells of a data line, checked: as many as its header line, values only in the data positions."""
    n, text = line
    cells, width = text.split("\t"), len(header[1].split("\t"))
    stray = [(j, c.strip()) for j, c in enumerate(cells) if j > 1 and j not in data and clean_cell(c)]
    if len(cells) < width or stray:
        found = f"{stray[0][1]!r} in cell {stray[0][0] + 1}" if stray else f"{len(cells)} cells (its header {width})"
        raise _error(where, n, f"{what} has {found}; expected {expected}. {_AGAIN}")
    return cells


def _plate_format(raw: _RawPlate, paragraphs: list[list[Line]], where: Where) -> None:
    """The grids of the read side by side (or one reduced grid), then an optional grid of reduced values."""
    nrows, ncols = plate_shape(raw.n_wells)
    wavelengths = [None] if raw.fields["data_type"] == "Reduced" else raw.wavelengths
    for k, (header, *rows) in enumerate(paragraphs):
        if k > 1:
            raise _error(where, header[0], f"unexpected lines after the reduced grid; expected '~End'. {_AGAIN}")
        n_grids = 1 if k else len(wavelengths)
        positions = [2 + g * (ncols + 1) + c for g in range(n_grids) for c in range(ncols)]
        heads = [clean_cell(c) for c in header[1].split("\t")] + [""] * positions[-1]
        if [heads[j] for j in positions] != [str(c + 1) for c in range(ncols)] * n_grids:
            if k:  # kinetic reads repeat the grid rows without a header
                raise _error(where, header[0], f"a second read of the plate follows the first; {_KINETIC}")
            grids = f"columns 1-{ncols} {n_grids} time(s) with one empty cell between"
            raise _error(where, header[0], f"expected the grid header: time, temperature, then {grids}. {_AGAIN}")
        last = f"rows (A-{ROW_LETTERS[nrows - 1]}). {_AGAIN}"
        if len(rows) > nrows:
            raise _error(where, rows[nrows][0], f"the grid has more than {nrows} {last}")
        expected = f"time, temperature, then {n_grids} x {ncols} values with one empty cell between grids"
        raw.reduced = "empty" if k else ""
        for r, line in enumerate(rows):  # checked before their count, so a line cut short is named
            cells = _check_row(line, header, positions, f"row {ROW_LETTERS[r]}", expected, where)
            if k:
                raw.reduced = "present" if any(clean_cell(cells[j]) for j in positions) else raw.reduced
                continue
            raw.temperature = raw.temperature or clean_cell(cells[1])
            for g, j in enumerate(positions):
                raw.cells.append((well_name(r, g % ncols), wavelengths[g // ncols], cells[j], line[0]))
        if len(rows) < nrows:
            after = (rows[-1] if rows else header)[0]
            raise _error(where, after + 1, f"the grid stops after {len(rows)} of its {nrows} {last}")


def _time_format(raw: _RawPlate, paragraphs: list[list[Line]], where: Where) -> None:
    """A header of well names, one line per wavelength (blank lines between), then an optional reduced pair."""
    nrows, ncols = plate_shape(raw.n_wells)
    wavelengths = [None] if raw.fields["data_type"] == "Reduced" else raw.wavelengths
    header = paragraphs[0][0]
    wells = [clean_cell(c) for c in header[1].split("\t")[2:]]
    while wells and not wells[-1]:
        wells.pop()
    on_plate = {well_name(r, c) for r in range(nrows) for c in range(ncols)}
    bad = [w for w in wells if w not in on_plate] or ([] if wells and len(set(wells)) == len(wells) else ["(none)"])
    if bad:
        wanted = f"the TimeFormat header: time, temperature, then wells of a {raw.n_wells}-well plate, each once"
        raise _error(where, header[0], f"expected {wanted}; found well {bad[0]!r}. {_AGAIN}")
    paragraphs = ([paragraphs[0][1:]] if len(paragraphs[0]) > 1 else []) + paragraphs[1:]
    is_header = [clean_cell((p[0][1].split("\t") + [""] * 3)[2]) == wells[0] for p in paragraphs] + [True]
    reads, rest = paragraphs[: is_header.index(True)], paragraphs[is_header.index(True) :]
    positions = list(range(2, 2 + len(wells)))
    expected = f"time, temperature, then one value for each of the {len(wells)} wells"
    for wavelength, lines in zip(wavelengths, reads):
        at = f"the read at {wavelength} nm" if wavelength else "the read"
        if len(lines) > 1:
            raise _error(where, lines[1][0], f"{at} has more than one line (time points); {_KINETIC}")
        cells = _check_row(lines[0], header, positions, at, expected, where)
        raw.temperature = raw.temperature or clean_cell(cells[1])
        raw.cells += [(w, wavelength, cells[j], lines[0][0]) for w, j in zip(wells, positions)]
    if len(reads) < len(wavelengths):
        at = rest[0][0][0] if rest else (reads[-1] if reads else [header])[-1][0] + 1
        raise _error(where, at, f"expected the read at {wavelengths[len(reads)]} nm here. {_AGAIN}")
    extra_lines = reads[len(wavelengths) :] + rest[1:] + [p for p in rest[:1] if len(p) != 2]
    if extra_lines:
        wanted = "expected a reduced header and line, or '~End'"
        raise _error(where, extra_lines[0][0][0], f"unexpected lines after the reads; {wanted}. {_AGAIN}")
    if rest:
        cells = _check_row(rest[0][1], rest[0][0], positions, "the reduced line", expected, where)
        raw.reduced = "present" if any(clean_cell(cells[j]) for j in positions) else "empty"


# --- canonical form -----------------------------------------------------------------------------


def _value(text: str) -> tuple[float | None, str, str | None]:
    """A SoftMax cell to (value, flag, marker) by base.read_cell, so any text is kept as the well's marker; SoftMax's
    '#Sat' (saturated) is overflow, other words (`Range?`, `Path?`) invalid, a number between asterisks flagged."""
    value, flag, marker = read_cell(text)
    if flag == "invalid" and clean_cell(text).lower() in _SATURATED:
        return None, "overflow", marker
    return value, flag, marker


def _to_plate(raw: _RawPlate, common: dict[str, str]) -> PlateRead:
    """Reads, header fields and footer into a PlateRead."""
    name = raw.fields.pop("name", "") or f"Plate at line {raw.line}"
    records = [(well, wavelength, *_value(text)) for well, wavelength, text, _ in raw.cells]
    extra = {**raw.fields, **common}
    if parse_cell(raw.temperature)[1] == "ok":
        extra["temperature_c"] = raw.temperature
    if raw.fields["data_type"] == "Reduced":
        extra["values"] = f"SoftMax reduced values (from {raw.fields.get('wavelengths', '?')} nm), no wavelength"
    elif raw.reduced:
        extra["reduced_data"] = "present, not read: reads are raw values" if raw.reduced == "present" else "empty"
    read_time = parse_datetime(common.get("date_last_saved"))
    if read_time is not None:
        extra["read_time_source"] = "Date Last Saved (the export holds no read time)"
    version = next((v for k, v in common.items() if "version" in k), None)
    reads = make_reads(records)
    return PlateRead(name, FORMAT, reads, raw.n_wells, read_time=read_time, software_version=version, extra=extra)
