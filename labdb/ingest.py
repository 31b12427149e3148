"""The ingest pipeline: file -> reader -> canonical reads -> template -> corrected OD -> curve -> results.

Everything for one file is added to the caller's session; the caller commits once, so a file that
fails at any step leaves the database exactly as it was.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlmodel import Session, select

from labdb import audit, rawfiles, runqc
from labdb.db import session_scope
from labdb.errors import InputError, LabdbError
from labdb.fits import number, read_flags, sample_ids, store_evaluation
from labdb.models import KitLot, Plate, Well
from labdb.readers.canonical import PlateRead
from labdb.readers.registry import read_plates
from labdb.templates import PlateMap, Template, apply_plate_map
from qc.acceptance import PlateEvaluation, QcPolicy, evaluate_plates
from qc.schemas import CanonicalReads, PlateResults, PlateWells, SchemaProblems, validate

REFERENCE_CANDIDATES = (540, 570, 600, 620, 630, 650, 690)
WELL_COLUMNS = ["well", "role", "level", "nominal", "dilution", "sample_id", "od", "masked"]


@dataclass
class IngestOutcome:
    """What happened to one file: its plates (id, name, verdict) or that it was already stored."""

    filename: str
    sha256: str
    duplicate: bool
    plates: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class StagedPlate:
    """One plate read with its layout-applied wells, ready to be evaluated."""

    read: PlateRead
    wells: pd.DataFrame
    measure: int | None
    reference: int | None
    evaluation: PlateEvaluation | None = None


@dataclass
class StagedFile:
    """A parsed reader file waiting for evaluation and storage (or a duplicate of a stored one)."""

    path: Path
    data: bytes
    digest: str
    plates: list[StagedPlate] = field(default_factory=list)
    duplicate: IngestOutcome | None = None
    error: InputError | None = None  # set by evaluate_staged when the results fail their schema

    @property
    def src(self) -> str:
        return self.path.name


def stage_file(
    session: Session, path: Path, template: Template, plate_map: PlateMap | None = None,
    kit_lot: str | None = None, reader_format: str | None = None,
) -> StagedFile:
    """Read, check and lay out one file (reads the database, never writes it); InputError names the file."""
    path = Path(path)
    src = path.name
    data = rawfiles.read_upload(path, "reader file")
    digest = rawfiles.sha256_of(data)
    staged = StagedFile(path, data, digest)
    existing = session.exec(select(Plate.id, Plate.name, Plate.verdict).where(Plate.file_sha256 == digest)).all()
    if existing:
        staged.duplicate = IngestOutcome(src, digest, True, [(pid, name, verdict or "") for pid, name, verdict in existing])
        return staged
    lot = session.exec(select(KitLot).where(KitLot.lot == kit_lot)).first() if kit_lot else None
    with _named(src):
        for plate in read_plates(data, src, reader_format):
            staged.plates.append(_layout(plate, template, plate_map, lot, src))
    return staged


def evaluate_staged(files: list[StagedFile], template: Template) -> None:
    """Evaluate every plate of the staged files; the first curves are fitted in one batch (qc.batchfit).

    A file whose results fail their schema gets `error` set; the others are unaffected.
    """
    plates = [p for f in files if f.duplicate is None for p in f.plates]
    evaluations = evaluate_plates([p.wells for p in plates], template.policy)
    for plate, evaluation in zip(plates, evaluations, strict=True):
        plate.evaluation = evaluation
    if plates and _results_valid([p.evaluation.results for p in plates]):
        return  # the usual case, checked in one call; otherwise each file is checked alone to name the bad one
    for f in files:
        try:
            with _named(f.src):
                for p in f.plates:
                    validate(p.evaluation.results, PlateResults, f"{f.src} (plate '{p.read.name}', template {template.filename})")
        except InputError as exc:
            f.error = exc


def store_staged(
    session: Session, staged: StagedFile, template: Template, plate_map: PlateMap | None = None,
    kit_lot: str | None = None, operator: str | None = None, actor: str = "unknown", read_time: datetime | None = None,
) -> IngestOutcome:
    """Add an evaluated file to `session` (the caller commits once per file). `read_time`: when the plates were read,
    for files that do not say (a generic grid); a time in the file always wins."""
    if staged.duplicate is not None:
        return staged.duplicate
    if staged.error is not None:
        raise staged.error
    if session.exec(select(Plate.id).where(Plate.file_sha256 == staged.digest)).first() is not None:
        return stage_file(session, staged.path, template, plate_map, kit_lot).duplicate  # stored meanwhile
    lot = _kit_lot(session, kit_lot, template) if kit_lot else None
    rawfiles.store(session, staged.data, "reader_export", staged.src, actor)
    rawfiles.store(session, template.content, "template", template.filename, actor)
    if plate_map is not None:
        rawfiles.store(session, plate_map.content, "plate_map", plate_map.filename, actor)
    outcome = IngestOutcome(staged.src, staged.digest, False)
    for index, p in enumerate(staged.plates):
        row = _store_plate(session, p.read, p.wells, p.evaluation, index, staged.digest, staged.src, template,
                           plate_map, lot, operator, actor, p.measure, p.reference, read_time)
        outcome.plates.append((row.id, row.name, row.verdict or ""))
    return outcome


def _results_valid(results: list[pd.DataFrame]) -> bool:
    """Whether every plate's results pass PlateResults, checked together (the schema's checks are row by row, so the
    concatenation fails exactly when one plate would; one Pandera call instead of one per plate)."""
    try:
        validate(pd.concat(results, ignore_index=True), PlateResults, "results")
    except SchemaProblems:
        return False
    return True


def ingest_file(
    session: Session,
    path: Path,
    template: Template,
    plate_map: PlateMap | None = None,
    kit_lot: str | None = None,
    operator: str | None = None,
    actor: str = "unknown",
    reader_format: str | None = None,
    read_time: datetime | None = None,
) -> IngestOutcome:
    """Parse, evaluate and stage one reader export in `session` (the caller commits or rolls back)."""
    staged = stage_file(session, path, template, plate_map, kit_lot, reader_format)
    evaluate_staged([staged], template)
    return store_staged(session, staged, template, plate_map, kit_lot, operator, actor, read_time)


def ingest_files(
    url: str,
    paths: list[Path],
    template: Template,
    plate_map: PlateMap | None = None,
    kit_lot: str | None = None,
    operator: str | None = None,
    actor: str = "unknown",
    reader_format: str | None = None,
    batch: int = 250,
    read_time: datetime | None = None,
) -> Iterator[tuple[Path, IngestOutcome | LabdbError]]:
    """Ingest many files, one transaction each, fitting the curves of up to `batch` files together.

    Yields (path, outcome) or (path, the error that kept that file out); a bad file never stops the others.
    When the last file is done and any plate was stored, the Westgard rules are re-run (`rejudge`).
    """
    stored = False
    for start in range(0, len(paths), batch):
        staged: list[StagedFile] = []
        for path in paths[start : start + batch]:
            try:
                with session_scope(url) as session:
                    staged.append(stage_file(session, Path(path), template, plate_map, kit_lot, reader_format))
            except LabdbError as exc:
                yield Path(path), exc
        evaluate_staged(staged, template)
        for item in staged:
            try:
                with session_scope(url) as session:
                    outcome = store_staged(session, item, template, plate_map, kit_lot, operator, actor, read_time)
            except LabdbError as exc:
                yield item.path, exc
            else:
                stored = stored or not outcome.duplicate
                yield item.path, outcome
    if stored:
        rejudge(url, actor)


def rejudge(url: str, actor: str = "labdb") -> None:
    """Re-run the Westgard rules over every judged run (labdb.runqc.reevaluate) in its own transaction, so plates just
    stored carry their violations before anyone reviews them."""
    with session_scope(url) as session:
        runqc.reevaluate(session, actor=actor)


@contextmanager
def _named(src: str) -> Iterator[None]:
    """Turn schema problems and unnamed input errors into InputErrors that start with the file name."""
    try:
        yield
    except SchemaProblems as exc:
        raise InputError(str(exc) if str(exc).startswith(src) else f"{src}: {exc}") from None
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(src) else f"{src}: {message}") from None


def new_kit_lot_note(session: Session, lot: str | None) -> str | None:
    """A warning when `lot` is not a known kit lot yet (a typo would otherwise start a lot of its own: its own guide
    sets, its own batch shift), with the closest known lot; None when it is known or not given."""
    if not lot:
        return None
    known = list(session.exec(select(KitLot.lot).order_by(KitLot.lot)).all())
    if lot in known:
        return None
    close = difflib.get_close_matches(lot, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else (f" Known lots: {', '.join(known)}." if known else "")
    return f"kit lot {lot} is new: it will be created, with its own Westgard guide sets.{hint}"


def _kit_lot(session: Session, lot: str, template: Template) -> KitLot:
    """The kit lot row, created on first use with the vendor and catalog number from the template's [kit]."""
    row = session.exec(select(KitLot).where(KitLot.lot == lot)).first()
    if row is None:
        row = KitLot(lot=lot, vendor=template.kit.get("vendor"), catalog=template.kit.get("catalog"))
        session.add(row)
        session.flush()
    return row


