"""Limits applied to every uploaded file before any parsing."""

from __future__ import annotations

from labdb.core.config import get_settings
from labdb.core.errors import InputError


def check_size(size: int, name: str) -> None:
    """Refuse empty files and files over LABDB_MAX_UPLOAD_MB (default 20 MB)."""
    limit = get_settings().max_upload_bytes
    if size == 0:
        raise InputError(f"{name}: the file is empty (0 bytes); export it again.")
    if size > limit:
        raise InputError(
            f"{name}: {size / 1024 / 1024:.1f} MB is over the {limit / 1024 / 1024:.0f} MB limit for one file; "
            "export only the plate reads, or raise LABDB_MAX_UPLOAD_MB."
        )
