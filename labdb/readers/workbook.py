"""Excel workbooks (.xlsx, .xlsm, legacy .xls) as plain cell tables, refusing files that expand to gigabytes."""

from __future__ import annotations

import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

from labdb.core.errors import InputError

MAX_EXPANDED_BYTES = 256 * 1024 * 1024  # what the sheets of an xlsx may unpack to
MAX_RATIO = 200  # uncompressed / compressed; real exports stay far below this
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def is_workbook(data: bytes) -> bool:
    """True for the bytes of an xlsx (zip) or a legacy xls (OLE2) file."""
    return data.startswith(XLSX_MAGIC) or data.startswith(XLS_MAGIC)


def check_expansion(data: bytes, filename: str) -> None:
    """Refuse an xlsx whose XML would expand beyond MAX_EXPANDED_BYTES (a zip bomb) before parsing it."""
    if not data.startswith(XLSX_MAGIC):
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except Exception:  # BadZipFile, but also zlib/Unicode/NotImplemented errors from a damaged directory
        raise InputError(f"{filename}: damaged or truncated .xlsx file (not a complete zip archive); export it again.") from None
    expanded = sum(i.file_size for i in infos)
    compressed = max(sum(i.compress_size for i in infos), 1)
    if expanded > MAX_EXPANDED_BYTES or (expanded > 10 * 1024 * 1024 and expanded / compressed > MAX_RATIO):
        raise InputError(
            f"{filename}: this .xlsx expands to {expanded / 1e9:.1f} GB of XML ({expanded / compressed:.0f}x its size); "
            "refused as unsafe. Export the plate again from the reader software."
        )


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Keep a Rust panic message (calamine on a damaged file) off the user's terminal; it becomes an InputError."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_sheets(data: bytes, filename: str) -> dict[str, list[list[object]]]:
    """Every worksheet as rows of cells from A1 (floats, str, datetime, bool; '' for empty), in workbook order."""
    check_expansion(data, filename)
    try:
        from python_calamine import CalamineWorkbook

        with _native_stderr_silenced():
            book = CalamineWorkbook.from_filelike(io.BytesIO(data))
            return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}
    except InputError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine raises many types, even a Rust panic, for a damaged or foreign file
        reason = " ".join(str(exc).split())[:160]
        raise InputError(
            f"{filename}: cannot be opened as an Excel workbook ({reason}); open it in Excel and save it again as .xlsx."
        ) from None
