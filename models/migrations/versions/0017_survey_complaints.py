"""staff's judgement of complaining survey answers (upheld or dismissed), which answers
reopened their request, and indexes for reading a period's service records

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("complaint", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True)
        )
        batch_op.add_column(
            sa.Column("complaint_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("complaint_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reopened", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(batch_op.f("ix_survey_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_event_at"), ["at"], unique=False)
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_answered_at"), ["answered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_answered_at"))
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_event_at"))
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_created_at"))
        batch_op.drop_column("reopened")
        batch_op.drop_column("complaint_at")
        batch_op.drop_column("complaint_by")
        batch_op.drop_column("complaint")
