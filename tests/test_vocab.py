"""One vocabulary (qc.vocab) held together with the models, the migrations and both databases.

A word added to qc.vocab but not to the database (or the other way round) would fail silently: a plate whose
wells carry a new role could not be stored, or a typo in a service could store a word no query knows. These
tests fail instead.
"""

from __future__ import annotations

import importlib.util

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from conftest import REPO
from labdb.core import models
from labdb.core.db import get_engine
from labdb.core.migrate import head_revision
from qc import vocab

MIGRATIONS = REPO / "migrations" / "versions"


def _migration(revision: str):
    path = next(MIGRATIONS.glob(f"{revision}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stored_word_list_comes_from_the_vocabulary():
    """The models' table of constrained columns uses qc.vocab's own tuples (not copies), and covers every list."""
    expected = {
        ("raw_file", "kind"): vocab.RAW_FILE_KINDS,
        ("site", "hemisphere"): vocab.HEMISPHERES,
        ("subject", "sex"): vocab.SEXES,
        ("sample", "sample_type"): vocab.SAMPLE_TYPES,
        ("plate", "status"): vocab.PLATE_STATUSES,
        ("plate", "verdict"): vocab.VERDICTS,
        ("well", "role"): vocab.ROLES,
        ("result", "role"): vocab.RESULT_ROLES,
        ("result", "censoring"): vocab.CENSORING,
        ("guide_set", "source"): vocab.GUIDE_SET_SOURCES,
        ("qc_violation", "severity"): vocab.WESTGARD_SEVERITIES,
        ("user_account", "role"): vocab.USER_ROLES,
        ("correction_run", "method"): vocab.CORRECTION_METHODS,
    }
    assert models.VOCABULARY.keys() == expected.keys()
    for key, words in expected.items():
        assert models.VOCABULARY[key] is words, f"{key} is not qc.vocab's list"
    assert set(vocab.RESULT_ROLES) <= set(vocab.ROLES)


def test_models_declare_a_check_for_every_constrained_column():
    for (table, column), words in models.VOCABULARY.items():
        checks = {c.name: str(c.sqltext) for c in SQLModel.metadata.tables[table].constraints if isinstance(c, sa.CheckConstraint)}
        text = checks.get(f"ck_{table}_{column}")
        assert text is not None, f"{table}.{column} has no CHECK in the models"
        assert text == f"{column} IN ({', '.join(repr(w) for w in words)})"


def test_the_newest_migration_holds_the_current_vocabulary():
    """Changing qc.vocab without a migration fails here: the database would still refuse (or allow) the old words.
    The newest migration that freezes a VOCABULARY (0006, or a later one that changes the words) must hold exactly
    the models' constrained columns and their words."""
    revisions = sorted(p.name.split("_", 1)[0] for p in MIGRATIONS.glob("[0-9]*_*.py"))
    assert revisions[-1] == head_revision()
    frozen = [m.VOCABULARY for m in map(_migration, revisions) if hasattr(m, "VOCABULARY")]
    assert frozen, "no migration freezes the vocabulary"
    assert frozen[-1] == {k: tuple(v) for k, v in models.VOCABULARY.items()}


def test_seasons_are_the_vocabularys_words():
    """Every season qc.seasons derives, in both conventions and hemispheres, is one of qc.vocab.SEASONS."""
    import pandas as pd

    from qc.seasons import OPPOSITE, SEASON_CONVENTIONS, seasons_of

    days = pd.Series(pd.date_range("2024-01-01", "2024-12-31", freq="D"))
    for convention in SEASON_CONVENTIONS:
        for hemisphere in vocab.HEMISPHERES:
            assert set(seasons_of(days, hemisphere, convention)) == set(vocab.SEASONS)
    assert set(OPPOSITE) == set(OPPOSITE.values()) == set(vocab.SEASONS)


def test_schemas_and_readers_use_the_vocabulary():
    """The Pandera schemas refuse exactly the words the vocabulary does not have."""
    import pandas as pd

    from qc.schemas import CanonicalReads, PlateResults, SchemaProblems, validate

    reads = pd.DataFrame(
        {
            "well": ["A1"] * len(vocab.READ_FLAGS),
            "row": "A",
            "column": 1,
            "wavelength_nm": pd.array(range(400, 400 + len(vocab.READ_FLAGS)), dtype="Int64"),
            "value": [0.5 if f in vocab.VALUED_FLAGS else float("nan") for f in vocab.READ_FLAGS],
            "flag": list(vocab.READ_FLAGS),
            "marker": [None if f == "ok" else f"<{f}>" for f in vocab.READ_FLAGS],
        }
    )
    validate(reads, CanonicalReads, "reads")
    with pytest.raises(SchemaProblems, match="flag must be one of"):
        validate(reads.assign(flag="saturated", value=float("nan")), CanonicalReads, "reads")
    results = pd.DataFrame(
        {
            "role": list(vocab.RESULT_ROLES),
            "name": "x",
            "dilution": 1.0,
            "n_replicates": 2,
            "mean_od": 0.5,
            "cv_pct": 1.0,
            "conc": 10.0,
            "censoring": "none",
            "lloq": 1.0,
            "uloq": 100.0,
        }
    )
    validate(results, PlateResults, "results")
    with pytest.raises(SchemaProblems):
        validate(results.assign(censoring="below"), PlateResults, "results")


def _one_row(conn, table: str, column: str):
    """The id (or key) of one stored row of `table`."""
    key = "sha256" if table == "raw_file" else "id"
    return key, conn.execute(sa.text(f"SELECT {key} FROM {table} LIMIT 1")).scalar()


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("well", "role"),
        ("result", "censoring"),
        ("result", "role"),
        ("plate", "status"),
        ("plate", "verdict"),
        ("sample", "sample_type"),
        ("subject", "sex"),
        ("site", "hemisphere"),
    ],
)
def test_the_database_refuses_a_word_outside_the_vocabulary(db_url, small_study, table, column):
    """On both backends: any vocabulary word is accepted, a word outside it ("wrong", short enough for every column) is refused and nothing changes."""
    from labdb.core.db import session_scope
    from labdb.ingest import IngestRequest, Upload, ingest_upload
    from labdb.samples import import_manifest, set_site
    from labdb.templates import load_plate_map, load_template

    study, paths = small_study
    with session_scope(db_url) as session:
        for site in study.sites.itertuples(index=False):
            set_site(session, site.site_code, site.hemisphere, site.name, actor="t")
        import_manifest(session, paths["manifest"], actor="t")
        request = IngestRequest(load_template(paths["template"]), load_plate_map(paths["plate_map"]), "L1", actor="t")
        ingest_upload(session, Upload.from_path(paths["plates"][0]), request)
    engine = get_engine(db_url)
    with engine.connect() as conn:
        key, row = _one_row(conn, table, column)
        before = conn.execute(sa.text(f"SELECT {column} FROM {table} WHERE {key} = :k"), {"k": row}).scalar()
    for word in models.VOCABULARY[(table, column)]:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :w WHERE {key} = :k"), {"w": word, "k": row})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :w WHERE {key} = :k"), {"w": "wrong", "k": row})
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :w WHERE {key} = :k"), {"w": before, "k": row})
        assert conn.execute(sa.text(f"SELECT {column} FROM {table} WHERE {key} = :k"), {"k": row}).scalar() == before


def test_the_database_refuses_a_bad_word_on_insert(db_url):
    """Inserts are held to the vocabulary as well as updates (raw_file: the kind of an uploaded file)."""
    engine = get_engine(db_url)
    insert = sa.text(
        "INSERT INTO raw_file (sha256, kind, original_name, size_bytes, content, stored_at, stored_by) "
        "VALUES (:s, :k, 'x.txt', 1, :c, CURRENT_TIMESTAMP, 't')"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"s": "a" * 64, "k": "manifest", "c": b"x"})
    with pytest.raises(sa.exc.IntegrityError, match="kind"), engine.begin() as conn:
        conn.execute(insert, {"s": "b" * 64, "k": "spreadsheet", "c": b"y"})
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM raw_file")).scalar() == 1
