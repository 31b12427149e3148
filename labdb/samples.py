"""Sample manifests: read, check with Pandera (every problem at once, by row and column), upsert with an audit
trail, derive seasons, link to plate wells whichever arrives first, and list what does not match."""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, select

from labdb.core import audit, rawfiles
from labdb.core.config import get_settings
from labdb.core.errors import InputError
from labdb.core.models import Plate, Result, Sample, Site, Subject, Well
from qc import seasons
from qc.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_MAX_SHOWN,
    MANIFEST_NUMBERS,
    MANIFEST_REQUIRED,
    MANIFEST_WHOLE_NUMBERS,
    MANIFEST_YES_NO,
    check_manifest_cells,
    manifest_cells,
    manifest_date,
    manifest_number,
    manifest_sample_type,
    manifest_sex,
    manifest_yes_no,
)
from qc.schemas import SchemaProblems
from qc.seasons import SEASON_CONVENTIONS
from qc.vocab import HEMISPHERES

REQUIRED = MANIFEST_REQUIRED
TEXT_COLUMNS = ("visit", "diagnosis", "notes")
SEASONS_ENV = "LABDB_SEASONS"
_IN_CHUNK = 5000  # bound parameters per IN (...) query


# --- seasons ---------------------------------------------------------------------------------------


def season_convention(convention: str | None = None) -> str:
    """The season convention to use: `convention`, else LABDB_SEASONS, else meteorological."""
    value = (convention or get_settings().seasons).strip().lower()
    if value not in SEASON_CONVENTIONS:
        raise InputError(f"{SEASONS_ENV}={value!r} is not a season convention; use meteorological or astronomical.")
    return value


def seasons_of(when: pd.Series, hemisphere: pd.Series | str = "north", convention: str | None = None) -> pd.Series:
    """qc.seasons.seasons_of under `convention`, else the configured convention (LABDB_SEASONS)."""
    return seasons.seasons_of(when, hemisphere, season_convention(convention))


def season_of(when: datetime | None, hemisphere: str = "north", convention: str | None = None) -> str | None:
    """qc.seasons.season_of under `convention`, else the configured convention (LABDB_SEASONS)."""
    return seasons.season_of(when, hemisphere, season_convention(convention))


# --- sites -----------------------------------------------------------------------------------------


def set_site(session: Session, code: str, hemisphere: str, name: str | None, actor: str) -> Site:
    """Add a site or change its hemisphere/name (audited); a new hemisphere re-derives its samples' seasons."""
    if hemisphere not in HEMISPHERES:
        raise InputError(f"site {code}: hemisphere must be north or south, not '{hemisphere}'.")
    site = session.exec(select(Site).where(Site.code == code)).first()
    before = None if site is None else {"hemisphere": site.hemisphere, "name": site.name}
    site = site or Site(code=code)
    site.hemisphere, site.name = hemisphere, name or site.name
    after = {"hemisphere": site.hemisphere, "name": site.name}
    session.add(site)
    session.flush()
    if before != after:
        audit.record(session, actor, "site.set", "site", code, before=before, after=after)
    if before is not None and before["hemisphere"] != hemisphere:
        convention = season_convention()
        samples = session.exec(select(Sample).join(Subject, Subject.id == Sample.subject_id).where(Subject.site_id == site.id)).all()
        for sample in samples:
            season = season_of(sample.collected_at, hemisphere, convention)
            if season != sample.season:
                audit.record(
                    session,
                    actor,
                    "sample.update",
                    "sample",
                    sample.code,
                    before={"season": sample.season},
                    after={"season": season},
                    detail=f"site {code} moved to the {hemisphere}ern hemisphere",
                )
                sample.season = season
        session.flush()
    return site


# --- reading and checking a manifest ---------------------------------------------------------------


