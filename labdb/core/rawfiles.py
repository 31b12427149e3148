"""Content-addressed store of uploaded files, kept byte for byte in the database (same transaction as the data)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlmodel import Session

from labdb.core.errors import InputError
from labdb.core.limits import check_size
from labdb.core.models import RawFile
from qc.vocab import RAW_FILE_KINDS


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def store(session: Session, data: bytes, kind: str, original_name: str, actor: str) -> RawFile:
    """Keep `data` (once per content); returns the stored row. Never overwrites an existing file."""
    if kind not in RAW_FILE_KINDS:
        raise ValueError(f"unknown raw file kind {kind!r}")
    digest = sha256_of(data)
    existing = session.get(RawFile, digest)
    if existing is not None:
        return existing
    row = RawFile(sha256=digest, kind=kind, original_name=original_name, size_bytes=len(data), content=data, stored_by=actor)
    session.add(row)
    session.flush()  # rows referencing it may follow in the same flush; no ORM relationship orders them
    return row


def fetch(session: Session, digest: str) -> bytes | None:
    """The original bytes of a stored file, or None."""
    row = session.get(RawFile, digest)
    return None if row is None else row.content


def read_upload(path: Path, what: str = "file") -> bytes:
    """The bytes of an uploaded file, refused before reading when missing, empty or over the size limit."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found.")
    check_size(path.stat().st_size, path.name)
    return path.read_bytes()
