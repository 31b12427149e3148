"""SQLModel tables. Alembic migrations in migrations/ are the only way these tables are created or changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from qc.vocab import (
    CENSORING,
    CORRECTION_METHODS,
    GUIDE_SET_SOURCES,
    HEMISPHERES,
    PLATE_STATUSES,
    RAW_FILE_KINDS,
    RESULT_ROLES,
    ROLES,
    SAMPLE_TYPES,
    SEXES,
    USER_ROLES,
    VERDICTS,
    WESTGARD_SEVERITIES,
)

# Constraint names are explicit so migrations are identical on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Columns that hold a word of the vocabulary (qc.vocab): the database refuses any other word (migration 0006: CHECK
# constraints on PostgreSQL, triggers on SQLite). tests/test_vocab.py holds this, the migrations and qc.vocab together.
VOCABULARY: dict[tuple[str, str], tuple[str, ...]] = {
    ("raw_file", "kind"): RAW_FILE_KINDS,
    ("site", "hemisphere"): HEMISPHERES,
    ("subject", "sex"): SEXES,
    ("sample", "sample_type"): SAMPLE_TYPES,
    ("plate", "status"): PLATE_STATUSES,
    ("plate", "verdict"): VERDICTS,
    ("well", "role"): ROLES,
    ("result", "role"): RESULT_ROLES,
    ("result", "censoring"): CENSORING,
    ("guide_set", "source"): GUIDE_SET_SOURCES,
    ("qc_violation", "severity"): WESTGARD_SEVERITIES,
    ("user_account", "role"): USER_ROLES,
    ("correction_run", "method"): CORRECTION_METHODS,
}


def one_of(table: str, column: str) -> sa.CheckConstraint:
    """CHECK (column IN (the vocabulary's words)), named ck_<table>_<column>; NULL passes where the column allows it."""
    words = ", ".join("'" + w.replace("'", "''") + "'" for w in VOCABULARY[(table, column)])
    return sa.CheckConstraint(f"{column} IN ({words})", name=column)


def checks(table: str) -> tuple[sa.CheckConstraint, ...]:
    """The vocabulary constraints of one table, for its __table_args__."""
    return tuple(one_of(t, c) for t, c in VOCABULARY if t == table)


def utcnow() -> datetime:
    """Timestamps are stored in UTC."""
    return datetime.now(UTC)


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON, nullable=nullable))


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index))


class RawFile(SQLModel, table=True):
    """Every uploaded file (reader export, template, plate map, manifest), byte for byte, keyed by SHA-256."""

    __tablename__ = "raw_file"
    __table_args__ = checks("raw_file")
    sha256: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    original_name: str = Field(max_length=512)
    size_bytes: int
    content: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    stored_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    stored_by: str = Field(max_length=128)


class Site(SQLModel, table=True):
    """A collection site; its hemisphere decides the season of a collection date."""

    __table_args__ = checks("site")

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str | None = Field(default=None, max_length=256)
    hemisphere: str = Field(default="north", max_length=5)


class Subject(SQLModel, table=True):
    """A study participant."""

    __table_args__ = checks("subject")

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    site_id: int | None = Field(default=None, foreign_key="site.id", index=True)
    sex: str | None = Field(default=None, max_length=8)


class Sample(SQLModel, table=True):
    """One tube: its pre-analytical and clinical covariates (docs/domain.md section 8)."""

    __table_args__ = checks("sample")

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    sample_type: str = Field(max_length=32, index=True)
    collected_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=False))
    season: str | None = Field(default=None, max_length=8)
    visit: str | None = Field(default=None, max_length=64)
    age: float | None = None
    platelet_count: float | None = None
    platelet_poor: bool | None = None
    clotting_minutes: float | None = None
    minutes_to_centrifugation: float | None = None
    centrifuge_g: float | None = None
    storage_days: float | None = None
    freeze_thaw_cycles: int | None = None
    fasting: bool | None = None
    exercise_within_24h: bool | None = None
    antidepressant: bool | None = None
    diagnosis: str | None = Field(default=None, max_length=128)
    smoking: bool | None = None
    notes: str | None = Field(default=None, sa_type=sa.Text)
    extra: dict | None = _json()
    manifest_sha256: str | None = Field(default=None, foreign_key="raw_file.sha256", max_length=64)


