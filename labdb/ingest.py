"""The one ingest driver: (name, bytes) uploads -> reader -> canonical reads -> layout -> corrected OD -> curve -> results.

Every entry point (the CLI, the dashboard's upload and its preview, the demo) hands `Upload`s and one
`IngestRequest` to `ingest` (store) or `preview` (stage and evaluate, store nothing). Files are staged
(read, checked, laid out) one by one, the first curves of a whole batch are fitted together (qc.batchfit),
and each file is stored in its own transaction, so a file that fails at any step leaves the database
exactly as it was and never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePath

import pandas as pd
from sqlmodel import Session, select

from labdb import kitlots, read_choice, runqc, users
from labdb.core import audit, rawfiles
from labdb.core.db import session_scope
from labdb.core.errors import InputError, LabdbError
from labdb.core.models import KitLot, Plate, Well
from labdb.fits import number, sample_ids, store_evaluation
from labdb.readers.canonical import PlateRead
from labdb.readers.registry import read_plates
from labdb.templates import PlateMap, Template, apply_plate_map
from qc.acceptance import PlateEvaluation, QcPolicy, evaluate_plates
from qc.layout import apply_lot_nominals, corrected_od
from qc.schemas import PlateResults, PlateWells, SchemaProblems, validate

WELL_COLUMNS = ["well", "role", "level", "nominal", "dilution", "sample_id", "od", "masked"]


@dataclass(frozen=True)
class Upload:
    """One file as the user handed it in: its name (as given; messages use its base name) and its bytes, or the
    problem that kept it from being read at all (missing, empty, too large)."""

    name: str
    data: bytes = b""
    problem: InputError | None = None

    @property
    def src(self) -> str:
        """The file's base name (any folder, also a Windows one from a browser, removed)."""
        return PurePath(self.name.replace("\\", "/")).name or "upload"

    @classmethod
    def from_path(cls, path: str | Path) -> Upload:
        """The bytes of a file on disk (the CLI, the demo); a file that cannot be read becomes a problem, not an error."""
        try:
            return cls(str(path), rawfiles.read_upload(Path(path), "reader file"))
        except InputError as exc:
            return cls(str(path), problem=exc)


@dataclass(frozen=True)
class IngestRequest:
    """What the user chose for a batch of files. `read_time`: when the plates were read, for files that do not say
    (a generic grid); a time in the file always wins. `actor`: who ingests, recorded in the audit trail.
    `check_role`: `actor` is a dashboard account whose role is read again in each file's transaction, right before
    anything is stored, and must allow uploads (the command line is not role-checked)."""

    template: Template
    plate_map: PlateMap | None = None
    kit_lot: str | None = None
    operator: str | None = None
    read_time: datetime | None = None
    actor: str = "unknown"
    reader_format: str | None = None
    check_role: bool = False


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
    od_choice: str = ""  # how the corrected OD was made, in words (od_choice)
    evaluation: PlateEvaluation | None = None


@dataclass
class StagedFile:
    """A parsed reader file waiting for evaluation and storage (or a duplicate of a stored one)."""

    upload: Upload
    digest: str
    plates: list[StagedPlate] = field(default_factory=list)
    duplicate: IngestOutcome | None = None
    error: InputError | None = None  # set by evaluate_staged when the results fail their schema

    @property
    def src(self) -> str:
        return self.upload.src


def ingest(
    url: str, uploads: Iterable[Upload], request: IngestRequest, batch: int = 250
) -> Iterator[tuple[Upload, IngestOutcome | LabdbError]]:
    """Ingest many files, one transaction each, fitting the curves of up to `batch` files together.

    Yields (upload, outcome) or (upload, the error that kept that file out), in order; a bad file never stops the
    others. When any plate was stored, the Westgard rules are re-run at the end (`rejudge`).
    """
    stored = False
    pending = iter(uploads)
    while chunk := [u for _, u in zip(range(batch), pending)]:
        for upload, staged in _stage_all(url, chunk, request):
            if isinstance(staged, LabdbError):
                yield upload, staged
                continue
            try:
                with session_scope(url) as session:
                    outcome = store_staged(session, staged, request)
            except LabdbError as exc:
                yield upload, exc
            else:
                stored = stored or not outcome.duplicate
                yield upload, outcome
    if stored:
        rejudge(url, request.actor)


def preview(url: str, uploads: Iterable[Upload], request: IngestRequest) -> list[tuple[Upload, StagedFile | LabdbError]]:
    """Stage and evaluate every file exactly as `ingest` would, storing nothing (reads the database for duplicates
    and the kit lot). A staged file's `error` is set when its results fail their schema."""
    return _stage_all(url, list(uploads), request)


def ingest_upload(session: Session, upload: Upload, request: IngestRequest) -> IngestOutcome:
    """Stage, evaluate and store one file in `session` (the caller commits or rolls back)."""
    if upload.problem is not None:
        raise upload.problem
    staged = stage_file(session, upload, request)
    evaluate_staged([staged], request.template)
    return store_staged(session, staged, request)


def _stage_all(url: str, uploads: list[Upload], request: IngestRequest) -> list[tuple[Upload, StagedFile | LabdbError]]:
    """Stage each file in a read-only session of its own, then evaluate all staged plates in one batch."""
    out: list[tuple[Upload, StagedFile | LabdbError]] = []
    for upload in uploads:
        try:
            if upload.problem is not None:
                raise upload.problem
            with session_scope(url) as session:
                out.append((upload, stage_file(session, upload, request)))
        except LabdbError as exc:
            out.append((upload, exc))
    evaluate_staged([s for _, s in out if isinstance(s, StagedFile)], request.template)
    return out


