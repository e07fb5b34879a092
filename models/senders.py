"""What handling a push needs to know about its sender first, read in one statement.

Read once the sender's row is locked (`lock_farmer_id`): the lock is taken by an
earlier statement, so this one sees everything a concurrent copy of the push, or
an earlier push of the same sender, committed before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BindParameter, bindparam
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models.generations import number_columns, remember_numbers
from models.requests import OPEN_STATUSES
from models.tables import (
    SURVEY_OPEN_STATES,
    Farmer,
    HelpRequest,
    Message,
    Outbox,
    Survey,
    TreatmentCheck,
)


@dataclass(frozen=True)
class SenderState:
    """The sender, their open request and survey, held pushes, and whether this is a retry."""

    farmer: Farmer
    open_request: HelpRequest | None  # their most recent open request
    open_survey_id: int | None  # their most recent survey waiting for an answer
    open_check_id: int | None  # their treatment check asked and not yet answered
    anything_held: bool  # pushes to them held until they write (the 48 h window)
    stored_message_id: int | None  # this very push was stored before: WeChat retried it
    stored_reply: str | None  # the reply body stored with it


def read_sender_state(
    *, session: Session, farmer_id: int, openid: str, dedupe_key: str
) -> SenderState:
    """Everything in SenderState in one round trip: the farmer's row joined to their
    open request, with the rest as scalar subqueries.

    The same statement reads the cached data's generation numbers, so that this
    push checks its copies of experts, places and the roster without a query.
    """
    farmer, request, survey_id, check_id, held, stored_id, stored_reply, *numbers = session.execute(
        _SENDER_STATE, {"farmer_id": farmer_id, "openid": openid, "dedupe_key": dedupe_key}
    ).one()
    remember_numbers(session, numbers)
    return SenderState(
        farmer=farmer,
        open_request=request,
        open_survey_id=survey_id,
        open_check_id=check_id,
        anything_held=bool(held),
        stored_message_id=stored_id,
        stored_reply=stored_reply,
    )


# Built once: every push runs it, and building it costs more than running it.
_dedupe_key: BindParameter[str] = bindparam("dedupe_key")
_farmer_id: BindParameter[int] = bindparam("farmer_id")
_open = aliased(HelpRequest)
_open_request_id = (
    select(_open.id)
    .where(_open.farmer_id == _farmer_id)
    .where(col(_open.status).in_(OPEN_STATUSES))
    .order_by(col(_open.id).desc())
    .limit(1)
    .scalar_subquery()
)
_SENDER_STATE = (
    select_columns(
        Farmer,
        HelpRequest,
        select(Survey.id)
        .where(Survey.farmer_id == _farmer_id)
        .where(col(Survey.state).in_(SURVEY_OPEN_STATES))
        .order_by(col(Survey.id).desc())
        .limit(1)
        .scalar_subquery(),
        select(TreatmentCheck.id)
        .where(TreatmentCheck.farmer_id == _farmer_id, TreatmentCheck.state == "sent")
        .order_by(col(TreatmentCheck.id).desc())
        .limit(1)
        .scalar_subquery(),
        select(Outbox.id)
        .where(Outbox.openid == bindparam("openid"), Outbox.status == "held")
        .exists(),
        select(Message.id).where(Message.dedupe_key == _dedupe_key).scalar_subquery(),
        select(Message.reply_body).where(Message.dedupe_key == _dedupe_key).scalar_subquery(),
        *number_columns(),
    )
    .select_from(Farmer)
    .outerjoin(HelpRequest, col(HelpRequest.id) == _open_request_id)
    .where(col(Farmer.id) == _farmer_id)
    .execution_options(populate_existing=True)
)