class KitLot(SQLModel, table=True):
    """A kit lot; lot-specific top standard and control nominals override the template's."""

    __tablename__ = "kit_lot"
    id: int | None = Field(default=None, primary_key=True)
    lot: str = Field(max_length=64, unique=True)
    vendor: str | None = Field(default=None, max_length=128)
    catalog: str | None = Field(default=None, max_length=64)
    top_standard_pg_ml: float | None = None
    control_nominals: dict | None = _json()
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Plate(SQLModel, table=True):
    """One physical plate from one uploaded file, with its template, status and verdict."""

    __table_args__ = (sa.UniqueConstraint("file_sha256", "index_in_file", name="uq_plate_file_index"), *checks("plate"))
    id: int | None = Field(default=None, primary_key=True)
    file_sha256: str = Field(foreign_key="raw_file.sha256", max_length=64, index=True)
    index_in_file: int = 0
    name: str = Field(max_length=256)
    original_filename: str = Field(max_length=512)
    reader_format: str = Field(max_length=64)
    instrument: str | None = Field(default=None, max_length=128)
    serial: str | None = Field(default=None, max_length=128)
    software_version: str | None = Field(default=None, max_length=128)
    read_time: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=False), index=True)
    read_extra: dict | None = _json()
    n_wells: int = 96
    operator: str | None = Field(default=None, max_length=128, index=True)
    kit_lot_id: int | None = Field(default=None, foreign_key="kit_lot.id", index=True)
    template_name: str = Field(max_length=256)
    template_sha256: str = Field(foreign_key="raw_file.sha256", max_length=64)
    plate_map_sha256: str | None = Field(default=None, foreign_key="raw_file.sha256", max_length=64)
    measure_nm: int | None = None
    reference_nm: int | None = None
    status: str = Field(default="uploaded", max_length=16, index=True)
    verdict: str | None = Field(default=None, max_length=8)
    verdict_reasons: list | None = _json()
    qc_policy: dict | None = _json()
    ingested_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    ingested_by: str = Field(max_length=128)
    reviewed_by: str | None = Field(default=None, max_length=128)
    reviewed_at: datetime | None = _ts()
    review_comment: str | None = Field(default=None, sa_type=sa.Text)


class Well(SQLModel, table=True):
    """One well: layout, raw value per wavelength, corrected OD, flags and mask (raw values never overwritten)."""

    __table_args__ = (sa.UniqueConstraint("plate_id", "position", name="uq_well_plate_position"), *checks("well"))
    id: int | None = Field(default=None, primary_key=True)
    plate_id: int = Field(foreign_key="plate.id", index=True)
    position: str = Field(max_length=4)
    row: str = Field(max_length=1)
    col: int
    role: str = Field(max_length=16)
    level: str | None = Field(default=None, max_length=64)
    nominal: float | None = None
    dilution: float = 1.0
    sample_code: str | None = Field(default=None, max_length=64, index=True)
    sample_id: int | None = Field(default=None, foreign_key="sample.id", index=True)
    raw_values: dict | None = _json()
    raw_flags: dict | None = _json()
    raw_markers: dict | None = _json()  # the file's text of each read that was not a plain number ("*0.356*", "Path?")
    od_corrected: float | None = None
    conc_pg_ml: float | None = None
    flags: list | None = _json()
    masked: bool = False
    mask_reason: str | None = Field(default=None, sa_type=sa.Text)
    masked_by: str | None = Field(default=None, max_length=128)
    masked_at: datetime | None = _ts()


class CurveFit(SQLModel, table=True):
    """A standard-curve fit of one plate; a refit adds a row and marks it current."""

    __tablename__ = "curve_fit"
    id: int | None = Field(default=None, primary_key=True)
    plate_id: int = Field(foreign_key="plate.id", index=True)
    is_current: bool = True
    model: str = Field(max_length=8)
    weighting: str = Field(max_length=8)
    params: dict | None = _json()
    stderr: dict | None = _json()
    converged: bool
    message: str | None = Field(default=None, sa_type=sa.Text)
    n_points: int
    df: int
    sse: float | None = None
    r2: float | None = None
    aic: float | None = None
    lloq_pg_ml: float | None = None
    uloq_pg_ml: float | None = None
    standards: list | None = _json()
    engine_version: str = Field(max_length=64)
    fitted_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Result(SQLModel, table=True):
    """One replicate group (sample, control or pool) on one plate: mean OD, concentration, CV, censoring."""

    __table_args__ = checks("result")

    id: int | None = Field(default=None, primary_key=True)
    plate_id: int = Field(foreign_key="plate.id", index=True)
    curve_fit_id: int = Field(foreign_key="curve_fit.id", index=True)
    role: str = Field(max_length=16)
    name: str = Field(max_length=64, index=True)
    sample_id: int | None = Field(default=None, foreign_key="sample.id", index=True)
    dilution: float = 1.0
    n_replicates: int
    mean_od: float | None = None
    sd_od: float | None = None
    cv_pct: float | None = None
    conc_pg_ml: float | None = None
    censoring: str = Field(default="none", max_length=16)
    lloq_pg_ml: float | None = None
    uloq_pg_ml: float | None = None
    nominal_pg_ml: float | None = None
    recovery_pct: float | None = None
    flags: list | None = _json()


