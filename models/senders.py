"""What handling a push needs to know about its sender first, read in one statement.

Read once the sender's row is locked (`lock_farmer`): the lock is taken by an
earlier statement, so this one sees everything a concurrent copy of the push, or
an earlier push of the same sender, committed before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BindParameter, bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from models.requests import OPEN_STATUSES
from models.tables import SURVEY_OPEN_STATES, HelpRequest, Message, Outbox, Survey


@dataclass(frozen=True)
class SenderState:
    """The sender's open request and survey, held pushes, and whether this push is a retry."""

    stored_message_id: int | None  # this very push was stored before: WeChat retried it
    stored_reply: str | None  # the reply body stored with it
    open_request_id: int | None  # their most recent open request
    open_survey_id: int | None  # their most recent survey waiting for an answer
    anything_held: bool  # pushes to them held until they write (the 48 h window)


def read_sender_state(
    *, session: Session, farmer_id: int, openid: str, dedupe_key: str
) -> SenderState:
    """Everything in SenderState, in one round trip (a SELECT of scalar subqueries)."""
    row = session.execute(
        _SENDER_STATE, {"farmer_id": farmer_id, "openid": openid, "dedupe_key": dedupe_key}
    ).one()
    return SenderState(
        stored_message_id=row[0],
        stored_reply=row[1],
        open_request_id=row[2],
        open_survey_id=row[3],
        anything_held=bool(row[4]),
    )


# Built once: every push runs it, and building it costs more than running it.
_dedupe_key: BindParameter[str] = bindparam("dedupe_key")
_farmer_id: BindParameter[int] = bindparam("farmer_id")
_SENDER_STATE = select_columns(
    select(Message.id).where(Message.dedupe_key == _dedupe_key).scalar_subquery(),
    select(Message.reply_body).where(Message.dedupe_key == _dedupe_key).scalar_subquery(),
    select(HelpRequest.id)
    .where(HelpRequest.farmer_id == _farmer_id)
    .where(col(HelpRequest.status).in_(OPEN_STATUSES))
    .order_by(col(HelpRequest.id).desc())
    .limit(1)
    .scalar_subquery(),
    select(Survey.id)
    .where(Survey.farmer_id == _farmer_id)
    .where(col(Survey.state).in_(SURVEY_OPEN_STATES))
    .order_by(col(Survey.id).desc())
    .limit(1)
    .scalar_subquery(),
    select(Outbox.id).where(Outbox.openid == bindparam("openid"), Outbox.status == "held").exists(),
)
