"""Login, roles and permissions of the dashboards (issue #8), with AppTest against SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from labdb.core.db import get_engine, session_scope
from labdb.core.models import AuditEvent, Plate, UserAccount
from labdb.demo.run import run_demo
from labdb.users import (
    PermissionDenied,
    add_user,
    authenticate,
    close_guide_sets_as,
    correct_as,
    decide_as,
    mask_as,
    set_password,
)

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
ALL_PAGES = {"overview", "upload", "review", "worklist", "runqc", "cohort", "batch", "export", "audit"}
ROLE_PAGES = {
    "technician": {"overview", "upload", "review", "worklist", "runqc"},
    "pi": ALL_PAGES,
    "statistician": {"overview", "runqc", "cohort", "batch", "export", "audit"},
    "admin": ALL_PAGES,
}
NAMES = {"technician": "tech", "pi": "dr.pi", "statistician": "stats", "admin": "admin"}


@pytest.fixture
def demo(db_url, tmp_path):
    summary = run_demo(db_url, tmp_path / "study", n_plates=4, seed=2)
    return db_url, summary.passwords()


def _login(name: str, password: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(password)
    at.button(key="login_submit").click().run()
    assert not at.exception
    return at


def _pages(at: AppTest) -> set[str]:
    """The pages st.navigation registered in the last run: file stem, or "login" for the login page."""
    return {Path(info["script_path"]).stem if info.get("script_path") else "login" for info in at._registered_pages.values()}


def _evaluated_plate(url: str) -> int:
    with Session(get_engine(url)) as s:
        return s.exec(select(Plate.id).where(Plate.status == "evaluated").order_by(Plate.id)).first()


def test_no_accounts_means_no_access_and_says_how_to_create_one(db_url):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("No user accounts exist" in e.value for e in at.error)
    assert any("labdb users add NAME --role admin" in c.value for c in at.code)
    assert _pages(at) == {"login"} and not at.text_input  # no login form, no page


def test_wrong_password_and_unknown_name_are_refused(demo):
    url, passwords = demo
    for name, password in (("dr.pi", "not-the-password"), ("nobody", passwords["dr.pi"]), ("dr.pi", "")):
        at = _login(name, password)
        assert any("Wrong name or password" in e.value for e in at.error)
        assert "auth_user" not in at.session_state and _pages(at) == {"login"}
    with session_scope(url) as s:
        account = s.exec(select(UserAccount).where(UserAccount.name == "dr.pi")).one()
        assert account.password_hash.startswith("$argon2") and passwords["dr.pi"] not in account.password_hash
        assert authenticate(s, "dr.pi", passwords["dr.pi"]) is not None


@pytest.mark.parametrize("role", list(ROLE_PAGES))
def test_each_role_sees_exactly_its_pages(demo, role):
    _, passwords = demo
    at = _login(NAMES[role], passwords[NAMES[role]])
    assert at.session_state["auth_user"] == {"name": NAMES[role], "role": role}
    assert _pages(at) == ROLE_PAGES[role]  # the navigation st.navigation registered for this role
    for page in sorted(ALL_PAGES - ROLE_PAGES[role]):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")
    for page in sorted(ROLE_PAGES[role]):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, f"{role} {page}: {at.exception}"
        assert not any("may not open this page" in e.value for e in at.error)
    # AppTest now runs page files directly (Streamlit's pages/ folder mode); each page's own guard still refuses
    for page in sorted(ALL_PAGES - ROLE_PAGES[role]):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert [e.value for e in at.error] == [f"A {role} may not open this page."], page
        assert len(at.main.children) <= 2  # the refusal only (no page content)


def test_technician_cannot_approve_but_may_mask(demo):
    url, passwords = demo
    plate_id = _evaluated_plate(url)
    at = _login("tech", passwords["tech"])
    at.switch_page("pages/review.py").run()
    at.selectbox(key="review_plate").set_value(plate_id).run()
    assert not at.exception
    keys = {b.key for b in at.button}
    assert "review_decide" not in keys and "review_decision" not in {r.key for r in at.radio}
    assert "review_mask_submit" in keys
    assert any("Only a PI or an admin can approve" in i.value for i in at.info)
    # the action function refuses too, whatever the UI shows
    for decision in ("approved", "rejected"):
        with pytest.raises(PermissionDenied, match="technician may not approve or reject"), session_scope(url) as s:
            decide_as(s, "tech", [plate_id], decision, "trying anyway")
    with pytest.raises(PermissionDenied), session_scope(url) as s:
        mask_as(s, "stats", plate_id, ["A1"], True, "statisticians do not mask")
    with pytest.raises(PermissionDenied, match="no account"), session_scope(url) as s:
        decide_as(s, "ghost", [plate_id], "approved", None)
    with Session(get_engine(url)) as s:
        assert s.get(Plate, plate_id).status == "evaluated"


def test_role_is_checked_again_in_the_database(demo):
    """A PI demoted while logged in loses the decision controls on the next run (the role is read again)."""
    url, passwords = demo
    at = _login("dr.pi", passwords["dr.pi"])
    at.switch_page("pages/review.py").run()
    assert "review_decide" in {b.key for b in at.button}
    with session_scope(url) as s:
        s.exec(select(UserAccount).where(UserAccount.name == "dr.pi")).one().role = "technician"
    at.run()
    assert not at.exception and "review_decide" not in {b.key for b in at.button}
    assert at.session_state["auth_user"]["role"] == "technician"


def test_every_action_checks_the_role_in_its_own_transaction(demo):
    """Closing guide sets and running a batch correction go through labdb.users' `*_as` functions, which read the
    account again in the action's session: refused (and nothing recorded) for a role without the permission."""
    from labdb.core.models import CorrectionRun, KitLot
    from labdb.correction import CorrectionOptions

    url, _ = demo
    with session_scope(url) as s:
        lot = s.exec(select(KitLot.lot).order_by(KitLot.lot)).first()
        events = len(s.exec(select(AuditEvent)).all())
    for name in ("stats", "tech", "nobody"):
        with pytest.raises(PermissionDenied), session_scope(url) as s:
            close_guide_sets_as(s, name, lot)
    with pytest.raises(PermissionDenied, match="may not run batch corrections"), session_scope(url) as s:
        correct_as(s, "tech", CorrectionOptions("bridge"))
    with session_scope(url) as s:
        assert len(s.exec(select(AuditEvent)).all()) == events and not s.exec(select(CorrectionRun)).all()
    with session_scope(url) as s:
        close_guide_sets_as(s, "dr.pi", lot)
        run = correct_as(s, "stats", CorrectionOptions("bridge")).run
        assert run.created_by == "stats"
    with session_scope(url) as s:
        close = s.exec(select(AuditEvent).where(AuditEvent.action == "guide_set.close")).one()
        assert close.actor == "dr.pi" and close.entity_id == lot