def read_manifest(path: Path) -> tuple[bytes, pd.DataFrame]:
    """The file's bytes and its cells as stripped text, indexed by line in the file (header = line 1)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest file not found.")
    data = path.read_bytes()
    try:
        if path.suffix.lower() in (".xlsx", ".xls", ".xlsm", ".ods"):
            df = pd.read_excel(io.BytesIO(data), dtype=str, engine="calamine")
        else:
            df = pd.read_csv(
                io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=None, engine="python", skip_blank_lines=False
            )
    except Exception as exc:
        raise InputError(f"{path.name}: cannot read the manifest ({' '.join(str(exc).split())[:200]}).") from None
    df.columns = [_column_name(c) for c in df.columns]
    cells = df.apply(manifest_cells)
    cells = cells[cells.ne("").any(axis=1)]  # blank lines
    cells.index = cells.index + 2
    if cells.empty:
        raise InputError(
            f"{path.name}: the manifest has no sample rows (expected a header line with {', '.join(REQUIRED)} and one line per sample)."
        )
    return data, cells


def _column_name(header: object) -> str:
    """A known column written loosely ('Sample ID', 'platelet-count') gets its canonical name; others stay as written."""
    text = str(header).strip()
    canonical = "_".join(text.lower().replace("-", " ").split())
    return canonical if canonical in MANIFEST_COLUMNS else text


def extra_columns(cells: pd.DataFrame) -> list[str]:
    """The manifest's columns that labdb does not know: kept as text in `Sample.extra` and exported."""
    return [c for c in cells.columns if c not in MANIFEST_COLUMNS]


def check_manifest(
    cells: pd.DataFrame, src: str, sites: Iterable[str] | None = None, subject_sex: dict[str, str] | None = None
) -> pd.DataFrame:
    """Typed, normalised manifest; raises one InputError listing every problem (rows numbered as in the file)."""
    try:
        check_manifest_cells(cells, src, None if sites is None else set(sites), subject_sex)
    except SchemaProblems as exc:
        problems = exc.problems
        shown = "; ".join(problems[:MANIFEST_MAX_SHOWN])
        more = f"; and {len(problems) - MANIFEST_MAX_SHOWN} more" if len(problems) > MANIFEST_MAX_SHOWN else ""
        raise InputError(f"{src}: {len(problems)} problem(s), nothing imported: {shown}{more}") from None
    return typed_manifest(cells)


def typed_manifest(cells: pd.DataFrame) -> pd.DataFrame:
    """Checked cells -> typed columns (only those in the file) plus `extra`, a dict of the unknown columns' cells."""
    out = pd.DataFrame(index=cells.index)
    for col in cells.columns:
        if col == "sample_type":
            out[col] = manifest_sample_type(cells[col])
        elif col == "collected_at":
            out[col] = manifest_date(cells[col])
        elif col in MANIFEST_NUMBERS:
            values = manifest_number(cells[col])
            out[col] = values.astype("Int64") if col in MANIFEST_WHOLE_NUMBERS else values
        elif col in MANIFEST_YES_NO:
            out[col] = manifest_yes_no(cells[col])
        elif col == "sex":
            out[col] = manifest_sex(cells[col])
        elif col in MANIFEST_COLUMNS:
            out[col] = cells[col].replace("", None).astype(object)
    extras = extra_columns(cells)
    out["extra"] = [{c: cells.at[i, c] for c in extras} for i in cells.index]
    out.attrs["extra_columns"] = extras
    return out


# --- importing ------------------------------------------------------------------------------------


