"""PerkinElmer/Revvity EnVision, EnSpire, Kaleido exports. (Placeholder registered in the registry; the real reader replaces this file.)"""

from __future__ import annotations

from labdb.errors import InputError
from labdb.readers.canonical import PlateRead

FORMAT = "revvity"
DISPLAY_NAME = "PerkinElmer/Revvity EnVision, EnSpire, Kaleido"
EXTENSIONS: tuple[str, ...] = (".csv",)


def sniff(data: bytes, filename: str) -> bool:
    """Not implemented yet: claims nothing."""
    return False


def read(data: bytes, filename: str) -> list[PlateRead]:
    """Not implemented yet."""
    raise InputError(f"{filename}: the {DISPLAY_NAME} reader is not available yet.")