def _layout(plate: PlateRead, template: Template, plate_map: PlateMap | None, lot: KitLot | None, src: str) -> StagedPlate:
    """Template + plate map + corrected OD for one plate read; nothing touches the database."""
    validate(plate.reads, CanonicalReads, f"{src} ({plate.name})")
    if plate.n_wells != template.plate_size:
        raise InputError(
            f"{src}: plate '{plate.name}' has {plate.n_wells} wells but template {template.filename} "
            f"is for {template.plate_size}-well plates."
        )
    layout = apply_plate_map(template, plate_map, (plate.name, Path(src).stem), src)
    layout = _apply_lot_nominals(layout, lot)
    measure, reference = _wavelengths(plate, template, src)
    wells = _corrected_od(layout, plate.reads, measure, reference)
    unread = wells[wells["role"].ne("empty") & wells["read_flags"].map(lambda f: "not_read" in f)]
    if len(unread):
        raise InputError(
            f"{src}: plate '{plate.name}' has no {_nm([measure])} read for well(s) {', '.join(unread['well'][:8])}"
            + (f" and {len(unread) - 8} more" if len(unread) > 8 else "")
            + f", which template {template.filename} uses; check the file or use a template for the wells read."
        )
    validate(wells[WELL_COLUMNS], PlateWells, f"{src} (plate '{plate.name}', template {template.filename})")
    return StagedPlate(plate, wells, measure, reference)


