"""Who is using the dashboard. For now a name typed in the sidebar ("acting as"), recorded as the actor of every
change. This is the seam for real login (issue #8 follow-up: accounts, roles, argon2 password hashes): replace
`current_user` with the logged-in user and let `pages_for` pick the pages a role may see."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from labdb.config import get_settings

ACTOR_KEY = "actor"


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)  # empty until login exists: every page is shown


def identity_sidebar() -> None:
    """The sidebar "acting as" input; defaults to LABDB_USER / the OS user."""
    st.session_state.setdefault(ACTOR_KEY, get_settings().user)
    st.sidebar.text_input("Acting as", key=ACTOR_KEY, help="Your name; recorded in the audit trail with every change.")


def current_user() -> User:
    """The user the pages act for (seam: a real login replaces this)."""
    return User(name=str(st.session_state.get(ACTOR_KEY) or "").strip())


def actor() -> str:
    """The name recorded as actor of changes; empty when nobody is named."""
    return current_user().name


def pages_for(user: User, pages: dict[str, list]) -> dict[str, list]:
    """The pages this user may open (seam: filter by role once roles exist)."""
    return pages
