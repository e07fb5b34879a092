"""outbreak alerts, advisories, farmers' advisory subscription

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbreak_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crop", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("symptoms", sa.JSON(), nullable=False),
        sa.Column("request_ids", sa.JSON(), nullable=False),
        sa.Column("first_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbreak_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbreak_alert_crop"), ["crop"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbreak_alert_last_at"), ["last_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbreak_alert_township"), ["township"], unique=False)
    op.create_table(
        "advisory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("crop", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["outbreak_alert.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("advisories", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("advisory_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_advisory_id"), ["advisory_id"], unique=False)
        batch_op.create_foreign_key("fk_outbox_advisory_id", "advisory", ["advisory_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_advisory_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_advisory_id"))
        batch_op.drop_column("advisory_id")
    with op.batch_alter_table("farmer", schema=None) as batch_op:
        batch_op.drop_column("advisories")
    op.drop_table("advisory")
    op.drop_table("outbreak_alert")
