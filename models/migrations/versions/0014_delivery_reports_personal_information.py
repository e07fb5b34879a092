"""template delivery reports on the outbox; personal information's lifecycle; the
villages' QR codes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("qr_url", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True)
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wechat_msgid", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("delivery", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_outbox_wechat_msgid"), ["wechat_msgid"], unique=False)
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("privacy_noticed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("location_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("erase_asked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_farmer_erased_at"), ["erased_at"], unique=False)
    # Coordinates stored before farmers could consent to keeping them (留定位) go.
    op.execute("UPDATE farmer SET latitude = NULL, longitude = NULL")
    op.execute("UPDATE help_request SET latitude = NULL, longitude = NULL")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("anonymised_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_help_request_anonymised_at"), ["anonymised_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.drop_column("qr_url")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_request_anonymised_at"))
        batch_op.drop_column("anonymised_at")
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_farmer_erased_at"))
        batch_op.drop_column("erased_at")
        batch_op.drop_column("erase_asked_at")
        batch_op.drop_column("location_consent")
        batch_op.drop_column("privacy_noticed_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_wechat_msgid"))
        batch_op.drop_column("delivery")
        batch_op.drop_column("wechat_msgid")
