"""`labdb demo`: simulate a BDNF study, write real reader files, plate maps and a manifest, and ingest them
through the same code path a technician uses."""

from __future__ import annotations

import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from labdb.core.config import resource_dir
from labdb.core.db import session_scope
from labdb.demo.simulate import SimPlate, Study, simulate_study
from labdb.ingest import IngestOutcome, IngestRequest, Upload, ingest
from labdb.readers import gen5, grid
from labdb.review import decide
from labdb.samples import import_manifest, set_site
from labdb.templates import load_plate_map, load_template
from labdb.users import add_user, get_account

TEMPLATE = "bdnf_96_duplicate.toml"
PI = "dr.pi"
DEMO_ACCOUNTS = (("tech", "technician"), (PI, "pi"), ("stats", "statistician"), ("admin", "admin"))


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: str
    password: str | None  # None: the account already existed and was left unchanged


@dataclass(frozen=True)
class DemoSummary:
    """What `run_demo` did; str() is the one-line summary, `accounts` the demo logins (passwords only when new)."""

    text: str
    accounts: list[DemoAccount] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

    def passwords(self) -> dict[str, str]:
        """Name -> password of the accounts created by this run."""
        return {a.name: a.password for a in self.accounts if a.password is not None}


def create_demo_accounts(url: str) -> list[DemoAccount]:
    """One account per role with a random password; an existing account is left as it is (password not shown)."""
    accounts = []
    with session_scope(url) as session:
        for name, role in DEMO_ACCOUNTS:
            existing = get_account(session, name)
            if existing is not None:
                accounts.append(DemoAccount(name, existing.role, None))
                continue
            password = secrets.token_urlsafe(9)
            add_user(session, name, role, password, actor="demo")
            accounts.append(DemoAccount(name, role, password))
    return accounts


def write_study_files(study: Study, out_dir: Path) -> dict[str, Path | list[Path]]:
    """Write the template, manifest, plate map and one reader export per plate; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "plates").mkdir(exist_ok=True)
    template = out_dir / TEMPLATE
    shutil.copyfile(resource_dir("plate_templates") / TEMPLATE, template)
    manifest = out_dir / "manifest.csv"
    study.manifest.to_csv(manifest, index=False, date_format="%Y-%m-%d %H:%M")
    plate_map = out_dir / "plate_map.csv"
    slots = study.layout.loc[study.layout["role"] == "sample", "well"]
    maps = []
    for p in study.plates:
        # every sample slot is listed; a slot left unused is written with an empty sample_id (= empty well)
        filled = p.plate_map.set_index("well")
        rows = filled.reindex(slots.tolist()).reset_index().rename(columns={"index": "well"})
        maps.append(rows.assign(plate=p.name)[["plate", "well", "sample_id", "dilution"]])
    pd.concat(maps, ignore_index=True).to_csv(plate_map, index=False)
    files = []
    for plate in study.plates:
        if "BioTek" not in plate.reader.name:  # the other reader's export is a plain titled grid
            path = out_dir / "plates" / f"{plate.name}.csv"
            path.write_bytes(grid.write_csv(plate.od, _reader_flags(plate)))
        else:
            path = out_dir / "plates" / f"{plate.name}.txt"
            path.write_bytes(gen5.write_text([_gen5_plate(plate)]))
        files.append(path)
    return {"template": template, "manifest": manifest, "plate_map": plate_map, "plates": files}


def _gen5_plate(plate: SimPlate) -> dict:
    return {
        "name": plate.name,
        "read_time": plate.read_time,
        "instrument": plate.reader.name,
        "serial": plate.reader.serial,
        "values": plate.od,
        "flags": _reader_flags(plate),
    }


def _reader_flags(plate: SimPlate) -> dict[str, str]:
    """Overflow is a 450 nm event (the 630 reference reads fine); a missed well misses every wavelength."""
    return {(f"{well}@450" if flag == "overflow" else well): flag for well, flag in plate.flags.items()}


def run_demo(url: str, out_dir: Path, n_plates: int = 24, seed: int = 7, console: Console | None = None) -> DemoSummary:
    """Simulate, write and ingest a study; approve passing plates and reject the failing one as a PI would; create one
    account per role (see DemoSummary.accounts: passwords of new accounts, shown once)."""
    console = console or Console()
    study = simulate_study(n_plates=n_plates, seed=seed)
    paths = write_study_files(study, Path(out_dir))
    template = load_template(paths["template"])
    plate_map = load_plate_map(paths["plate_map"])
    with session_scope(url) as session:
        for site in study.sites.itertuples(index=False):
            set_site(session, site.site_code, site.hemisphere, site.name, actor="demo")
    with session_scope(url) as session:
        import_manifest(session, paths["manifest"], actor="demo")
    outcomes = Counter()
    stored: list[tuple[int, str, SimPlate]] = []
    runs = groupby(zip(study.plates, paths["plates"], strict=True), key=lambda pp: (pp[0].kit_lot, pp[0].operator))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console, transient=True) as progress:
        task = progress.add_task("ingesting demo plates", total=len(study.plates))
        for (kit_lot, operator), run in runs:  # consecutive plates of one operator and kit lot, in run order
            run = list(run)
            by_name = {str(path): plate for plate, path in run}
            batches: list[tuple[list[Path], datetime | None]] = []  # in run order; Gen5 files together
            for plate, path in run:
                if path.suffix == ".txt" and batches and batches[-1][1] is None:
                    batches[-1][0].append(path)
                else:  # a grid says nothing of when it was read: given, one file at a time, as a technician would
                    batches.append(([path], None if path.suffix == ".txt" else plate.read_time))
            for paths_, read_time in batches:
                request = IngestRequest(template, plate_map, kit_lot, operator, read_time, actor=operator)
                for upload, result in ingest(url, [Upload.from_path(p) for p in paths_], request):
                    if not isinstance(result, IngestOutcome):
                        raise result
                    outcomes["already stored" if result.duplicate else "ingested"] += 1
                    stored.extend((pid, verdict, by_name[upload.name]) for pid, _, verdict in result.plates)
                    progress.advance(task)
    # The PI reviews all but the newest three plates: passing ones approved, failing ones rejected.
    reviewed = stored[: max(len(stored) - 3, 0)]
    with session_scope(url) as session:
        passing = [pid for pid, verdict, _ in reviewed if verdict == "pass"]
        failing = [pid for pid, verdict, _ in reviewed if verdict != "pass"]
        if passing:
            decide(session, passing, "approved", PI, "Demo review: acceptance criteria met.")
        if failing:
            decide(session, failing, "rejected", PI, "Standards out of recovery limits; repeat the plate.")
    verdicts = Counter(verdict for _, verdict, _ in stored)
    accounts = create_demo_accounts(url)
    return DemoSummary(
        f"demo study in {out_dir}: {len(study.manifest)} samples, {len(study.plates)} plates "
        f"({outcomes['ingested']} ingested, {outcomes['already stored']} already stored); "
        f"verdicts: {verdicts.get('pass', 0)} pass, {verdicts.get('fail', 0)} fail; "
        f"{len(stored) - len(reviewed)} left for review",
        accounts,
    )
