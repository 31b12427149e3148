"""Shared test fixtures: real reader exports from ../shared, and databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLATE_EXPORTS = REPO.parent / "shared" / "fixtures" / "plate_exports"
PLATE_EXPORTS_MORE = REPO.parent / "shared" / "fixtures" / "plate_exports_more"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def plate_exports() -> Path:
    """The folder of real reader exports; skipped when absent, a failure when CI=true."""
    if not PLATE_EXPORTS.is_dir():
        if _in_ci():
            pytest.fail(f"CI=true but the real reader exports are missing: {PLATE_EXPORTS}")
        pytest.skip(f"real reader exports not found at {PLATE_EXPORTS} (clone ../shared beside the repo)")
    return PLATE_EXPORTS


@pytest.fixture(scope="session")
def plate_exports_more() -> Path:
    """More real exports, each with allotropy's reading beside it (FILE.allotropy.json); skipped when absent, a
    failure when CI=true."""
    if not PLATE_EXPORTS_MORE.is_dir():
        if _in_ci():
            pytest.fail(f"CI=true but the real reader exports are missing: {PLATE_EXPORTS_MORE}")
        pytest.skip(f"real reader exports not found at {PLATE_EXPORTS_MORE} (clone ../shared beside the repo)")
    return PLATE_EXPORTS_MORE


# --- databases -------------------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("LABDB_TEST_PG_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_url() -> str:
    if not PG_ADMIN_URL:
        if _in_ci():
            pytest.fail("CI=true but LABDB_TEST_PG_URL is not set: the PostgreSQL test server did not start")
        pytest.skip("PostgreSQL tests need LABDB_TEST_PG_URL (make test starts a server and sets it)")
    return PG_ADMIN_URL


def _pg_execute(sql: str) -> None:
    from sqlalchemy import create_engine, text

    from labdb.core.db import normalise_url

    engine = create_engine(normalise_url(_pg_admin_url()), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template_db() -> str:
    """A migrated PostgreSQL database used as the template of every test database this session."""
    from sqlalchemy.engine import make_url

    from labdb.core.db import engine_for
    from labdb.core.migrate import upgrade

    name = f"labdb_tpl_{os.getpid()}"
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}"')
    _pg_execute(f'CREATE DATABASE "{name}"')
    url = make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine_for(url).dispose()
    yield name
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}"')


_counter = iter(range(1_000_000))


def fresh_database(backend: str, tmp_path: Path, request) -> str:
    """A new, migrated database of the given backend; removed after the test."""
    from sqlalchemy.engine import make_url

    from labdb.core.db import engine_for
    from labdb.core.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'labdb.sqlite'}"
        upgrade(url)
        return url
    template = request.getfixturevalue("pg_template_db")
    name = f"labdb_test_{os.getpid()}_{next(_counter)}"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        engine_for(url).dispose()
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return url


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh migrated database on SQLite and on PostgreSQL; LABDB_DATABASE_URL points at it."""
    url = fresh_database(request.param, tmp_path, request)
    monkeypatch.setenv("LABDB_DATABASE_URL", url)
    return url


# --- simulated study files (written by the same code `labdb demo` uses) ------------------------


@pytest.fixture(scope="session")
def small_study(tmp_path_factory):
    """A 4-plate simulated study written as real reader files, a plate map, a manifest and the template."""
    from labdb.demo.run import write_study_files
    from labdb.demo.simulate import simulate_study

    study = simulate_study(n_plates=4, seed=3)
    paths = write_study_files(study, tmp_path_factory.mktemp("study"))
    return study, paths


def table_counts(url: str) -> dict[str, int]:
    """Row count of every table (the fingerprint used to prove a failed ingest changed nothing)."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from labdb.core.db import get_engine

    with get_engine(url).connect() as conn:
        counts = {t: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{t}"')).scalar() for t in SQLModel.metadata.tables}
        counts["alembic_version"] = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return counts


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say plainly how many tests ran against each database backend (the PostgreSQL run must be visible)."""
    for backend in BACKENDS:
        counts = {}
        for outcome in ("passed", "failed", "skipped", "error"):
            counts[outcome] = sum(f"[{backend}" in r.nodeid for r in terminalreporter.stats.get(outcome, []))
        if any(counts.values()):
            where = f" on {PG_ADMIN_URL.split('@')[-1]}" if backend == "postgresql" and PG_ADMIN_URL else ""
            terminalreporter.write_line(
                f"{backend} tests{where}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed, {counts['skipped']} skipped"
            )