def test_statistician_has_no_upload(demo):
    _, passwords = demo
    at = _login("stats", passwords["stats"])
    assert "upload" not in _pages(at)
    with pytest.raises(ValueError):
        at.switch_page("pages/upload.py")
    at.switch_page("pages/overview.py").run()
    assert [t.value for t in at.sidebar.text] == ["Logged in as stats (statistician)"]
    at.button(key="logout").click().run()
    assert not at.exception and "auth_user" not in at.session_state
    assert [t.key for t in at.text_input] == ["login_name", "login_password"] and not at.dataframe  # the login form only


def test_audit_records_the_logged_in_name(demo):
    url, _ = demo
    plate_id = _evaluated_plate(url)
    with session_scope(url) as s:
        add_user(s, "Dr <b>Ada</b>", "pi", "correct horse battery", actor="admin")
    at = _login("Dr <b>Ada</b>", "correct horse battery")
    assert not any("<b>" in t.value for t in at.sidebar.markdown)  # the name is shown as text, not markup
    at.switch_page("pages/review.py").run()
    at.selectbox(key="review_plate").set_value(plate_id).run()
    at.radio(key="review_decision").set_value("reject").run()
    at.text_area(key="review_comment").set_value("Standards drifted; repeat.")
    at.button(key="review_decide").click().run()
    assert not at.exception
    with Session(get_engine(url)) as s:
        plate = s.get(Plate, plate_id)
        assert plate.status == "rejected" and plate.reviewed_by == "Dr <b>Ada</b>"
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "plate.reject", AuditEvent.entity_id == str(plate_id))).one()
        assert event.actor == "Dr <b>Ada</b>"
        assert s.exec(select(AuditEvent.actor).where(AuditEvent.action == "user.add")).all()


