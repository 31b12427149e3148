"""The explicit list of reader formats, format detection, and read_plates(): the one checked way in."""

from __future__ import annotations

import difflib
from enum import Enum
from pathlib import Path, PurePath

from labdb.core.errors import InputError
from labdb.core.limits import check_size
from labdb.readers import asm, bmg_mars, gen5, grid, revvity, skanit, softmax, tecan
from labdb.readers.base import SNIFF_BYTES, ForeignExport, Reader, decode_text
from labdb.readers.canonical import READ_COLUMNS, PlateRead
from qc.schemas import SchemaProblems, reads_conform, reads_schema, validate


class ReaderFormat(str, Enum):
    """Every format labdb reads; the value is the reader module's FORMAT and what users type."""

    SOFTMAX = "softmax"
    TECAN = "tecan"
    BMG_MARS = "bmg_mars"
    SKANIT = "skanit"
    REVVITY = "revvity"
    ASM_JSON = "asm_json"
    GEN5_TEXT = "gen5_text"
    GRID = "grid"


# Detection tries readers in this order: vendor formats first, the generic grid last (the fallback).
READERS: dict[ReaderFormat, Reader] = {
    ReaderFormat.SOFTMAX: softmax,
    ReaderFormat.TECAN: tecan,
    ReaderFormat.BMG_MARS: bmg_mars,
    ReaderFormat.SKANIT: skanit,
    ReaderFormat.REVVITY: revvity,
    ReaderFormat.ASM_JSON: asm,
    ReaderFormat.GEN5_TEXT: gen5,
    ReaderFormat.GRID: grid,
}


def detect(data: bytes, filename: str) -> Reader:
    """The reader for a file: readers claiming its extension (all when none does), first that sniffs it."""
    suffix = PurePath(filename).suffix.lower()
    candidates = [r for r in READERS.values() if suffix in r.EXTENSIONS] or list(READERS.values())
    for reader in candidates:
        if reader.sniff(data, filename):
            return reader
    tried = ", ".join(r.FORMAT for r in candidates)
    raise InputError(
        f"{filename}: not a plate-reader export labdb recognises (tried {tried}); it starts with "
        f"{_first_line(data)}. Export a supported format or a plain grid (a header row 1-12, then rows A-H)."
    )


def read_plates(data: bytes, filename: str, format: str | None = None) -> list[PlateRead]:
    """Every plate in a file, checked; format (a ReaderFormat value) skips detection."""
    check_size(len(data), PurePath(filename).name)
    reader = detect(data, filename) if format is None else READERS[_reader_format(format, filename)]
    try:
        plates = reader.read(data, filename)
    except ForeignExport as exc:
        raise InputError(f"{exc} (supported: {'; '.join(r.DISPLAY_NAME for r in READERS.values())}).") from None
    if not plates:
        raise InputError(f"{filename}: no plate found in this {reader.DISPLAY_NAME} file.")
    for plate in plates:
        check_plate(plate, filename)
    return plates


def read_path(path: str | Path, format: str | None = None) -> list[PlateRead]:
    """read_plates() for a file on disk; messages name the path as given."""
    return read_plates(Path(path).read_bytes(), str(path), format)


def check_plate(plate: PlateRead, filename: str) -> None:
    """The canonical promises, checked by the one schema (qc.schemas.CanonicalReads for the plate's size): wells on
    the plate, known flags, a value exactly where the flag is ok, one read per well and wavelength."""
    where = f"{filename}: plate '{plate.name}'"
    if list(plate.reads.columns) != READ_COLUMNS:
        raise ValueError(f"{where}: reads columns {list(plate.reads.columns)} are not {READ_COLUMNS}")
    if plate.reads.empty:
        raise InputError(f"{where}: no well was read.")
    _refuse_mostly_text(plate, where)
    if reads_conform(plate.reads, plate.n_wells):
        return
    try:
        validate(plate.reads, reads_schema(plate.n_wells), where)
    except SchemaProblems as exc:
        raise InputError(str(exc)) from None


MOSTLY_TEXT = 0.5  # a plate with more than this share of its reads text (invalid, with a marker) is refused


def _refuse_mostly_text(plate: PlateRead, where: str) -> None:
    """One odd cell flags one well; a plate whose reads are mostly text is not readings (a layout or sample-name grid
    read as values, a column taken for another), and is refused rather than stored as a plate of invalid wells."""
    reads = plate.reads
    is_text = reads["flag"].eq("invalid").to_numpy(bool) & reads["marker"].notna().to_numpy(bool)
    if not len(reads) or is_text.sum() <= MOSTLY_TEXT * len(reads):
        return
    text = reads[is_text]
    examples = ", ".join(repr(m) for m in list(dict.fromkeys(text["marker"]))[:3])
    raise InputError(
        f"{where}: {len(text)} of {len(reads)} cells are text, not readings (such as {examples}); this does not "
        "look like a grid of reads: export the plate's raw reads, or give --format if another reader applies."
    )


def _reader_format(name: str, filename: str) -> ReaderFormat:
    """A format name as typed by a user to its ReaderFormat, with a 'did you mean' when it is unknown."""
    try:
        return ReaderFormat(name.strip().lower())
    except ValueError:
        known = [f.value for f in ReaderFormat]
        close = difflib.get_close_matches(str(name).lower(), known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InputError(f"{filename}: unknown format '{name}'; known formats are {', '.join(known)}.{hint}") from None


def _first_line(data: bytes) -> str:
    """What the file looks like, for an error message: its first non-empty line, shortened."""
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP archive (an Excel .xlsx workbook or similar)"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "an OLE compound file (an old Excel .xls workbook or similar)"
    for line in decode_text(data[:SNIFF_BYTES]).split("\n"):
        line = " ".join(line.replace("\t", " ").split())
        if line:
            return repr(line if len(line) <= 60 else line[:57] + "...")
    return "nothing but blank lines" if data else "nothing (the file is empty)"
