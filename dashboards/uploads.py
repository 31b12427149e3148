"""Upload handling for the Upload page, without widgets: preview uploaded reader files, then ingest them.

Uploads arrive as (name, bytes) pairs; they are written to a temporary folder so the labdb pipeline reads them
exactly as the CLI would (same size limits, same messages)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath

import pandas as pd

from labdb.db import session_scope
from labdb.errors import LabdbError
from labdb.ingest import IngestOutcome, evaluate_staged, ingest_file, rejudge, stage_file
from labdb.templates import PlateMap, Template, load_plate_map, load_template

Upload = tuple[str, bytes]


@dataclass
class PlatePreview:
    name: str
    wells: pd.DataFrame  # well, row, col, role, level, sample_id, od_corrected
    verdict: str | None
    reasons: list[str]
    read_time: datetime | None = None  # as the file says; None when it does not (e.g. a generic grid)


@dataclass
class FilePreview:
    name: str
    plates: list[PlatePreview] = field(default_factory=list)
    problem: str | None = None  # the InputError message; the file will not be stored
    duplicate: str | None = None  # already stored: which plates


def safe_name(name: str) -> str:
    return PurePath(name.replace("\\", "/")).name or "upload"


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = Path(folder) / safe_name(name)
    path.write_bytes(data)
    return path


def load_uploaded_template(name: str, data: bytes) -> Template:
    with tempfile.TemporaryDirectory() as tmp:
        return load_template(_write(Path(tmp), name, data))


def load_uploaded_plate_map(name: str, data: bytes) -> PlateMap:
    with tempfile.TemporaryDirectory() as tmp:
        return load_plate_map(_write(Path(tmp), name, data))


def _preview_wells(wells: pd.DataFrame) -> pd.DataFrame:
    out = wells[["well", "role", "level", "sample_id"]].copy()
    out["row"] = out["well"].str[0]
    out["col"] = out["well"].str[1:].astype(int)
    out["od_corrected"] = wells["od"].astype(float)
    return out.rename(columns={"well": "position", "sample_id": "sample_code"})


def preview(url: str, files: Iterable[Upload], template: Template, plate_map: PlateMap | None = None,
            kit_lot: str | None = None) -> list[FilePreview]:
    """Parse, lay out and evaluate every file without storing anything; problems are messages, not exceptions."""
    previews: dict[str, FilePreview] = {}
    staged = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files:
            fp = previews[name] = FilePreview(safe_name(name))
            try:
                with session_scope(url) as session:  # reads the database (duplicates, kit lot), never writes
                    s = stage_file(session, _write(Path(tmp), name, data), template, plate_map, kit_lot or None)
            except LabdbError as exc:
                fp.problem = str(exc)
                continue
            if s.duplicate is not None:
                fp.duplicate = ", ".join(f"plate {pid} ({pname})" for pid, pname, _ in s.duplicate.plates)
                continue
            staged.append((fp, s))
        try:
            evaluate_staged([s for _, s in staged], template)
        except LabdbError as exc:
            for fp, _ in staged:
                fp.problem = str(exc)
            return list(previews.values())
    for fp, s in staged:
        if s.error is not None:
            fp.problem = str(s.error)
            continue
        fp.plates = [PlatePreview(p.read.name, _preview_wells(p.wells), p.evaluation.verdict, list(p.evaluation.reasons),
                                  p.read.read_time) for p in s.plates]
    return list(previews.values())


def ingest(url: str, files: Iterable[Upload], template: Template, plate_map: PlateMap | None = None,
           kit_lot: str | None = None, operator: str | None = None, actor: str = "unknown",
           on_progress: Callable[[int, str], None] | None = None, read_time: datetime | None = None) -> pd.DataFrame:
    """Store each file in its own transaction; a bad file never stops the others. One result row per file."""
    rows = []
    stored = False
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, data) in enumerate(files, start=1):
            try:
                with session_scope(url) as session:
                    outcome: IngestOutcome = ingest_file(session, _write(Path(tmp), name, data), template, plate_map,
                                                         kit_lot or None, operator or None, actor, read_time=read_time)
            except LabdbError as exc:
                rows.append({"file": safe_name(name), "result": "not stored", "plates": "", "message": str(exc)})
            else:
                stored = stored or not outcome.duplicate
                plates = "; ".join(f"{pid} {pname} ({verdict})" for pid, pname, verdict in outcome.plates)
                rows.append({"file": outcome.filename, "result": "already stored" if outcome.duplicate else "stored",
                             "plates": plates, "message": ""})
            if on_progress:
                on_progress(i, safe_name(name))
    if stored:  # new plates are judged by the Westgard rules at once
        rejudge(url, actor)
    return pd.DataFrame(rows, columns=["file", "result", "plates", "message"])
