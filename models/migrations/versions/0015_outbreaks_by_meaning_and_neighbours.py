"""outbreak clusters by meaning and place: townships' neighbours, an alert's
townships, villages and the farmers' words, and an index for one crop's recent requests

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("neighbours", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("outbreak_alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "county",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("townships", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("villages", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("words", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_index(batch_op.f("ix_outbreak_alert_county"), ["county"], unique=False)
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_request_crop_confirmed", ["crop", "confirmed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index("ix_help_request_crop_confirmed")
    with op.batch_alter_table("outbreak_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbreak_alert_county"))
        batch_op.drop_column("words")
        batch_op.drop_column("villages")
        batch_op.drop_column("townships")
        batch_op.drop_column("county")
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.drop_column("neighbours")
