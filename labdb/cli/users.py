"""`labdb users add|passwd|list`: dashboard accounts (passwords asked without echo, stored as argon2 hashes)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from labdb.cli.common import fail, out, require_db
from labdb.core.config import get_settings
from labdb.core.db import session_scope
from labdb.core.errors import LabdbError

users_app = typer.Typer(help="Dashboard accounts: technician, pi, statistician, admin.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    """A new password: one line of stdin, or typed twice at a prompt that does not echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name (recorded in the audit trail)")],
    role: Annotated[str, typer.Option("--role", help="technician, pi, statistician or admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")] = False,
) -> None:
    """Create a dashboard account; the password is asked twice (never echoed) and stored as an argon2 hash."""
    from labdb.users import add_user

    url = require_db()
    try:
        password = _read_password(password_stdin)
        with session_scope(url) as session:
            add_user(session, name, role, password, get_settings().user)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"account {name.strip()} ({role.strip().lower()}) created", markup=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")] = False,
) -> None:
    """Set a new password for an account."""
    from labdb.users import get_account, set_password

    url = require_db()
    with session_scope(url) as session:
        if get_account(session, name) is None:
            fail(f"no account named '{name}'; create it with `labdb users add {name} --role ROLE`.")
    try:
        password = _read_password(password_stdin)
        with session_scope(url) as session:
            set_password(session, name, password, get_settings().user)
    except LabdbError as exc:
        fail(str(exc))
    out.print(f"password of {name} changed", markup=False)


@users_app.command("list")
def users_list() -> None:
    """Accounts and their roles (never the password hashes)."""
    from labdb.users import list_accounts

    url = require_db()
    with session_scope(url) as session:
        accounts = [(a.name, a.role, a.created_at) for a in list_accounts(session)]
    if not accounts:
        out.print("No accounts yet: create one with `labdb users add NAME --role admin`.")
        return
    table = Table("name", "role", "created")
    for name, role, created in accounts:
        table.add_row(name, role, created.isoformat()[:16] if created else "")
    out.print(table)
