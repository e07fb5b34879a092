"""indexes for reading one month of a province's year: requests confirmed and accepted,
surveys sent

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_help_request_confirmed_at"), ["confirmed_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_help_request_accepted_at"), ["accepted_at"], unique=False
        )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_sent_at"))
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_request_accepted_at"))
        batch_op.drop_index(batch_op.f("ix_help_request_confirmed_at"))
