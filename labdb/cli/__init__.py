"""The `labdb` command line: one module per command group; user errors print one line to stderr and exit 2.

common.py holds what every command shares (consoles, `fail`, opening the database); each other module holds one
group: files (ingest, inspect), samples (samples, sites), plates, qc, batch, results (export, worklist), users,
system (init, demo, dashboard). This file only assembles them into the `labdb` app.
"""

from __future__ import annotations

import typer

from labdb.cli import files, plates, qc, results, samples, system, users
from labdb.cli.batch import batch_app

app = typer.Typer(
    help="BDNF ELISA lab system: ingest plate-reader files, review QC, export results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(system.init)
app.command()(files.ingest)
app.command()(files.inspect)
app.add_typer(samples.samples_app, name="samples")
app.add_typer(plates.plates_app, name="plates")
app.add_typer(samples.sites_app, name="sites")
app.add_typer(qc.qc_app, name="qc")
app.add_typer(users.users_app, name="users")
app.add_typer(batch_app, name="batch")
app.command()(results.export)
app.command()(results.worklist)
app.command()(system.demo)
app.command()(system.dashboard)


def main() -> None:
    app()
