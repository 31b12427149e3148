"""`labdb init`, `labdb demo` and `labdb dashboard`: set up the database, load a demo study, serve the app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labdb.cli.common import database_url, fail, out, require_db, safe_url
from labdb.core import migrate
from labdb.core.errors import LabdbError


def init() -> None:
    """Create or upgrade the database schema (alembic upgrade head)."""
    url = database_url()
    try:
        migrate.upgrade(url)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"database {safe_url(url)} is at revision {migrate.current_revision(url)}")


def demo(
    plates: Annotated[int, typer.Option("--plates", help="Number of plates")] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same study)")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the generated files")] = Path("demo_study"),
) -> None:
    """Simulate a realistic BDNF study, write its files and ingest them like a technician would."""
    from labdb.demo.run import run_demo

    url = require_db()
    try:
        summary = run_demo(url, out_dir, plates, seed, console=out)
    except LabdbError as exc:
        fail(str(exc))
    out.print(str(summary))
    created = [a for a in summary.accounts if a.password is not None]
    existing = [a for a in summary.accounts if a.password is None]
    if created:
        out.print("demo accounts for the dashboard (passwords shown only this once; change one with `labdb users passwd NAME`):")
        table = Table("name", "role", "password")
        for a in created:
            table.add_row(a.name, a.role, a.password)
        out.print(table)
    if existing:
        out.print(
            "demo accounts already exist, passwords unchanged: "
            + ", ".join(f"{a.name} ({a.role})" for a in existing)
            + "; change one with `labdb users passwd NAME`.",
            markup=False,
        )


def dashboard(port: Annotated[int, typer.Option(help="Port")] = 8501) -> None:
    """Start the Streamlit QC dashboard."""
    import importlib.util

    spec = importlib.util.find_spec("dashboards")  # located, never imported: nothing imports dashboards
    if spec is None or spec.origin is None:
        fail("the dashboards package is not installed next to labdb.")
    app_file = Path(spec.origin).with_name("app.py")
    env = dict(os.environ, LABDB_DATABASE_URL=require_db())
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))
