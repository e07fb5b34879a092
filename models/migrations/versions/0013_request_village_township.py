"""a request's place resolved to a village and township of the imported hierarchy

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_help_request_township"), ["township"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_request_village"), ["village"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_request_village"))
        batch_op.drop_index(batch_op.f("ix_help_request_township"))
        batch_op.drop_column("village")
        batch_op.drop_column("township")
