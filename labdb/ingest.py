"""The ingest pipeline: file -> reader -> canonical reads -> template -> corrected OD -> curve -> results.

Everything for one file is added to the caller's session; the caller commits once, so a file that
fails at any step leaves the database exactly as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlmodel import Session, select

from labdb import audit, rawfiles
from labdb.errors import InputError
from labdb.models import CurveFit, KitLot, Plate, Result, Sample, Well
from labdb.readers.canonical import PlateRead
from labdb.readers.registry import read_plates
from labdb.templates import PlateMap, Template, apply_plate_map
from qc.acceptance import PlateEvaluation, QcPolicy, evaluate_plate
from qc.curves import ENGINE_VERSION
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


def ingest_file(
    session: Session,
    path: Path,
    template: Template,
    plate_map: PlateMap | None = None,
    kit_lot: str | None = None,
    operator: str | None = None,
    actor: str = "unknown",
    reader_format: str | None = None,
) -> IngestOutcome:
    """Parse, evaluate and stage one reader export in `session` (the caller commits or rolls back)."""
    path = Path(path)
    src = path.name
    data = rawfiles.read_upload(path, "reader file")
    digest = rawfiles.sha256_of(data)
    existing = session.exec(select(Plate.id, Plate.name, Plate.verdict).where(Plate.file_sha256 == digest)).all()
    if existing:
        return IngestOutcome(src, digest, True, [(pid, name, verdict or "") for pid, name, verdict in existing])
    try:
        plates = read_plates(data, src, reader_format)
        lot = _kit_lot(session, kit_lot, template) if kit_lot else None
        staged = [_evaluate(plate, template, plate_map, lot, src) for plate in plates]
    except SchemaProblems as exc:
        raise InputError(str(exc)) from None
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(src) else f"{src}: {message}") from None

    rawfiles.store(session, data, "reader_export", src, actor)
    rawfiles.store(session, template.content, "template", template.filename, actor)
    if plate_map is not None:
        rawfiles.store(session, plate_map.content, "plate_map", plate_map.filename, actor)
    outcome = IngestOutcome(src, digest, False)
    for index, (plate, wells, evaluation, measure, reference) in enumerate(staged):
        row = _store_plate(
            session, plate, wells, evaluation, index, digest, src, template, plate_map, lot, operator, actor, measure, reference
        )
        outcome.plates.append((row.id, row.name, row.verdict or ""))
    return outcome


def _kit_lot(session: Session, lot: str, template: Template) -> KitLot:
    """The kit lot row, created on first use with the vendor and catalog number from the template's [kit]."""
    row = session.exec(select(KitLot).where(KitLot.lot == lot)).first()
    if row is None:
        row = KitLot(lot=lot, vendor=template.kit.get("vendor"), catalog=template.kit.get("catalog"))
        session.add(row)
        session.flush()
    return row


def _evaluate(
    plate: PlateRead, template: Template, plate_map: PlateMap | None, lot: KitLot | None, src: str
) -> tuple[PlateRead, pd.DataFrame, PlateEvaluation, int | None, int | None]:
    """Template + plate map + corrected OD + curve for one plate read; nothing touches the database."""
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
    where = f"{src} (plate '{plate.name}', template {template.filename})"
    validate(wells[WELL_COLUMNS], PlateWells, where)
    evaluation = evaluate_plate(wells, template.policy)
    validate(evaluation.results, PlateResults, where)
    return plate, wells, evaluation, measure, reference


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
    raw_values, raw_flags, read_flags = [], [], []
    for vals, flgs in zip(values.to_dict("records"), flags.to_dict("records"), strict=True):
        read = {k: str(f) for k, f in flgs.items() if pd.notna(f)}
        raw_flags.append(read)
        raw_values.append({k: (None if pd.isna(vals[k]) else float(vals[k])) for k in read})
        read_flags.append(["not_read"] if not read else [f"{read.get(k, 'missing')}_{k}" for k in used if read.get(k) != "ok"])
    wells = layout.copy()
    wells["raw_values"] = raw_values
    wells["raw_flags"] = raw_flags
    wells["od"] = np.where([bool(f) for f in read_flags], np.nan, od.to_numpy(dtype=float))
    wells["read_flags"] = read_flags
    wells["masked"] = False
    return wells


