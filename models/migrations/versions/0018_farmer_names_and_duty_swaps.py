"""the name staff know a farmer by, the farmer list's order (latest message first), and
which expert a swapped shift covers for (值班调整)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_farmer_last_message_at"), ["last_message_at"], unique=False
        )
    with op.batch_alter_table("duty_shift", schema=None) as batch_op:
        batch_op.add_column(sa.Column("covers_for", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_duty_shift_covers_for_expert", "expert", ["covers_for"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("duty_shift", schema=None) as batch_op:
        batch_op.drop_constraint("fk_duty_shift_covers_for_expert", type_="foreignkey")
        batch_op.drop_column("covers_for")
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_farmer_last_message_at"))
        batch_op.drop_column("name")