def test_passwords_are_audited_without_secrets_and_demo_keeps_existing_accounts(demo, tmp_path):
    url, passwords = demo
    assert set(passwords) == set(NAMES.values()) and all(len(p) >= 12 for p in passwords.values())
    with session_scope(url) as s:
        set_password(s, "tech", "a brand new password", actor="admin")
        assert authenticate(s, "tech", passwords["tech"]) is None
        assert authenticate(s, "tech", "a brand new password").role == "technician"
    again = run_demo(url, tmp_path / "again", n_plates=4, seed=2)
    assert again.passwords() == {} and {a.name for a in again.accounts} == set(NAMES.values())
    with session_scope(url) as s:
        assert authenticate(s, "tech", "a brand new password") is not None
        events = s.exec(select(AuditEvent).where(AuditEvent.entity == "user_account")).all()
    text = " ".join(f"{e.before} {e.after} {e.detail}" for e in events)
    assert len(events) == 5 and "argon2" not in text and not any(p in text for p in passwords.values())


def test_cli_users_add_and_passwd_read_the_password_without_echo(db_url):
    from typer.testing import CliRunner

    from labdb.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "Ada", "--role", "pi", "--password-stdin"], input="s3cret-password\n")
    assert result.exit_code == 0 and "account Ada (pi) created" in result.output and "s3cret" not in result.output
    result = runner.invoke(app, ["users", "add", "Bob", "--role", "admin"], input="another-pass\nanother-pass\n")
    assert result.exit_code == 0 and "another-pass" not in result.output
    result = runner.invoke(app, ["users", "add", "Cy", "--role", "admin"], input="one-password\ntwo-password\none-password\none-password\n")
    assert result.exit_code == 0 and "do not match" in result.output  # asked again until both entries agree
    assert runner.invoke(app, ["users", "add", "Ada", "--role", "pi", "--password-stdin"], input="whatever-pass\n").exit_code == 2
    assert runner.invoke(app, ["users", "add", "Eve", "--role", "boss", "--password-stdin"], input="whatever-pass\n").exit_code == 2
    assert runner.invoke(app, ["users", "add", "Eve", "--role", "pi", "--password-stdin"], input="short\n").exit_code == 2
    result = runner.invoke(app, ["users", "passwd", "Ada", "--password-stdin"], input="new-password-1\n")
    assert result.exit_code == 0 and "password of Ada changed" in result.output
    assert runner.invoke(app, ["users", "passwd", "Nobody", "--password-stdin"], input="new-password-1\n").exit_code == 2
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == 0 and "Ada" in result.output and "argon2" not in result.output
    with session_scope(db_url) as s:
        assert authenticate(s, "Ada", "new-password-1") is not None and authenticate(s, "Ada", "s3cret-password") is None
        assert authenticate(s, "Cy", "one-password").role == "admin"


def test_cli_demo_prints_passwords_once(db_url, tmp_path):
    from typer.testing import CliRunner

    from labdb.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--plates", "2", "--seed", "3", "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "passwords shown only this once" in first.output and all(n in first.output for n in NAMES.values())
    second = runner.invoke(app, ["demo", "--plates", "2", "--seed", "3", "--out", str(tmp_path / "b")])
    assert second.exit_code == 0 and "already exist, passwords unchanged" in second.output
    assert "passwords shown only this once" not in second.output
