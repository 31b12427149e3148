"""What every `labdb` command shares: the consoles, one-line user errors (exit 2) and opening the database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from labdb.core import migrate
from labdb.core.config import get_settings

out = Console(highlight=False)
if not out.is_terminal:
    out = Console(highlight=False, width=200)  # pipes and files get whole table cells
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    """Print a user error on one line and exit 2."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(2)


def database_url() -> str:
    """LABDB_DATABASE_URL (or the default SQLite file)."""
    return get_settings().database_url


def require_db() -> str:
    """The configured database URL, or a one-line error when it does not exist or is not migrated."""
    url = database_url()
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:" and not Path(url.removeprefix("sqlite:///")).exists():
        fail(f"the database {url} does not exist; run `labdb init` first.")
    try:
        revision = migrate.current_revision(url)
    except Exception as exc:  # cannot connect at all
        fail(f"cannot open the database {safe_url(url)}: {' '.join(str(exc).split())[:200]}")
    if revision is None:
        fail(f"the database {safe_url(url)} is not initialised; run `labdb init` first.")
    return url


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