class AuditEvent(SQLModel, table=True):
    """Append-only trail: who did what, when, to which row, with the values before and after."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    actor: str = Field(max_length=128, index=True)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=128)
    before: dict | None = _json()
    after: dict | None = _json()
    detail: str | None = Field(default=None, sa_type=sa.Text)


class QcGuideSet(SQLModel, table=True):
    """Westgard targets of one metric per kit lot (and control level / pool): the first N approved plates
    ('first_n', recomputed by labdb.runqc.reevaluate while open) or values a PI entered ('entered').
    A closed guide set judges the plates read up to ``applies_until``; the next one starts after it."""

    __tablename__ = "guide_set"
    __table_args__ = checks("guide_set")
    id: int | None = Field(default=None, primary_key=True)
    metric: str = Field(max_length=32, index=True)
    kit_lot_id: int = Field(foreign_key="kit_lot.id", index=True)
    level: str | None = Field(default=None, max_length=64)
    mean: float
    sd: float
    n: int
    source: str = Field(max_length=8)
    plate_ids: list | None = _json()
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = _ts()
    closed_by: str | None = Field(default=None, max_length=128)
    applies_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=False))


class QcViolation(SQLModel, table=True):
    """A Westgard rule violation (derived data: labdb.runqc.reevaluate replaces them all).
    ``plate_id`` is the run that completed the violation; ``plate_ids``/``values`` cover the whole window."""

    __tablename__ = "qc_violation"
    __table_args__ = checks("qc_violation")
    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=8)
    severity: str = Field(max_length=8)
    metric: str = Field(max_length=32)
    kit_lot_id: int = Field(foreign_key="kit_lot.id", index=True)
    level: str | None = Field(default=None, max_length=130)
    plate_id: int = Field(foreign_key="plate.id", index=True)
    plate_ids: list | None = _json()
    values: list | None = _json()
    z: list | None = _json()
    detected_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class UserAccount(SQLModel, table=True):
    """A person who logs in to the dashboard: a unique name, one role and an argon2 password hash (never the password)."""

    __tablename__ = "user_account"
    __table_args__ = checks("user_account")
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class CorrectionRun(SQLModel, table=True):
    """One versioned batch-correction run (qc.batch): method, options, fitted parameters, input plates, who and when,
    the design check and the diagnostics. Its id is the version exports name. Append-only, like its values."""

    __tablename__ = "correction_run"
    __table_args__ = checks("correction_run")
    id: int | None = Field(default=None, primary_key=True)
    method: str = Field(max_length=16)
    options: dict | None = _json()
    fitted: dict | None = _json()
    plate_ids: list | None = _json()
    n_plates: int
    n_values: int
    inputs_sha256: str = Field(max_length=64, index=True)
    override: bool = False
    override_reason: str | None = Field(default=None, sa_type=sa.Text)
    warnings: list | None = _json()
    diagnostics: dict | None = _json()
    design: list | None = _json()
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    labdb_version: str = Field(max_length=32)


class CorrectionShift(SQLModel, table=True):
    """A run's shift of one plate (natural log, subtracted) with its 95% CI, and the check pool on that plate before
    and after (geometric mean, pg/mL) - the independent proof per plate."""

    __tablename__ = "correction_shift"
    __table_args__ = (sa.UniqueConstraint("run_id", "plate_id", name="uq_correction_shift_run_plate"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="correction_run.id")
    plate_id: int = Field(foreign_key="plate.id", index=True)
    kit_lot: str | None = Field(default=None, max_length=64)
    shift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    check_before_pg_ml: float | None = None
    check_after_pg_ml: float | None = None


class CorrectedResult(SQLModel, table=True):
    """A sample result's batch-corrected concentration from one run, stored beside the raw result (never over it)."""

    __tablename__ = "corrected_result"
    __table_args__ = (sa.UniqueConstraint("run_id", "result_id", name="uq_corrected_result_run_result"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="correction_run.id")
    result_id: int = Field(foreign_key="result.id", index=True)
    shift: float | None = None
    corrected_pg_ml: float | None = None
