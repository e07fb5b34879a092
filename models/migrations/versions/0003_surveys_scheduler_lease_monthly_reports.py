"""surveys, scheduler lease, monthly reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:00:34.985248
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "monthly_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("month", "scope", "name"),
    )
    with op.batch_alter_table("monthly_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monthly_report_month"), ["month"], unique=False)

    op.create_table(
        "scheduler_lease",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("farmer_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_answer_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("unclear", sa.Integer(), nullable=False),
        sa.Column("solved", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.ForeignKeyConstraint(
            ["farmer_id"],
            ["farmer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_farmer_id"), ["farmer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_state"), ["state"], unique=False)

    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visit_reminded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("overdue_alerted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:

    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_column("overdue_alerted_at")
        batch_op.drop_column("visit_reminded_at")

    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_state"))
        batch_op.drop_index(batch_op.f("ix_survey_request_id"))
        batch_op.drop_index(batch_op.f("ix_survey_farmer_id"))
        batch_op.drop_index(batch_op.f("ix_survey_due_at"))

    op.drop_table("survey")
    op.drop_table("scheduler_lease")
    with op.batch_alter_table("monthly_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monthly_report_month"))

    op.drop_table("monthly_report")
