"""Sample manifests: read, check (every problem at once, by row and column), upsert, link to wells."""

from __future__ import annotations

import io
import json
import math
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlmodel import Session, select

from labdb import audit, rawfiles
from labdb.errors import InputError
from labdb.models import Result, Sample, Site, Subject, Well
from qc.schemas import SampleManifest, SchemaProblems, validate

REQUIRED = ("sample_id", "subject_id", "sample_type", "collected_at")
FLOAT_COLUMNS = ("age", "platelet_count", "clotting_minutes", "minutes_to_centrifugation", "centrifuge_g", "storage_days")
INT_COLUMNS = ("freeze_thaw_cycles",)
BOOL_COLUMNS = ("platelet_poor", "fasting", "exercise_within_24h", "antidepressant", "smoking")
TEXT_COLUMNS = ("visit", "diagnosis", "notes")
KNOWN = set(REQUIRED) | {"site", "sex"} | set(FLOAT_COLUMNS) | set(INT_COLUMNS) | set(BOOL_COLUMNS) | set(TEXT_COLUMNS)
SAMPLE_TYPES = {
    "serum": "serum",
    "plasma_edta": "plasma_edta",
    "edta plasma": "plasma_edta",
    "plasma edta": "plasma_edta",
    "edta": "plasma_edta",
    "plasma_citrate": "plasma_citrate",
    "citrate plasma": "plasma_citrate",
    "plasma_heparin": "plasma_heparin",
    "heparin plasma": "plasma_heparin",
    "platelet_poor_plasma": "platelet_poor_plasma",
    "platelet-poor plasma": "platelet_poor_plasma",
    "ppp": "platelet_poor_plasma",
}
TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f"}
NORTH_SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
                 6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
OPPOSITE = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}


def set_site(session: Session, code: str, hemisphere: str, name: str | None, actor: str) -> Site:
    """Add a site or change its hemisphere/name (audited); seasons of its samples follow on the next import."""
    if hemisphere not in ("north", "south"):
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
    return site


def season_of(when: datetime | None, hemisphere: str = "north") -> str | None:
    """Meteorological season (DJF winter in the north) of a collection date, shifted 6 months in the south."""
    if when is None or pd.isna(when):
        return None
    season = NORTH_SEASONS[when.month]
    return OPPOSITE[season] if hemisphere == "south" else season


