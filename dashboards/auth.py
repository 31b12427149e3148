"""Who is using the dashboard: a login (name + password, checked against the argon2 hash in `user_account`), kept in
st.session_state as the name and role. `pages_for` picks the pages a role may open. Actions do not check roles here:
pages call a labdb.users `*_as(session, current_user().name, ...)` function, which reads the role again in the
database inside the action's transaction. Without any account nobody gets in: the login page says how to make one."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from labdb import users
from labdb.core.db import session_scope

SESSION_KEY = "auth_user"  # {"name": ..., "role": ...} once logged in

# Page (url path) -> roles that may open it. Technicians work the plates; statisticians read and export;
# a PI sees everything; admin too.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "overview": frozenset({"technician", "pi", "statistician", "admin"}),
    "upload": frozenset({"technician", "pi", "admin"}),
    "review": frozenset({"technician", "pi", "admin"}),
    "worklist": frozenset({"technician", "pi", "admin"}),
    "cohort": frozenset({"pi", "statistician", "admin"}),
    "export": frozenset({"pi", "statistician", "admin"}),
    "audit": frozenset({"pi", "statistician", "admin"}),
    "runqc": frozenset({"technician", "pi", "statistician", "admin"}),
    "batch": frozenset({"pi", "statistician", "admin"}),
}


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, permission: str) -> bool:
        return users.can(self.role, permission)


def _database_url() -> str:
    from dashboards import data

    return data.database_url()


def current_user() -> User | None:
    """The logged-in user, or None."""
    value = st.session_state.get(SESSION_KEY)
    if not isinstance(value, dict) or not value.get("name") or value.get("role") not in users.ROLES:
        return None
    return User(name=str(value["name"]), role=str(value["role"]))


def refreshed_user() -> User | None:
    """The logged-in user with the role as the database has it now; logs out an account that no longer exists."""
    user = current_user()
    if user is None:
        return None
    with session_scope(_database_url()) as session:
        account = users.get_account(session, user.name)
        fresh = User(name=account.name, role=account.role) if account is not None else None
    if fresh is None:
        log_out()
    elif fresh != user:
        st.session_state[SESSION_KEY] = {"name": fresh.name, "role": fresh.role}
    return fresh


def actor() -> str:
    """The name recorded as actor of changes: the logged-in user's name (empty when nobody is logged in)."""
    user = current_user()
    return user.name if user else ""


def allowed(permission: str) -> bool:
    """Whether the logged-in user's role grants `permission` (for showing or hiding controls)."""
    user = current_user()
    return bool(user and user.can(permission))


def page_allowed(user: User | None, page: str) -> bool:
    """Whether the user may open `page` (a key of PAGE_ROLES; unknown pages are for admins only)."""
    return user is not None and user.role in PAGE_ROLES.get(page, frozenset({"admin"}))


def pages_for(user: User | None, pages: dict[str, list[tuple[str, object]]]) -> dict[str, list]:
    """The st.Page objects this user may open, per section, from {section: [(page key, st.Page), ...]}; sections
    left empty are dropped."""
    allowed_pages = {section: [p for key, p in items if page_allowed(user, key)] for section, items in pages.items()}
    return {section: items for section, items in allowed_pages.items() if items}


def guard(page: str) -> User:
    """First line of every page: the logged-in user (role read again from the database) if the role may open `page`;
    otherwise the login form or a refusal, and the page stops. The navigation already hides pages a role may not open;
    this also covers a page script run directly (e.g. Streamlit's pages/ folder fallback before st.navigation ran)."""
    user = refreshed_user()
    if user is None:
        login_page()
        st.stop()
    identity_sidebar(user)
    if not page_allowed(user, page):
        st.error(f"A {user.role} may not open this page.")
        st.stop()
    return user


def log_in(name: str, password: str) -> User | None:
    """Check the password; on success remember the user in the session."""
    with session_scope(_database_url()) as session:
        account = users.authenticate(session, name.strip(), password)
        if account is None:
            return None
        user = User(name=account.name, role=account.role)
    st.session_state[SESSION_KEY] = {"name": user.name, "role": user.role}
    return user


def log_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def login_page() -> None:
    """The login form; without any account it only explains how to create one."""
    st.title("BDNF ELISA QC: log in")
    with session_scope(_database_url()) as session:
        any_account = users.has_accounts(session)
    if not any_account:
        st.error("No user accounts exist yet, so nobody can log in. Create the first one on the server with:")
        st.code("labdb users add NAME --role admin", language="bash")
        st.caption(f"Roles: {', '.join(users.ROLES)}. `labdb demo` also creates one demo account per role.")
        return
    with st.form("login_form"):
        name = st.text_input("Name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", key="login_submit")
    if submitted:
        if log_in(name, password) is None:
            st.error("Wrong name or password.")
        else:
            st.rerun()


def identity_sidebar(user: User) -> None:
    """Who is logged in, and the logout button."""
    st.sidebar.text(f"Logged in as {user.name} ({user.role})")
    if st.sidebar.button("Log out", key="logout"):
        log_out()
        st.rerun()