def stage_file(session: Session, upload: Upload, request: IngestRequest) -> StagedFile:
    """Read, check and lay out one file (reads the database, never writes it); InputError names the file."""
    src = upload.src
    digest = rawfiles.sha256_of(upload.data)
    staged = StagedFile(upload, digest)
    staged.duplicate = _stored(session, digest, src)
    if staged.duplicate is not None:
        return staged
    kit_lot = request.kit_lot
    lot = session.exec(select(KitLot).where(KitLot.lot == kit_lot)).first() if kit_lot else None
    with _named(src):
        for plate in read_plates(upload.data, src, request.reader_format):
            staged.plates.append(_layout(plate, request.template, request.plate_map, lot, src))
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


def store_staged(session: Session, staged: StagedFile, request: IngestRequest) -> IngestOutcome:
    """Add an evaluated file to `session` (the caller commits once per file)."""
    if staged.duplicate is not None:
        return staged.duplicate
    if staged.error is not None:
        raise staged.error
    if request.check_role:
        users.require(session, request.actor, "upload")
    meanwhile = _stored(session, staged.digest, staged.src)
    if meanwhile is not None:  # stored by someone else since it was staged
        return meanwhile
    template, plate_map, actor = request.template, request.plate_map, request.actor
    lot = kitlots.get_or_create(session, request.kit_lot, template.kit) if request.kit_lot else None
    rawfiles.store(session, staged.upload.data, "reader_export", staged.src, actor)
    rawfiles.store(session, template.content, "template", template.filename, actor)
    if plate_map is not None:
        rawfiles.store(session, plate_map.content, "plate_map", plate_map.filename, actor)
    outcome = IngestOutcome(staged.src, staged.digest, False)
    for index, p in enumerate(staged.plates):
        row = _store_plate(session, staged, index, p, request, lot)
        outcome.plates.append((row.id, row.name, row.verdict or ""))
    return outcome


def _stored(session: Session, digest: str, src: str) -> IngestOutcome | None:
    """The outcome 'already stored' when plates of a file with this SHA-256 are in the database, else None."""
    existing = session.exec(select(Plate.id, Plate.name, Plate.verdict).where(Plate.file_sha256 == digest)).all()
    if not existing:
        return None
    return IngestOutcome(src, digest, True, [(pid, name, verdict or "") for pid, name, verdict in existing])


def _results_valid(results: list[pd.DataFrame]) -> bool:
    """Whether every plate's results pass PlateResults, checked together (the schema's checks are row by row, so the
    concatenation fails exactly when one plate would; one Pandera call instead of one per plate)."""
    try:
        validate(pd.concat(results, ignore_index=True), PlateResults, "results")
    except SchemaProblems:
        return False
    return True


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


def _layout(plate: PlateRead, template: Template, plate_map: PlateMap | None, lot: KitLot | None, src: str) -> StagedPlate:
    """Template + plate map + corrected OD for one plate read; nothing touches the database."""
    if plate.n_wells != template.plate_size:
        raise InputError(
            f"{src}: plate '{plate.name}' has {plate.n_wells} wells but template {template.filename} "
            f"is for {template.plate_size}-well plates."
        )
    layout = apply_plate_map(template, plate_map, (plate.name, Path(src).stem), src)
    if lot is not None:
        layout = apply_lot_nominals(layout, lot.top_standard_pg_ml, lot.control_nominals)
    measure, reference = read_choice.wavelengths(plate, template, src)
    choice = read_choice.od_choice(plate, measure, reference, template)
    wells = corrected_od(layout, plate.reads, measure, reference)
    unread = wells[wells["role"].ne("empty") & wells["read_flags"].map(lambda f: "not_read" in f)]
    if len(unread):
        raise InputError(
            f"{src}: plate '{plate.name}' has no {read_choice.nm([measure])} read for well(s) {', '.join(unread['well'][:8])}"
            + (f" and {len(unread) - 8} more" if len(unread) > 8 else "")
            + f", which template {template.filename} uses; check the file or use a template for the wells read."
        )
    validate(wells[WELL_COLUMNS], PlateWells, f"{src} (plate '{plate.name}', template {template.filename})")
    return StagedPlate(plate, wells, measure, reference, choice)


def _store_plate(
    session: Session, staged: StagedFile, index: int, staged_plate: StagedPlate, request: IngestRequest, lot: KitLot | None
) -> Plate:
    """Add the plate, its wells (raw values per wavelength), its curve fit and its results to the session."""
    plate, wells, evaluation = staged_plate.read, staged_plate.wells, staged_plate.evaluation
    template, actor, read_time = request.template, request.actor, request.read_time
    digest, src = staged.digest, staged.src
    extra = dict(plate.extra)
    extra["od_reads"] = staged_plate.od_choice
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
        operator=request.operator,
        kit_lot_id=lot.id if lot else None,
        template_name=template.name,
        template_sha256=template.sha256,
        plate_map_sha256=request.plate_map.sha256 if request.plate_map else None,
        measure_nm=staged_plate.measure,
        reference_nm=staged_plate.reference,
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
                raw_markers=w.raw_markers or None,
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
