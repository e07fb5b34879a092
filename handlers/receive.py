"""The one entry point for an inbound push: log it, dispatch it, log the reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from handlers import events, expert, intake, texts  # noqa: F401  (registers their handlers)
from handlers.config import Policy
from handlers.inbound import MAX_MESSAGE_CHARS, Inbound
from handlers.registry import Context, find_handler
from handlers.survey import answer_survey, open_survey, release_held_surveys
from models.experts import get_expert
from models.farmers import get_or_create_farmer
from models.outbox import release_held
from models.tables import Farmer, Message


@dataclass
class Received:
    """The stored inbound message and the reply text for it (None: answer "success")."""

    message: Message
    reply: str | None


def log_inbound(*, session: Session, inbound: Inbound, now: datetime, status: str) -> Message:
    """Store the inbound push under its dedupe key; flushing raises if it was stored before."""
    farmer = get_or_create_farmer(session=session, openid=inbound.openid, now=now)
    return _log_inbound(session=session, inbound=inbound, farmer=farmer, now=now, status=status)


def _log_inbound(
    *, session: Session, inbound: Inbound, farmer: Farmer, now: datetime, status: str
) -> Message:
    message = Message(
        direction="in",
        channel="push",
        openid=inbound.openid,
        farmer_id=farmer.id,
        msg_type=inbound.msg_type,
        event=inbound.event,
        content=inbound.words or None,
        media_id=inbound.media_id,
        wechat_msg_id=inbound.msg_id,
        dedupe_key=inbound.dedupe_key,
        payload=inbound.fields,
        status=status,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def receive(
    *,
    session: Session,
    inbound: Inbound,
    now: datetime,
    config: Policy | None = None,
    farmer: Farmer | None = None,
) -> Received:
    """Store the push, run its handler and log the passive reply, all in this session.

    `farmer` is the sender's row, already locked by the caller (looked up otherwise).
    """
    if farmer is None:
        farmer = get_or_create_farmer(session=session, openid=inbound.openid, now=now)
    message = _log_inbound(
        session=session, inbound=inbound, farmer=farmer, now=now, status="handled"
    )
    policy = config or Policy()
    assert farmer.id is not None
    reply = None
    context: Context | None = None
    survey = (
        open_survey(session, farmer_id=farmer.id) if inbound.msg_type in ("text", "voice") else None
    )
    if survey is not None:
        # While a survey waits for its answer, the farmer's words go to it first.
        reply = answer_survey(session, survey=survey, inbound=inbound, policy=policy, now=now)
        if reply is not None:
            message.request_id = survey.request_id
    if reply is None:
        expert_sender = get_expert(session=session, openid=inbound.openid)
        handler = find_handler(inbound, from_expert=expert_sender is not None)
        context = Context(
            session=session,
            now=now,
            farmer=farmer,
            message=message,
            config=policy,
            expert=expert_sender,
        )
        reply = handler(context, inbound)
    if inbound.msg_type != "event":
        farmer.last_message_at = now
        # The 48 h customer-service window is open again: send what was held for them.
        release_held_surveys(session, farmer_id=farmer.id, now=now)
        release_held(session=session, openid=inbound.openid, now=now)
    notices = list(context.notices) if context is not None else []
    if inbound.truncated:
        notices.insert(0, texts.MESSAGE_TOO_LONG.format(limit=MAX_MESSAGE_CHARS))
    if notices:
        reply = "".join(notices) + (reply or "")
    if reply is not None:
        log_reply(session=session, inbound_message=message, content=reply, now=now)
    return Received(message=message, reply=reply)


def log_reply(*, session: Session, inbound_message: Message, content: str, now: datetime) -> None:
    """Log a passive reply as an outbound message of the same conversation."""
    session.add(
        Message(
            direction="out",
            channel="passive",
            openid=inbound_message.openid,
            farmer_id=inbound_message.farmer_id,
            request_id=inbound_message.request_id,
            msg_type="text",
            content=content,
            status="replied",
            created_at=now,
        )
    )
