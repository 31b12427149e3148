"""Upload handling for the Upload page, without widgets: preview uploaded reader files, then ingest them.

Uploads arrive as (name, bytes) pairs and go, as bytes, through labdb.ingest's one driver, the same as
`labdb ingest` (same size limits, same checks, same messages); nothing is written to a temporary file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from labdb import ingest as driver
from labdb.templates import PlateMap, Template

Pair = tuple[str, bytes]


@dataclass
class PlatePreview:
    name: str
    wells: pd.DataFrame  # well, row, col, role, level, sample_id, od_corrected
    verdict: str | None
    reasons: list[str]
    read_time: datetime | None = None  # as the file says; None when it does not (e.g. a generic grid)
    od_reads: str = ""  # which reads make the corrected OD, in words (labdb.read_choice.od_choice)


@dataclass
class FilePreview:
    name: str
    plates: list[PlatePreview] = field(default_factory=list)
    problem: str | None = None  # the InputError message; the file will not be stored
    duplicate: str | None = None  # already stored: which plates


def safe_name(name: str) -> str:
    """The base name of an uploaded file (a browser may send a path, also a Windows one)."""
    return driver.Upload(name).src


def _preview_wells(wells: pd.DataFrame) -> pd.DataFrame:
    out = wells[["well", "role", "level", "sample_id"]].copy()
    out["row"] = out["well"].str[0]
    out["col"] = out["well"].str[1:].astype(int)
    out["od_corrected"] = wells["od"].astype(float)
    return out.rename(columns={"well": "position", "sample_id": "sample_code"})


def _request(
    template: Template,
    plate_map: PlateMap | None,
    kit_lot: str | None,
    operator: str | None = None,
    actor: str = "unknown",
    read_time: datetime | None = None,
) -> driver.IngestRequest:
    """The driver's request; the uploader is a dashboard account, so its role is checked in every file's transaction."""
    return driver.IngestRequest(template, plate_map, kit_lot or None, operator or None, read_time, actor, check_role=True)


def preview(
    url: str, files: Iterable[Pair], template: Template, plate_map: PlateMap | None = None, kit_lot: str | None = None
) -> list[FilePreview]:
    """Parse, lay out and evaluate every file without storing anything; problems are messages, not exceptions."""
    uploads = [driver.Upload(name, data) for name, data in files]
    previews = []
    for upload, staged in driver.preview(url, uploads, _request(template, plate_map, kit_lot)):
        fp = FilePreview(upload.src)
        previews.append(fp)
        if not isinstance(staged, driver.StagedFile):
            fp.problem = str(staged)
        elif staged.duplicate is not None:
            fp.duplicate = ", ".join(f"plate {pid} ({pname})" for pid, pname, _ in staged.duplicate.plates)
        elif staged.error is not None:
            fp.problem = str(staged.error)
        else:
            fp.plates = [
                PlatePreview(
                    p.read.name, _preview_wells(p.wells), p.evaluation.verdict, list(p.evaluation.reasons), p.read.read_time, p.od_choice
                )
                for p in staged.plates
            ]
    return previews


def ingest(
    url: str,
    files: Iterable[Pair],
    template: Template,
    plate_map: PlateMap | None = None,
    kit_lot: str | None = None,
    operator: str | None = None,
    actor: str = "unknown",
    on_progress: Callable[[int, str], None] | None = None,
    read_time: datetime | None = None,
) -> pd.DataFrame:
    """Store each file in its own transaction; a bad file never stops the others. One result row per file.
    The Westgard rules are re-run at the end when a plate was stored (the driver does it)."""
    rows = []
    uploads = (driver.Upload(name, data) for name, data in files)
    request = _request(template, plate_map, kit_lot, operator, actor, read_time)
    for i, (upload, outcome) in enumerate(driver.ingest(url, uploads, request, batch=10), start=1):
        if not isinstance(outcome, driver.IngestOutcome):
            rows.append({"file": upload.src, "result": "not stored", "plates": "", "message": str(outcome)})
        else:
            plates = "; ".join(f"{pid} {pname} ({verdict})" for pid, pname, verdict in outcome.plates)
            rows.append(
                {"file": outcome.filename, "result": "already stored" if outcome.duplicate else "stored", "plates": plates, "message": ""}
            )
        if on_progress:
            on_progress(i, upload.src)
    return pd.DataFrame(rows, columns=["file", "result", "plates", "message"])
