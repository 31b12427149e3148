"""The dashboard in a real headless Chromium (Playwright): log in, upload a Gen5 file, approve a plate, download an
export. Screenshots of each page land in test-artifacts/ (git-ignored). Skipped without /usr/bin/chromium, except
when CI=true, where that is a failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import Session, select

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000
pytestmark = pytest.mark.slow  # ~25 s: a real server and a real browser


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"CI=true but {CHROMIUM} is missing: the browser test cannot run")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium to run the browser test)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _in_ci():
            pytest.fail("CI=true but the playwright Python package is not installed (pip install -e '.[test]')")
        pytest.skip("the playwright Python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A demo database (accounts made by run_demo) and `streamlit run dashboards/app.py` serving it."""
    from labdb.core.migrate import upgrade
    from labdb.demo.run import run_demo

    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'labdb.sqlite'}"
    upgrade(url)
    passwords = run_demo(url, tmp / "study", n_plates=4, seed=5).passwords()
    port = _free_port()
    env = dict(os.environ, LABDB_DATABASE_URL=url, STREAMLIT_SERVER_HEADLESS="true", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = (tmp / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboards/app.py", "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield {"base": base, "url": url, "passwords": passwords, "tmp": tmp}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let charts finish drawing
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _login(page, name: str, password: str) -> None:
    from playwright.sync_api import expect

    page.locator(".st-key-login_name input").fill(name)
    page.locator(".st-key-login_password input").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Logged in as {name}")).to_be_visible(timeout=TIMEOUT_MS)


def _open(page, title: str, heading: str) -> None:
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=TIMEOUT_MS)
    _idle(page)


def _idle(page) -> None:
    """Wait until the script run the last interaction started has finished (the "Running..." widget is gone)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(250)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)


def _choose(page, key: str, text: str) -> None:
    """Pick the option of selectbox `key` that contains `text`."""
    page.locator(f".st-key-{key}").get_by_role("button", name="Open").click()
    page.get_by_role("option").filter(has_text=text).first.click()


def _gen5_upload(tmp: Path) -> tuple[Path, Path]:
    """A new simulated Gen5 text export (not in the demo database) and its plate map."""
    from labdb.demo.run import write_study_files
    from labdb.demo.simulate import simulate_study
    from labdb.readers import gen5

    study = simulate_study(n_plates=1, seed=41)
    paths = write_study_files(study, tmp / "upload")
    plate = study.plates[0]
    flags = {(f"{w}@450" if f == "overflow" else w): f for w, f in plate.flags.items()}
    path = tmp / "upload" / f"{plate.name}_gen5.txt"
    path.write_bytes(
        gen5.write_text(
            [
                {
                    "name": plate.name,
                    "read_time": plate.read_time,
                    "instrument": "BioTek Synergy H1",
                    "serial": "SN-BROWSER",
                    "values": plate.od,
                    "flags": flags,
                }
            ]
        )
    )
    return path, paths["plate_map"]


def test_pi_uploads_approves_and_exports_in_a_real_browser(chromium, server):
    from playwright.sync_api import expect

    from labdb.core.db import get_engine, session_scope
    from labdb.core.models import AuditEvent, CorrectionRun, Plate
    from labdb.review import decide

    expect.set_options(timeout=TIMEOUT_MS)
    (ARTIFACTS / "failure.png").unlink(missing_ok=True)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        # the first request of a fresh server asks for a protected page directly: only the login form is shown
        page.goto(f"{server['base']}/audit")
        expect(page.locator(".st-key-login_name input")).to_be_visible()
        expect(page.get_by_role("heading", name="Audit trail")).to_have_count(0)
        _shot(page, "login")
        page.locator(".st-key-login_name input").fill("dr.pi")
        page.locator(".st-key-login_password input").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Wrong name or password.")).to_be_visible()

        _login(page, "dr.pi", server["passwords"]["dr.pi"])
        page.goto(server["base"])  # a new page load is a new session: logged out again
        _login(page, "dr.pi", server["passwords"]["dr.pi"])
        expect(page.get_by_role("heading", name="BDNF ELISA QC")).to_be_visible()
        _shot(page, "overview")

        # upload a Gen5 export with its plate map, preview, ingest
        reader_file, plate_map = _gen5_upload(server["tmp"])
        _open(page, "Upload", "Upload plate-reader files")
        _choose(page, "upload_template_choice", "bdnf_96_duplicate.toml")
        expect(page.locator(".st-key-upload_template_choice input")).to_have_value("bdnf_96_duplicate.toml")
        _idle(page)
        page.locator(".st-key-upload_files input[type=file]").set_input_files(str(reader_file))
        expect(page.locator(".st-key-upload_files")).to_contain_text(reader_file.name)
        _idle(page)
        page.locator(".st-key-upload_plate_map input[type=file]").set_input_files(str(plate_map))
        expect(page.locator(".st-key-upload_plate_map")).to_contain_text(plate_map.name)
        _idle(page)
        ingest = page.locator(".st-key-upload_ingest button")
        expect(ingest).to_have_text("Ingest 1 file(s)")
        expect(ingest).to_be_enabled()
        ingest.click()
        expect(page.get_by_text("Stored 1 of 1 file(s).")).to_be_visible()
        _shot(page, "upload")
        with Session(get_engine(server["url"])) as s:
            uploaded = s.exec(select(Plate).where(Plate.original_filename == reader_file.name)).one()
            assert uploaded.ingested_by == "dr.pi" and uploaded.reader_format.startswith("gen5")
            plate_id = uploaded.id

        # approve the uploaded plate on Plate review
        _open(page, "Plate review", "Plate review")
        _choose(page, "review_plate", f"{plate_id} · ")
        expect(page.get_by_role("heading", name=f"Plate {plate_id}:")).to_be_visible()
        _idle(page)
        page.locator(".st-key-review_comment textarea").fill("Checked in the browser test.")
        page.locator(".st-key-review_comment textarea").blur()
        _idle(page)
        page.locator(".st-key-review_decide button").click()
        expect(page.get_by_text(f"Plate {plate_id} approved by dr.pi.")).to_be_visible()
        _shot(page, "review")
        with Session(get_engine(server["url"])) as s:
            plate = s.get(Plate, plate_id)
            assert plate.status == "approved" and plate.reviewed_by == "dr.pi"
            actors = s.exec(
                select(AuditEvent.actor).where(AuditEvent.action == "plate.approve", AuditEvent.entity_id == str(plate_id))
            ).all()
            assert actors == ["dr.pi"]

        # download the export
        _open(page, "Export", "Export")
        button = page.locator(".st-key-export_download_csv button")
        expect(button).to_be_visible()
        with page.expect_download() as info:
            button.click()
        download = info.value
        target = ARTIFACTS / download.suggested_filename
        download.save_as(str(target))
        header, *rows = target.read_text(encoding="utf-8").splitlines()
        assert download.suggested_filename == "bdnf_export_long.csv" and "sample_id" in header and rows
        _shot(page, "export")

        for title, heading in (("Cohort", "Cohort"), ("Audit", "Audit trail"), ("Worklist", "Re-assay worklist")):
            _open(page, title, heading)
            _shot(page, title.lower())

        # Batch effects: no run yet, so the PI runs a bridge correction from the page's form, then sees the run
        with session_scope(server["url"]) as s:  # the demo leaves plates for review: approve the passing ones
            waiting = s.exec(select(Plate.id).where(Plate.status == "evaluated", Plate.verdict == "pass")).all()
            if waiting:
                decide(s, list(waiting), "approved", "dr.pi", "Approved for the batch-effects page.")
        _open(page, "Batch effects", "Batch effects")
        expect(page.get_by_text("labdb batch correct --method bridge").first).to_be_visible()
        page.locator(".st-key-batch_run button").click()
        expect(page.get_by_text("Correction version 1 stored: bridge")).to_be_visible()
        expect(page.get_by_role("heading", name="Independent check")).to_be_visible()
        _idle(page)
        _shot(page, "batch")
        page.get_by_role("heading", name="Per-plate shifts").scroll_into_view_if_needed()
        _shot(page, "batch_shifts")
        with Session(get_engine(server["url"])) as s:
            assert s.exec(select(CorrectionRun.created_by)).all() == ["dr.pi"]

        # log out, then a technician gets no decision controls and no Export page
        page.locator(".st-key-logout button").click()
        _login(page, "tech", server["passwords"]["tech"])
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_role("link", name="Upload", exact=True)).to_be_visible()
        expect(nav.get_by_role("link", name="Export", exact=True)).to_have_count(0)
        expect(nav.get_by_role("link", name="Batch effects", exact=True)).to_have_count(0)
        _open(page, "Plate review", "Plate review")
        expect(page.get_by_text("Only a PI or an admin can approve or reject plates.")).to_be_visible()
        expect(page.locator(".st-key-review_decide")).to_have_count(0)
        _shot(page, "review_technician")
    except Exception:
        _shot(page, "failure")
        raise
    finally:
        context.close()
