"""Molecular Devices SoftMax Pro exports. (Placeholder registered in the registry; the real reader replaces this file.)"""

from __future__ import annotations

from labdb.errors import InputError
from labdb.readers.canonical import PlateRead

FORMAT = "softmax"
DISPLAY_NAME = "Molecular Devices SoftMax Pro"
EXTENSIONS: tuple[str, ...] = (".txt", ".xls",)


def sniff(data: bytes, filename: str) -> bool:
    """Not implemented yet: claims nothing."""
    return False


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Not implemented yet."""
    raise InputError(f"{filename}: the {DISPLAY_NAME} reader is not available yet.")