def _apply_lot_nominals(layout: pd.DataFrame, lot: KitLot | None) -> pd.DataFrame:
    """Scale standards to the lot's top concentration and use the lot's control nominals, when the lot has them."""
    if lot is None:
        return layout
    layout = layout.copy()
    standards = layout["role"].eq("standard")
    if lot.top_standard_pg_ml and standards.any():
        layout.loc[standards, "nominal"] *= lot.top_standard_pg_ml / layout.loc[standards, "nominal"].max()
    for level, nominal in (lot.control_nominals or {}).items():
        layout.loc[layout["role"].eq("control") & layout["level"].eq(level), "nominal"] = float(nominal)
    return layout


def _wavelengths(plate: PlateRead, template: Template, src: str) -> tuple[int | None, int | None]:
    """The measure and reference wavelengths to use for this plate (reference may be None)."""
    present = plate.wavelengths
    labelled = [w for w in present if w is not None]
    if template.measure_nm in labelled:
        measure: int | None = template.measure_nm
    elif present == [None]:
        measure = None  # one unlabelled read: taken as the measurement itself
    else:
        raise InputError(
            f"{src}: plate '{plate.name}' has reads at {_nm(present)} but template {template.filename} "
            f"measures at {template.measure_nm} nm; use a template with the right measure_nm."
        )
    if template.reference_nm is not None:
        if template.reference_nm not in labelled:
            raise InputError(
                f"{src}: plate '{plate.name}' has no {template.reference_nm} nm reference read (reads: {_nm(present)}); "
                f"set reference_nm = \"auto\" in the template if this reader does not read a reference."
            )
        return measure, template.reference_nm
    candidates = [w for w in labelled if w != measure and w in REFERENCE_CANDIDATES]
    return measure, candidates[0] if len(candidates) == 1 else None


def _nm(wavelengths: list[int | None]) -> str:
    return ", ".join("unlabelled" if w is None else f"{w} nm" for w in wavelengths)


