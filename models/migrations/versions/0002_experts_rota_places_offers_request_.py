"""experts, rota, places, offers, request events, outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:47:20.005796
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "expert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("specialties", sa.JSON(), nullable=False),
        sa.Column("crops", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("leader", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("duty_override", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("duty_override_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expert_openid"), ["openid"], unique=True)
        batch_op.create_index(batch_op.f("ix_expert_team"), ["team"], unique=False)

    op.create_table(
        "place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("township", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("village", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county", "township", "village"),
    )
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_place_county"), ["county"], unique=False)
        batch_op.create_index(batch_op.f("ix_place_township"), ["township"], unique=False)
        batch_op.create_index(batch_op.f("ix_place_village"), ["village"], unique=False)

    op.create_table(
        "team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "duty_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("expert_id", "start", "end"),
    )
    with op.batch_alter_table("duty_shift", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_shift_end"), ["end"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_shift_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_shift_start"), ["start"], unique=False)

    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("offered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("deadline_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("answer_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["expert.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_deadline_at"), ["deadline_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_expert_id"), ["expert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_status"), ["status"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fallback", sa.JSON(), nullable=True),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("next_try_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_errcode", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_next_try_at"), ["next_try_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_openid"), ["openid"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)

    op.create_table(
        "request_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["help_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_event_request_id"), ["request_id"], unique=False
        )

    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expert_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("accepted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("visit_booked_for", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("visited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("visit_record", sa.Text(), nullable=True))
        # Existing requests get an empty routing record.
        batch_op.add_column(
            sa.Column("routing", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_index(batch_op.f("ix_help_request_expert_id"), ["expert_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_help_request_expert_id_expert", "expert", ["expert_id"], ["id"]
        )


def downgrade() -> None:

    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_help_request_expert_id_expert", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_help_request_expert_id"))
        batch_op.drop_column("routing")
        batch_op.drop_column("visit_record")
        batch_op.drop_column("visited_at")
        batch_op.drop_column("visit_booked_for")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("expert_id")

    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_event_request_id"))

    op.drop_table("request_event")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_request_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_openid"))
        batch_op.drop_index(batch_op.f("ix_outbox_next_try_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_status"))
        batch_op.drop_index(batch_op.f("ix_offer_request_id"))
        batch_op.drop_index(batch_op.f("ix_offer_expert_id"))
        batch_op.drop_index(batch_op.f("ix_offer_deadline_at"))

    op.drop_table("offer")
    with op.batch_alter_table("duty_shift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_shift_start"))
        batch_op.drop_index(batch_op.f("ix_duty_shift_expert_id"))
        batch_op.drop_index(batch_op.f("ix_duty_shift_end"))

    op.drop_table("duty_shift")
    op.drop_table("team")
    with op.batch_alter_table("place", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_place_village"))
        batch_op.drop_index(batch_op.f("ix_place_township"))
        batch_op.drop_index(batch_op.f("ix_place_county"))

    op.drop_table("place")
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expert_team"))
        batch_op.drop_index(batch_op.f("ix_expert_openid"))

    op.drop_table("expert")
