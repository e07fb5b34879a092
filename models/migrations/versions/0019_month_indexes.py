"""indexes for a province's year: one month's requests confirmed and accepted and
surveys sent, the cases each expert has in hand, one expert's events in a period; an
advisory's outbox rows written in batches (queued, queued_through, queued_at); the
deliverers' look for due rows, urgent ones apart from advisories
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
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
        batch_op.create_index(
            "ix_help_request_status_expert", ["status", "expert_id"], unique=False
        )
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.create_index("ix_request_event_actor_at", ["actor", "at"], unique=False)
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_sent_at"), ["sent_at"], unique=False)
    with op.batch_alter_table("advisory", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("queued_through", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("queued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_advisory_queued_at"), ["queued_at"], unique=False)
    due = {"urgent": "purpose <> 'advisory'", "advisory": "purpose = 'advisory'"}
    for name, purpose in due.items():
        where = sa.text(f"status = 'pending' AND {purpose}")
        op.create_index(
            f"ix_outbox_due_{name}",
            "outbox",
            ["id"],
            unique=False,
            postgresql_where=where,
            sqlite_where=where,
        )
    # Advisories sent before were queued whole when sent.
    op.execute("UPDATE advisory SET queued = recipients, queued_at = sent_at")


def downgrade() -> None:
    op.drop_index("ix_outbox_due_advisory", table_name="outbox")
    op.drop_index("ix_outbox_due_urgent", table_name="outbox")
    with op.batch_alter_table("advisory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisory_queued_at"))
        batch_op.drop_column("queued_at")
        batch_op.drop_column("queued_through")
        batch_op.drop_column("queued")
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_sent_at"))
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.drop_index("ix_request_event_actor_at")
    with op.batch_alter_table("help_request", schema=None) as batch_op:
        batch_op.drop_index("ix_help_request_status_expert")
        batch_op.drop_index(batch_op.f("ix_help_request_accepted_at"))
        batch_op.drop_index(batch_op.f("ix_help_request_confirmed_at"))
