"""partial index of requests the search index has not read since they changed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICATE = sa.text("indexed_at IS NULL OR indexed_at < updated_at")


def upgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_request_unindexed",
            ["id"],
            unique=False,
            postgresql_where=PREDICATE,
            sqlite_where=PREDICATE,
        )


def downgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index("ix_help_request_unindexed")
