"""The vocabulary in the database: every column that holds a word of qc.vocab refuses any other word.

PostgreSQL gets CHECK constraints (ck_<table>_<column>, as the models declare them). SQLite cannot add a constraint to
an existing table without rebuilding it, and rebuilding would drop the append-only triggers of raw_file and the
correction tables, so there the same rule is a pair of triggers per column (before insert, before update of the
column) that abort with the same sentence; append-only tables get only the insert trigger, so an update there is
refused as append-only on both backends. NULL passes where the column allows it.

The words are frozen here as they were at this revision: a later change to qc.vocab needs a migration of its own
(tests/test_vocab.py fails until the newest migration's words equal the vocabulary's).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

VOCABULARY: dict[tuple[str, str], tuple[str, ...]] = {
    ("raw_file", "kind"): ("reader_export", "template", "plate_map", "manifest"),
    ("site", "hemisphere"): ("north", "south"),
    ("subject", "sex"): ("F", "M"),
    ("sample", "sample_type"): ("serum", "plasma_edta", "plasma_citrate", "plasma_heparin", "platelet_poor_plasma"),
    ("plate", "status"): ("uploaded", "evaluated", "approved", "rejected"),
    ("plate", "verdict"): ("pass", "fail"),
    ("well", "role"): ("standard", "blank", "control", "bridge", "sample", "empty"),
    ("result", "role"): ("control", "bridge", "sample"),
    ("result", "censoring"): ("none", "below_lloq", "above_uloq"),
    ("guide_set", "source"): ("first_n", "entered"),
    ("qc_violation", "severity"): ("warning", "reject"),
    ("user_account", "role"): ("technician", "pi", "statistician", "admin"),
    ("correction_run", "method"): ("bridge", "lot-shift", "combat", "mixed"),
}


APPEND_ONLY = ("raw_file", "correction_run")  # migrations 0002 and 0005 refuse every update of these


def _words(words: tuple[str, ...]) -> str:
    return ", ".join("'" + w.replace("'", "''") + "'" for w in words)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for (table, column), words in VOCABULARY.items():
        if dialect == "sqlite":
            message = f"{table}.{column} must be one of {', '.join(words)}".replace("'", "''")
            for event in ("insert",) if table in APPEND_ONLY else ("insert", "update"):
                on = f"INSERT ON {table}" if event == "insert" else f"UPDATE OF {column} ON {table}"
                op.execute(
                    f"CREATE TRIGGER ck_{table}_{column}_{event} BEFORE {on} FOR EACH ROW "
                    f"WHEN NEW.{column} IS NOT NULL AND NEW.{column} NOT IN ({_words(words)}) "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
        else:
            op.create_check_constraint(f"ck_{table}_{column}", table, f"{column} IN ({_words(words)})")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, column in VOCABULARY:
        if dialect == "sqlite":
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS ck_{table}_{column}_{event}")
        else:
            op.drop_constraint(f"ck_{table}_{column}", table, type_="check")