def import_manifest(session: Session, path: Path, actor: str) -> dict[str, int]:
    """Upsert subjects and samples from a manifest, audit every change, link wells and results; returns counts.

    A column missing from the file leaves that field as stored; an empty cell clears it. Unknown columns are
    merged into the sample's `extra` the same way. The file is rejected whole if any row has a problem.
    """
    path = Path(path)
    data, cells = read_manifest(path)
    convention = season_convention()
    sites = {s.code: s for s in session.exec(select(Site)).all()}
    subject_codes = sorted(set(cells["subject_id"])) if "subject_id" in cells else []
    subjects = {s.code: s for s in _where_in(session, Subject, Subject.code, subject_codes)}
    recorded_sex = {code: s.sex for code, s in subjects.items() if s.sex}
    table = check_manifest(cells, path.name, sites, recorded_sex)
    raw = rawfiles.store(session, data, "manifest", path.name, actor)
    existing = {s.code: s for s in _where_in(session, Sample, Sample.code, table["sample_id"].tolist())}
    subject_codes_by_id = {s.id: s.code for s in subjects.values()}
    extras = table.attrs["extra_columns"]
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for rec in table.to_dict("records"):
        site = sites.get(rec["site"]) if rec.get("site") else None
        subject = _upsert_subject(session, subjects, rec, site, actor, path.name)
        subject_codes_by_id[subject.id] = subject.code
        hemisphere = site.hemisphere if site else _hemisphere(subject, sites)
        sample = existing.get(rec["sample_id"])
        values = _sample_values(rec, hemisphere, convention, extras, sample.extra if sample else None)
        if sample is None:
            sample = Sample(code=rec["sample_id"], subject_id=subject.id, manifest_sha256=raw.sha256, **values)
            session.add(sample)
            session.flush()
            audit.record(
                session, actor, "sample.add", "sample", sample.code, after={"subject_id": subject.code, **values}, detail=path.name
            )
            counts["added"] += 1
            continue
        before = {k: getattr(sample, k) for k in values}
        changed = {k: v for k, v in values.items() if not _same(before[k], v)}
        old_before = {k: before[k] for k in changed}
        if sample.subject_id != subject.id:
            old_before["subject_id"] = subject_codes_by_id.get(sample.subject_id) or _subject_code(session, sample.subject_id)
            changed["subject_id"] = subject.code
        if not changed:
            counts["unchanged"] += 1
            continue
        for k, v in changed.items():
            setattr(sample, k, subject.id if k == "subject_id" else v)
        sample.manifest_sha256 = raw.sha256
        audit.record(session, actor, "sample.update", "sample", sample.code, before=old_before, after=changed, detail=path.name)
        counts["updated"] += 1
    session.flush()
    link_samples(session)
    return counts


def _upsert_subject(session: Session, subjects: dict[str, Subject], rec: dict, site: Site | None, actor: str, src: str) -> Subject:
    """The subject of a manifest row, added or updated (sex filled in, site set or moved), with audit events."""
    code, sex = rec["subject_id"], rec.get("sex")
    subject = subjects.get(code)
    if subject is None:
        subject = Subject(code=code, site_id=site.id if site else None, sex=sex)
        session.add(subject)
        session.flush()
        subjects[code] = subject
        audit.record(session, actor, "subject.add", "subject", code, after={"site": site.code if site else None, "sex": sex}, detail=src)
        return subject
    before, after = {}, {}
    if sex and subject.sex != sex:  # a different recorded sex was refused by the check; only an unknown one is filled
        before["sex"], after["sex"] = subject.sex, sex
        subject.sex = sex
    if site and subject.site_id != site.id:
        before["site_id"], after["site_id"] = subject.site_id, site.id
        subject.site_id = site.id
    if after:
        session.add(subject)
        session.flush()
        audit.record(session, actor, "subject.update", "subject", code, before=before, after=after, detail=src)
    return subject


def _hemisphere(subject: Subject, sites: dict[str, Site]) -> str:
    for site in sites.values():
        if site.id == subject.site_id:
            return site.hemisphere
    return "north"


def _subject_code(session: Session, subject_id: int) -> str | None:
    subject = session.get(Subject, subject_id)
    return subject.code if subject else None


