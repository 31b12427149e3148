"""well.raw_markers: the file's text of each read that was not a plain number ("*0.356*", "Path?", "OVRFLW").

A reader keeps a number the instrument marked (flag `flagged`) and flags a cell it cannot read as a number, instead
of refusing the plate; the marker is what the file said, kept beside raw_values and raw_flags.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("well") as batch:
        batch.add_column(sa.Column("raw_markers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("well") as batch:
        batch.drop_column("raw_markers")
