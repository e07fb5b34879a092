"""treatment checks: how the farmer's crop or animal is a set time after the visit

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "treatment_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("farmer_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("visited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("words", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.ForeignKeyConstraint(["farmer_id"], ["farmer.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["help_request.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("treatment_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatment_check_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_treatment_check_farmer_id"), ["farmer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_treatment_check_request_id"), ["request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_treatment_check_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("treatment_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_check_state"))
        batch_op.drop_index(batch_op.f("ix_treatment_check_request_id"))
        batch_op.drop_index(batch_op.f("ix_treatment_check_farmer_id"))
        batch_op.drop_index(batch_op.f("ix_treatment_check_due_at"))
    op.drop_table("treatment_check")