def _sample_values(rec: dict, hemisphere: str, convention: str, extras: list[str], old_extra: dict | None) -> dict:
    """The sample's stored fields from one typed manifest row (only the columns the file has)."""
    when = rec.get("collected_at")
    when = None if when is None or pd.isna(when) else pd.Timestamp(when).to_pydatetime()
    values: dict = {"sample_type": rec["sample_type"], "collected_at": when, "season": season_of(when, hemisphere, convention)}
    for col in (*MANIFEST_NUMBERS, *MANIFEST_YES_NO, *TEXT_COLUMNS):
        if col not in rec:
            continue
        v = rec[col]
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            v = None
        elif col in MANIFEST_WHOLE_NUMBERS:
            v = int(v)
        elif col in MANIFEST_NUMBERS:
            v = float(v)
        elif col in MANIFEST_YES_NO:
            v = bool(v)
        values[col] = v
    extra = dict(old_extra or {})
    for key in extras:
        cell = (rec.get("extra") or {}).get(key, "")
        if cell == "":
            extra.pop(key, None)
        else:
            extra[key] = cell
    values["extra"] = extra or None
    return values


def _same(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return (a or None) == (b or None)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def _where_in(session: Session, model, column, values: list) -> Iterator:
    """Rows of `model` whose `column` is in `values`, queried in chunks (bound-parameter limits)."""
    values = list(dict.fromkeys(values))
    for start in range(0, len(values), _IN_CHUNK):
        yield from session.exec(select(model).where(column.in_(values[start : start + _IN_CHUNK]))).all()


# --- linking and what does not match ---------------------------------------------------------------


def link_samples(session: Session) -> int:
    """Point wells and results that name a known sample at it (whichever arrived first); returns wells linked."""
    sample_of_well = select(Sample.id).where(Sample.code == Well.sample_code).scalar_subquery()
    wells = session.execute(
        sa.update(Well)
        .where(
            Well.sample_id.is_(None),
            Well.role == "sample",
            Well.sample_code.is_not(None),
            sa.exists().where(Sample.code == Well.sample_code),
        )
        .values(sample_id=sample_of_well)
        .execution_options(synchronize_session=False)
    )
    sample_of_result = select(Sample.id).where(Sample.code == Result.name).scalar_subquery()
    session.execute(
        sa.update(Result)
        .where(Result.sample_id.is_(None), Result.role == "sample", sa.exists().where(Sample.code == Result.name))
        .values(sample_id=sample_of_result)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return wells.rowcount or 0


def unmatched(session: Session) -> dict[str, list[dict]]:
    """What does not link: sample IDs on plates that are in no manifest (with plate and wells, and the likeliest
    never-measured sample they were meant to be), and manifest samples never put on a plate."""
    measured = sa.exists().where(Well.sample_code == Sample.code, Well.role == "sample")
    never = session.exec(
        select(Sample.code, Subject.code, Sample.sample_type, Sample.visit, Sample.collected_at, Sample.notes)
        .join(Subject, Subject.id == Sample.subject_id)
        .where(~measured)
        .order_by(Sample.code)
    ).all()
    unmeasured = [
        {
            "sample_id": code,
            "subject_id": subject,
            "sample_type": stype,
            "visit": visit,
            "collected_at": when.isoformat(sep=" ", timespec="minutes") if when else None,
            "notes": notes,
        }
        for code, subject, stype, visit, when, notes in never
    ]
    rows = session.exec(
        select(Well.sample_code, Well.plate_id, Plate.name, Plate.status, Well.position)
        .join(Plate, Plate.id == Well.plate_id)
        .where(Well.role == "sample", Well.sample_code.is_not(None), ~sa.exists().where(Sample.code == Well.sample_code))
        .order_by(Well.sample_code, Well.plate_id, Well.row, Well.col)
    ).all()
    unknown: dict[tuple[str, int], dict] = {}
    candidates = [u["sample_id"] for u in unmeasured]
    for code, plate_id, plate_name, status, position in rows:
        entry = unknown.get((code, plate_id))
        if entry is None:
            close = difflib.get_close_matches(code, candidates, n=1, cutoff=0.8)
            entry = unknown[(code, plate_id)] = {
                "sample_id": code,
                "plate_id": plate_id,
                "plate_name": plate_name,
                "plate_status": status,
                "wells": [],
                "did_you_mean": close[0] if close else None,
            }
        entry["wells"].append(position)
    return {"not_in_manifest": list(unknown.values()), "never_measured": unmeasured}