def _none(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


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
) -> Plate:
    """Add the plate, its wells, its curve fit and its results to the session."""
    reasons = list(evaluation.reasons)
    if reference is None:
        reasons.append("No reference wavelength was subtracted (the file has no reference read).")
    row = Plate(
        file_sha256=digest,
        index_in_file=index,
        name=plate.name,
        original_filename=src,
        reader_format=plate.format,
        instrument=plate.instrument,
        serial=plate.serial,
        software_version=plate.software_version,
        read_time=plate.read_time,
        read_extra=dict(plate.extra) or None,
        n_wells=plate.n_wells,
        operator=operator,
        kit_lot_id=lot.id if lot else None,
        template_name=template.name,
        template_sha256=template.sha256,
        plate_map_sha256=plate_map.sha256 if plate_map else None,
        measure_nm=measure,
        reference_nm=reference,
        status="evaluated",
        verdict=evaluation.verdict,
        verdict_reasons=reasons,
        qc_policy=evaluation_policy(template.policy),
        ingested_by=actor,
    )
    session.add(row)
    session.flush()
    sample_ids = _sample_ids(session, wells["sample_id"].dropna().unique().tolist())
    evaluated = evaluation.wells.set_index("well")
    for w in wells.itertuples(index=False):
        code = None if pd.isna(w.sample_id) else str(w.sample_id)
        e = evaluated.loc[w.well]
        flags = list(w.read_flags) + [f for f in (e.get("flags") or []) if f not in w.read_flags]
        session.add(
            Well(
                plate_id=row.id,
                position=w.well,
                row=w.row,
                col=int(w.col),
                role=w.role,
                level=None if pd.isna(w.level) else str(w.level),
                nominal=_none(w.nominal),
                dilution=float(w.dilution),
                sample_code=code,
                sample_id=sample_ids.get(code) if w.role == "sample" else None,
                raw_values=w.raw_values,
                raw_flags=w.raw_flags,
                od_corrected=_none(w.od),
                conc_pg_ml=_none(e.get("conc_diluted")),
                flags=flags or None,
            )
        )
    fit = evaluation.fit
    summary = fit.summary()
    curve = CurveFit(
        plate_id=row.id,
        model=fit.model,
        weighting=fit.weighting,
        params=summary.get("params"),
        stderr=summary.get("stderr"),
        converged=bool(fit.converged),
        message=fit.message,
        n_points=int(fit.ndata),
        df=int(fit.nfree),
        sse=_none(fit.sse),
        r2=_none(fit.r2),
        aic=_none(fit.aic),
        lloq_pg_ml=_none(evaluation.lloq),
        uloq_pg_ml=_none(evaluation.uloq),
        standards=_records(evaluation.standards),
        engine_version=ENGINE_VERSION,
    )
    session.add(curve)
    session.flush()
    for r in evaluation.results.to_dict("records"):
        code = None if r["role"] != "sample" or pd.isna(r.get("sample_id")) else str(r["sample_id"])
        session.add(
            Result(
                plate_id=row.id,
                curve_fit_id=curve.id,
                role=r["role"],
                name=str(r["name"]),
                sample_id=sample_ids.get(code) if code else None,
                dilution=float(r["dilution"]),
                n_replicates=int(r["n_replicates"]),
                mean_od=_none(r.get("mean_od")),
                sd_od=_none(r.get("sd_od")),
                cv_pct=_none(r.get("cv_pct")),
                conc_pg_ml=_none(r.get("conc")),
                censoring=str(r.get("censoring") or "none"),
                lloq_pg_ml=_none(r.get("lloq")),
                uloq_pg_ml=_none(r.get("uloq")),
                nominal_pg_ml=_none(r.get("nominal")),
                recovery_pct=_none(r.get("recovery_pct")),
                flags=list(r.get("flags") or []) or None,
            )
        )
    audit.record(
        session,
        actor,
        "plate.ingest",
        "plate",
        row.id,
        after={"file": src, "sha256": digest, "plate": plate.name, "template": template.name, "verdict": row.verdict},
        detail="; ".join(reasons) or None,
    )
    session.flush()
    return row


def evaluation_policy(policy: QcPolicy) -> dict:
    """The QC policy as plain JSON, stored with the plate so its verdict can be explained later."""
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(policy).items()}


def _sample_ids(session: Session, codes: list[str]) -> dict[str, int]:
    """Sample code -> sample.id for the codes already in a manifest."""
    if not codes:
        return {}
    rows = session.exec(select(Sample.code, Sample.id).where(Sample.code.in_(codes))).all()
    return {code: sid for code, sid in rows}


def _records(df: pd.DataFrame) -> list[dict]:
    """A DataFrame as JSON-ready records (NaN -> None, numpy scalars -> Python)."""
    out = []
    for record in df.to_dict("records"):
        clean = {}
        for k, v in record.items():
            if isinstance(v, (np.generic,)):
                v = v.item()
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                v = None
            if v is pd.NA:
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out
