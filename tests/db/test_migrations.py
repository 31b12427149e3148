"""Migrations are the only way tables exist, so they must agree with the models on every backend."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import labdb.core.models  # noqa: F401
from labdb.core.db import get_engine
from labdb.core.migrate import current_revision, head_revision


def test_models_and_migrations_agree(db_url):
    """After `upgrade head`, autogenerate finds no difference between the database and the models."""
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    assert current_revision(db_url) == head_revision()


def test_every_model_table_exists(db_url):
    tables = set(sa.inspect(get_engine(db_url)).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


@pytest.mark.parametrize("table", ["audit_event", "raw_file"])
def test_append_only_tables_refuse_update_and_delete(db_url, table):
    """The database itself refuses to change or delete audit events and uploaded files."""
    engine = get_engine(db_url)
    with engine.begin() as conn:
        if table == "audit_event":
            conn.execute(sa.text("INSERT INTO audit_event (at, actor, action, entity) VALUES (CURRENT_TIMESTAMP, 'a', 'test', 'x')"))
        else:
            conn.execute(
                sa.text(
                    "INSERT INTO raw_file (sha256, kind, original_name, size_bytes, content, stored_at, stored_by) "
                    "VALUES ('ab', 'manifest', 'm.csv', 1, :c, CURRENT_TIMESTAMP, 'a')"
                ),
                {"c": b"x"},
            )
    for statement in (
        f"UPDATE {table} SET stored_by = 'b'" if table == "raw_file" else f"UPDATE {table} SET actor = 'b'",
        f"DELETE FROM {table}",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 1
