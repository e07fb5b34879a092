"""push nonces, outbox claims, token refresh marker, farmer phone

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_nonce",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("push_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_nonce_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refreshing_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_column("refreshing_until")
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.drop_column("phone")
    with op.batch_alter_table("push_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_nonce_expires_at"))
    op.drop_table("push_nonce")