def read_manifest(path: Path) -> tuple[bytes, pd.DataFrame]:
    """The file's bytes and its table as text cells (CSV or xlsx)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest file not found.")
    data = path.read_bytes()
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            df = pd.read_excel(io.BytesIO(data), dtype=str, engine="calamine")
        else:
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=None, engine="python")
    except Exception as exc:
        raise InputError(f"{path.name}: cannot read the manifest ({' '.join(str(exc).split())[:200]}).") from None
    df.columns = [str(c).strip() for c in df.columns]
    return data, df.fillna("").astype(str).apply(lambda col: col.str.strip())


def check_manifest(df: pd.DataFrame, src: str, sites: dict[str, Site]) -> pd.DataFrame:
    """Typed, normalised manifest; raises one InputError listing every problem (row numbers as in the file)."""
    problems: list[str] = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{src}: missing required column(s) {', '.join(missing)} (found: {', '.join(df.columns)}).")
    out = pd.DataFrame(index=df.index)
    out["sample_id"] = df["sample_id"]
    out["subject_id"] = df["subject_id"]
    line = df.index + 2  # header is line 1
    for col in ("sample_id", "subject_id"):
        for i in df.index[df[col] == ""]:
            problems.append(f"row {line[i]}: {col} is empty")
    dup = df["sample_id"].duplicated(keep=False) & (df["sample_id"] != "")
    for i in df.index[dup]:
        problems.append(f"row {line[i]}: sample_id '{df.at[i, 'sample_id']}' appears more than once")
    types = df["sample_type"].str.lower().map(SAMPLE_TYPES)
    for i in df.index[types.isna()]:
        problems.append(f"row {line[i]}: sample_type '{df.at[i, 'sample_type']}' is not one of serum, plasma_edta, plasma_citrate, plasma_heparin, platelet_poor_plasma")
    out["sample_type"] = types
    when = pd.to_datetime(df["collected_at"], errors="coerce", format="mixed", dayfirst=False)
    for i in df.index[when.isna()]:
        problems.append(f"row {line[i]}: collected_at '{df.at[i, 'collected_at']}' is not a date (use YYYY-MM-DD HH:MM)")
    future = when > pd.Timestamp.now()
    for i in df.index[future.fillna(False)]:
        problems.append(f"row {line[i]}: collected_at {df.at[i, 'collected_at']} is in the future")
    out["collected_at"] = when
    for col in FLOAT_COLUMNS + INT_COLUMNS:
        if col not in df:
            continue
        values = pd.to_numeric(df[col].replace("", pd.NA), errors="coerce")
        bad = (df[col] != "") & values.isna() | (values < 0).fillna(False)
        for i in df.index[bad]:
            problems.append(f"row {line[i]}: {col} '{df.at[i, col]}' is not a non-negative number")
        out[col] = values
    if "platelet_count" in out:
        implausible = ((out["platelet_count"] < 10) | (out["platelet_count"] > 1500)).fillna(False)
        for i in df.index[implausible]:
            problems.append(f"row {line[i]}: platelet_count {df.at[i, 'platelet_count']} is outside 10-1500 x10^9/L")
    for col in BOOL_COLUMNS:
        if col not in df:
            continue
        low = df[col].str.lower()
        bad = (low != "") & ~low.isin(TRUE | FALSE)
        for i in df.index[bad]:
            problems.append(f"row {line[i]}: {col} '{df.at[i, col]}' is not yes/no")
        out[col] = low.map(lambda v: True if v in TRUE else (False if v in FALSE else None))
    for col in TEXT_COLUMNS + ("sex", "site"):
        if col in df:
            out[col] = df[col].replace("", None)
    if "sex" in out:
        sexes = out["sex"].str.upper().str[:1]
        bad = out["sex"].notna() & ~sexes.isin(["F", "M"])
        for i in df.index[bad]:
            problems.append(f"row {line[i]}: sex '{df.at[i, 'sex']}' is not F or M")
        out["sex"] = sexes
        changes = out.dropna(subset=["sex"]).groupby("subject_id")["sex"].nunique()
        for subject in changes[changes > 1].index:
            problems.append(f"subject {subject}: sex differs between rows")
    if "site" in out:
        for i in df.index[out["site"].notna() & ~out["site"].isin(sites)]:
            problems.append(f"row {line[i]}: site '{df.at[i, 'site']}' is unknown; add it with `labdb sites add {df.at[i, 'site']} --hemisphere north|south`")
    extra_cols = [c for c in df.columns if c not in KNOWN]
    out["extra"] = [({c: df.at[i, c] for c in extra_cols if df.at[i, c] != ""} or None) for i in df.index]
    if not problems:  # the typed table passes the Pandera schema too (ranges the parse checks do not cover)
        try:
            validate(out.drop(columns=["extra"]), SampleManifest, src, first_row=2)
        except SchemaProblems as exc:
            problems = exc.problems
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise InputError(f"{src}: {len(problems)} problem(s), nothing imported: {shown}")
    return out


def import_manifest(session: Session, path: Path, actor: str) -> dict[str, int]:
    """Upsert subjects and samples from a manifest, audit every change, link wells and results; returns counts."""
    path = Path(path)
    data, df = read_manifest(path)
    sites = {s.code: s for s in session.exec(select(Site)).all()}
    table = check_manifest(df, path.name, sites)
    raw = rawfiles.store(session, data, "manifest", path.name, actor)
    subjects = {s.code: s for s in session.exec(select(Subject)).all()}
    existing = {s.code: s for s in session.exec(select(Sample).where(Sample.code.in_(table["sample_id"].tolist()))).all()}
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for rec in table.to_dict("records"):
        site = sites.get(rec.get("site")) if rec.get("site") else None
        subject = subjects.get(rec["subject_id"])
        if subject is None:
            subject = Subject(code=rec["subject_id"], site_id=site.id if site else None, sex=rec.get("sex"))
            session.add(subject)
            session.flush()
            subjects[subject.code] = subject
        else:
            if rec.get("sex") and subject.sex and subject.sex != rec["sex"]:
                raise InputError(f"{path.name}: subject {subject.code} is recorded as sex {subject.sex}; this manifest says {rec['sex']}.")
            subject.sex = subject.sex or rec.get("sex")
            if site and subject.site_id is None:
                subject.site_id = site.id
        values = _sample_values(rec, site)
        sample = existing.get(rec["sample_id"])
        if sample is None:
            sample = Sample(code=rec["sample_id"], subject_id=subject.id, manifest_sha256=raw.sha256, **values)
            session.add(sample)
            session.flush()
            audit.record(session, actor, "sample.add", "sample", sample.code, after=values, detail=path.name)
            counts["added"] += 1
            continue
        before = {k: getattr(sample, k) for k in values}
        changed = {k: v for k, v in values.items() if not _same(before[k], v)}
        if not changed:
            counts["unchanged"] += 1
            continue
        for k, v in changed.items():
            setattr(sample, k, v)
        sample.manifest_sha256 = raw.sha256
        audit.record(session, actor, "sample.update", "sample", sample.code,
                     before={k: before[k] for k in changed}, after=changed, detail=path.name)
        counts["updated"] += 1
    session.flush()
    link_samples(session)
    return counts


def _sample_values(rec: dict, site: Site | None) -> dict:
    when = rec["collected_at"]
    when = None if pd.isna(when) else when.to_pydatetime()
    values = {
        "sample_type": rec["sample_type"],
        "collected_at": when,
        "season": season_of(when, site.hemisphere if site else "north"),
    }
    for col in FLOAT_COLUMNS + INT_COLUMNS + BOOL_COLUMNS + TEXT_COLUMNS:
        if col in rec:
            v = rec[col]
            v = None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v
            if col in INT_COLUMNS and v is not None:
                v = int(v)
            elif col in FLOAT_COLUMNS and v is not None:
                v = float(v)
            values[col] = v
    values["extra"] = rec.get("extra")
    return values


def _same(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return a == b


def link_samples(session: Session) -> int:
    """Point wells and results that name a known sample at it (whichever arrived first); returns links made."""
    codes = dict(session.exec(select(Sample.code, Sample.id)).all())
    made = 0
    for well in session.exec(select(Well).where(Well.sample_id.is_(None), Well.role == "sample", Well.sample_code.is_not(None))).all():
        if well.sample_code in codes:
            well.sample_id = codes[well.sample_code]
            made += 1
    for result in session.exec(select(Result).where(Result.sample_id.is_(None), Result.role == "sample")).all():
        if result.name in codes:
            result.sample_id = codes[result.name]
    session.flush()
    return made
