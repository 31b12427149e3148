"""User accounts: a name, one role, and an argon2 password hash.

Roles and what they may do (the dashboard hides what a role may not do; the actions below refuse it again):

- technician: upload reader files, mask/unmask wells with a reason; never approve or reject a plate.
- pi: everything a technician does, plus approve/reject plates and export.
- statistician: read plates, cohort, audit; export. Never uploads, masks or decides.
- pi, statistician and admin run batch corrections (a new stored version; technicians do not).
- admin: everything.

Every action of the dashboards goes through one of the `*_as(session, name, ...)` functions below: each reads the
account again with `require` inside the action's own session (transaction), then acts with the account's name as actor.

Nobody edits the audit trail (the database refuses UPDATE/DELETE on it). Creating an account and changing a password
are audited, never with the password or its hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, func, select

from labdb.core import audit
from labdb.core.errors import InputError
from labdb.core.models import Plate, UserAccount, utcnow
from qc.vocab import USER_ROLES

if TYPE_CHECKING:
    from labdb.correction import CorrectionOptions, CorrectionOutcome

ROLES = USER_ROLES
MIN_PASSWORD_LENGTH = 8

PERMISSIONS: dict[str, frozenset[str]] = {
    "technician": frozenset({"upload", "mask"}),
    "pi": frozenset({"upload", "mask", "decide", "export", "correct"}),
    "statistician": frozenset({"export", "correct"}),
    "admin": frozenset({"upload", "mask", "decide", "export", "correct", "manage_users"}),
}

_DOING = {
    "upload": "upload reader files",
    "mask": "mask wells",
    "decide": "approve or reject plates",
    "export": "export results",
    "correct": "run batch corrections",
    "manage_users": "manage accounts",
}

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("labdb: no such user")  # verified against for unknown names, so both paths cost the same


class PermissionDenied(InputError):
    """The acting user's role does not allow the action (or the account no longer exists)."""


def can(role: str | None, permission: str) -> bool:
    """Whether `role` grants `permission`."""
    return permission in PERMISSIONS.get(role or "", frozenset())


def _check_role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'; choose one of {', '.join(ROLES)}.")
    return role


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InputError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters.")


def has_accounts(session: Session) -> bool:
    """Whether any account exists (without one, nobody can log in to the dashboard)."""
    return bool(session.exec(select(func.count()).select_from(UserAccount)).one())


def get_account(session: Session, name: str) -> UserAccount | None:
    return session.exec(select(UserAccount).where(UserAccount.name == (name or "").strip())).first()


def list_accounts(session: Session) -> list[UserAccount]:
    return list(session.exec(select(UserAccount).order_by(UserAccount.name)).all())


def add_user(session: Session, name: str, role: str, password: str, actor: str) -> UserAccount:
    """Create an account; the password is stored only as an argon2 hash."""
    name = (name or "").strip()
    if not name or len(name) > 128 or any(c.isspace() and c != " " for c in name):
        raise InputError("an account name needs 1 to 128 characters and no tabs or line breaks.")
    role = _check_role(role)
    _check_password(password)
    if get_account(session, name) is not None:
        raise InputError(f"an account named '{name}' already exists; change its password with `labdb users passwd {name}`.")
    account = UserAccount(name=name, role=role, password_hash=_hasher.hash(password))
    session.add(account)
    session.flush()
    audit.record(session, actor, "user.add", "user_account", account.id, after={"name": name, "role": role})
    return account


def set_password(session: Session, name: str, password: str, actor: str) -> UserAccount:
    """Replace an account's password."""
    account = get_account(session, name)
    if account is None:
        raise InputError(f"no account named '{name}'; create it with `labdb users add {name} --role ROLE`.")
    _check_password(password)
    account.password_hash = _hasher.hash(password)
    account.password_changed_at = utcnow()
    session.add(account)
    audit.record(session, actor, "user.passwd", "user_account", account.id, detail=f"password of {account.name} changed")
    return account


def authenticate(session: Session, name: str, password: str) -> UserAccount | None:
    """The account if `password` is right, else None (unknown name and wrong password look the same)."""
    account = get_account(session, name)
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if account is None:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
        session.add(account)
    return account


def require(session: Session, name: str, permission: str) -> UserAccount:
    """The account of `name`, read again from the database, if its role grants `permission`; else PermissionDenied."""
    account = get_account(session, name)
    if account is None:
        raise PermissionDenied(f"no account named '{name}'; log in again.")
    if not can(account.role, permission):
        raise PermissionDenied(f"{account.name} is a {account.role}; a {account.role} may not {_DOING.get(permission, permission)}.")
    return account


def decide_as(session: Session, name: str, ids: Sequence[int], decision: str, reason: str | None) -> list[Plate]:
    """Approve or reject plates as the logged-in user: the role is checked right before labdb.review.decide,
    and the account name is recorded as the decider."""
    from labdb.review import decide

    account = require(session, name, "decide")
    return decide(session, list(ids), decision, account.name, reason)


def mask_as(session: Session, name: str, plate_id: int, wells: Sequence[str], mask: bool, reason: str) -> Plate:
    """Mask or unmask wells (and refit) as the logged-in user, after checking the role."""
    from labdb.masking import set_masks

    account = require(session, name, "mask")
    return set_masks(session, plate_id, list(wells), mask, account.name, reason)


def correct_as(session: Session, name: str, options: CorrectionOptions) -> CorrectionOutcome:
    """Run a batch correction (labdb.correction.run_correction: a new stored version, or the identical stored one) as
    the logged-in user, after checking the role; the account name is recorded as the run's creator."""
    from labdb.correction import run_correction

    account = require(session, name, "correct")
    return run_correction(session, options, account.name)


def close_guide_sets_as(session: Session, name: str, lot: str) -> int:
    """Close the open Westgard guide sets of kit lot `lot` as the logged-in user (a PI or admin: permission "decide"),
    record it in the audit trail and re-run the Westgard rules; returns how many guide sets were closed."""
    from labdb import runqc

    account = require(session, name, "decide")
    return runqc.close_and_rejudge(session, lot, account.name)