def _key(wavelength: int | None) -> str:
    return "read" if wavelength is None else str(wavelength)


def _corrected_od(layout: pd.DataFrame, reads: pd.DataFrame, measure: int | None, reference: int | None) -> pd.DataFrame:
    """Layout joined with raw values per wavelength and the corrected OD (measure - reference)."""
    keys = [_key(None if pd.isna(w) else int(w)) for w in reads["wavelength_nm"]]
    reads = reads.assign(key=keys)
    values = reads.pivot(index="well", columns="key", values="value").reindex(layout["well"])
    flags = reads.pivot(index="well", columns="key", values="flag").reindex(layout["well"])
    used = [_key(measure)] + ([_key(reference)] if reference is not None else [])
    od = values[used[0]] - (values[used[1]] if len(used) > 1 else 0.0)
    raw_values, raw_flags = [], []
    for vals, flgs in zip(values.to_dict("records"), flags.to_dict("records"), strict=True):
        read = {k: str(f) for k, f in flgs.items() if pd.notna(f)}
        raw_flags.append(read)
        raw_values.append({k: (None if pd.isna(vals[k]) else float(vals[k])) for k in read})
    problems = [read_flags(f, measure, reference) for f in raw_flags]
    wells = layout.copy()
    wells["raw_values"] = raw_values
    wells["raw_flags"] = raw_flags
    wells["od"] = np.where([bool(p) for p in problems], np.nan, od.to_numpy(dtype=float))
    wells["read_flags"] = problems
    wells["masked"] = False
    return wells


def _store_plate(
    session: Session,
    plate: PlateRead,
    wells: pd.DataFrame,
    evaluation: PlateEvaluation,
    index: int,
    digest: str,
    src: str,
    template: Template,
    plate_map: PlateMap | None,
    lot: KitLot | None,
    operator: str | None,
    actor: str,
    measure: int | None,
    reference: int | None,
    read_time: datetime | None = None,
) -> Plate:
    """Add the plate, its wells (raw values per wavelength), its curve fit and its results to the session."""
    extra = dict(plate.extra)
    if plate.read_time is None and read_time is not None:  # the file does not say: the uploader's time, marked as such
        extra["read_time_source"] = f"given at ingest by {actor}"
    row = Plate(
        file_sha256=digest,
        index_in_file=index,
        name=plate.name,
        original_filename=src,
        reader_format=plate.format,
        instrument=plate.instrument,
        serial=plate.serial,
        software_version=plate.software_version,
        read_time=plate.read_time or read_time,
        read_extra=extra or None,
        n_wells=plate.n_wells,
        operator=operator,
        kit_lot_id=lot.id if lot else None,
        template_name=template.name,
        template_sha256=template.sha256,
        plate_map_sha256=plate_map.sha256 if plate_map else None,
        measure_nm=measure,
        reference_nm=reference,
        status="evaluated",
        qc_policy=evaluation_policy(template.policy),
        ingested_by=actor,
    )
    session.add(row)
    session.flush()
    ids = sample_ids(session, wells["sample_id"].dropna().unique().tolist())
    rows = []
    for w in wells.itertuples(index=False):
        code = None if pd.isna(w.sample_id) else str(w.sample_id)
        rows.append(
            Well(
                plate_id=row.id,
                position=w.well,
                row=w.row,
                col=int(w.col),
                role=w.role,
                level=None if pd.isna(w.level) else str(w.level),
                nominal=number(w.nominal),
                dilution=float(w.dilution),
                sample_code=code,
                sample_id=ids.get(code) if w.role == "sample" else None,
                raw_values=w.raw_values,
                raw_flags=w.raw_flags,
                od_corrected=number(w.od),
            )
        )
    session.add_all(rows)
    session.flush()
    store_evaluation(session, row, rows, evaluation)
    audit.record(
        session,
        actor,
        "plate.ingest",
        "plate",
        row.id,
        after={"file": src, "sha256": digest, "plate": plate.name, "template": template.name, "verdict": row.verdict},
        detail="; ".join(row.verdict_reasons or []) or None,
    )
    session.flush()
    return row


def evaluation_policy(policy: QcPolicy) -> dict:
    """The QC policy as plain JSON, stored with the plate so its verdict can be explained later."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(policy).items()}


