"""Alembic environment: SQLModel metadata, URL from LABDB_DATABASE_URL (or the caller's config)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import labdb.core.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from labdb.core.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run against a live connection (the caller's, or a new one from the configured URL)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or None
    with get_engine(url).connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
