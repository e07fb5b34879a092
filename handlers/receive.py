"""The one entry point for an inbound push: log it, dispatch it, log the reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers import conversation, events, expert, intake, texts
from handlers.advisories import change_subscription
from handlers.config import Policy
from handlers.inbound import MAX_MESSAGE_CHARS, Inbound
from handlers.outcomes import answer_check, release_held_checks
from handlers.personal_data import answer_privacy_words
from handlers.registry import Context, find_handler
from handlers.survey import answer_survey, release_held_surveys
from models.appends import append
from models.experts import find_expert
from models.farmers import get_or_create_farmer
from models.outbox import release_held
from models.senders import SenderState, read_sender_state
from models.tables import Farmer, HelpRequest, Message


@dataclass
class Received:
    """The stored inbound message and the reply text for it (None: answer "success")."""

    message: Message
    reply: str | None


def log_inbound(*, session: Session, inbound: Inbound, now: datetime, status: str) -> Message:
    """Store the inbound push under its dedupe key; flushing raises if it was stored before."""
    farmer = get_or_create_farmer(session=session, openid=inbound.openid, now=now)
    message = _inbound_message(inbound=inbound, farmer=farmer, now=now, status=status)
    session.add(message)
    session.flush()
    return message


def _inbound_message(*, inbound: Inbound, farmer: Farmer, now: datetime, status: str) -> Message:
    return Message(
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


def receive(
    *,
    session: Session,
    inbound: Inbound,
    now: datetime,
    config: Policy | None = None,
    farmer: Farmer | None = None,
    sender: SenderState | None = None,
    reply_body: Callable[[str | None], str] | None = None,
) -> Received:
    """Store the push, run its handler and log the passive reply, all in this session.

    `farmer` is the sender's row, already locked by the caller (looked up otherwise),
    and `sender` what the caller read about them after locking it (read otherwise).
    `reply_body` turns the reply text into the body stored with the message (the
    webhook's XML), so that a retry is answered with exactly the same bytes. The
    message is written last, once the handler has linked it to its request, in one
    INSERT together with the reply; no handler reads messages.
    """
    if farmer is None:
        farmer = get_or_create_farmer(session=session, openid=inbound.openid, now=now)
    message = _inbound_message(inbound=inbound, farmer=farmer, now=now, status="handled")
    assert farmer.id is not None
    if sender is None:
        sender = read_sender_state(
            session=session,
            farmer_id=farmer.id,
            openid=inbound.openid,
            dedupe_key=inbound.dedupe_key,
        )
    context = Context(
        session=session,
        now=now,
        farmer=farmer,
        message=message,
        sender=sender,
        config=config or Policy(),
        expert=find_expert(session=session, openid=inbound.openid),
    )
    reply = route_inbound(context, inbound)
    if inbound.opens_window and farmer.erased_at is None:
        farmer.last_message_at = now
        # The 48 h customer-service window is open again: send what was held for them
        # (a survey is held together with its question in the outbox).
        released = (
            release_held(session=session, openid=inbound.openid, now=now)
            if sender.anything_held
            else []
        )
        if "survey" in released:
            release_held_surveys(session, farmer_id=farmer.id, now=now)
        if "outcome" in released:
            release_held_checks(session, farmer_id=farmer.id, now=now)
    notices = list(context.notices)
    first_words = farmer.privacy_noticed_at is None and farmer.erased_at is None
    if first_words and context.expert is None and inbound.opens_window:
        # Followed before the welcome carried the notice: their first message gets it.
        farmer.privacy_noticed_at = now
        reply = (reply or "").rstrip() + events.privacy_notice(context)
        reply = reply.lstrip("\n")
    if inbound.truncated:
        notices.insert(0, texts.MESSAGE_TOO_LONG.format(limit=MAX_MESSAGE_CHARS))
    if notices:
        reply = "".join(notices) + (reply or "")
    if reply_body is not None:
        message.reply_body = reply_body(reply)
    if message.id is not None:  # flushed already: a media row names it
        if reply is not None:
            log_reply(session=session, inbound_message=message, content=reply, now=now)
    else:
        _insert_messages(session, message, reply, now)
    return Received(message=message, reply=reply)


def _insert_messages(session: Session, message: Message, reply: str | None, now: datetime) -> None:
    """Append the message and its passive reply as plain rows (models/appends.py): they
    go in one INSERT before the push commits; nothing reads them back in this push."""
    append(session, Message, **{key: getattr(message, key) for key in _COLUMNS})
    if reply is not None:
        append(session, Message, **_reply_values(message, reply, now))


_COLUMNS = tuple(column.key for column in Message.__table__.columns if column.key != "id")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Taken:
    """A step took the message; `reply` is the passive reply (None: answer "success")."""

    reply: str | None


# A step takes the message (returns Taken) or passes it on to the next (returns None).
Step = Callable[[Context, Inbound], Taken | None]


def take_subscription(context: Context, inbound: Inbound) -> Taken | None:
    """退订 / 订阅 turn advisories off and on, whoever writes it."""
    if inbound.msg_type != "text":
        return None
    words = "".join(inbound.words.split()).strip("。！!.")
    reply = change_subscription(context.farmer, words)
    return None if reply is None else Taken(reply)


def take_privacy_request(context: Context, inbound: Inbound) -> Taken | None:
    """我的信息, 删除我的信息 / 确认删除, 留定位 / 不留定位, whoever writes it."""
    if inbound.msg_type != "text" or len(inbound.words) > 12:
        return None
    reply = answer_privacy_words(
        context.session,
        farmer=context.farmer,
        message=context.message,
        words=inbound.words,
        config=context.config,
        now=context.now,
    )
    return None if reply is None else Taken(reply)


def take_survey_answer(context: Context, inbound: Inbound) -> Taken | None:
    """While a survey waits for its answer, the farmer's words go to it first."""
    if inbound.msg_type not in ("text", "voice"):
        return None
    assert context.farmer.id is not None
    survey = context.open_survey()
    if survey is None:
        return None
    reply = answer_survey(
        context.session, survey=survey, inbound=inbound, policy=context.config, now=context.now
    )
    if reply is None:
        return None  # not an answer: the farmer is talking about something else
    context.message.request_id = survey.request_id
    return Taken(reply)


def take_outcome_answer(context: Context, inbound: Inbound) -> Taken | None:
    """While the question of how the treatment worked waits, an answer goes to it, and a
    photo joins the request it is about."""
    check = context.open_check()
    if check is None or context.open_request() is not None:
        return None  # a request in progress has the farmer's words (and photos)
    if inbound.msg_type == "image":
        request = context.session.get(HelpRequest, check.request_id)
        if request is None:
            return None
        intake.attach_message(context, inbound, request, keep_words=False)
        return Taken(texts.OUTCOME_PHOTO.format(code=request.code))
    if inbound.msg_type not in ("text", "voice"):
        return None
    reply = answer_check(
        context.session,
        check=check,
        words=inbound.words,
        policy=context.config,
        now=context.now,
    )
    if reply is None:
        return None  # about something else
    context.message.request_id = check.request_id
    return Taken(reply)


def take_expert_command(context: Context, inbound: Inbound) -> Taken | None:
    """接单, 拒绝, 预约, 完成, 值班, 下班, 任务 from an expert."""
    if context.expert is None or inbound.msg_type == "event":
        return None
    reply = expert.run_command(context, context.expert, inbound)
    return None if reply is None else Taken(reply)


def take_expert_relay(context: Context, inbound: Inbound) -> Taken | None:
    """Anything else an active expert writes goes to the farmer of one of their requests.

    A deactivated expert's message addressed to a request (`A1251 …`) is refused with
    the reason; anything else they write is taken as any user's."""
    if context.expert is None or inbound.msg_type in ("event", "unknown"):
        return None
    if not context.expert.active:
        return Taken(expert.ACCOUNT_DISABLED) if expert.is_addressed(inbound) else None
    return Taken(expert.relay_to_farmer(context, context.expert, inbound))


def take_conversation_turn(context: Context, inbound: Inbound) -> Taken | None:
    """Social talk, status questions, cancelling in words and asking for a person."""
    if context.expert is not None and context.expert.active:
        return None
    reply = conversation.take_turn(context, inbound)
    return None if reply is None else Taken(reply)


def take_farmer_relay(context: Context, inbound: Inbound) -> Taken | None:
    """A farmer whose request an expert holds talks to that expert."""
    reply = intake.relay_if_accepted(context, inbound)
    return None if reply is None else Taken(reply)


def take_by_type(context: Context, inbound: Inbound) -> Taken | None:
    """The intake dialogue and events, by message type or event name."""
    return Taken(find_handler(inbound)(context, inbound))


# The way of every inbound message, in order: the first step that takes it wins.
STEPS: tuple[Step, ...] = (
    take_subscription,
    take_privacy_request,
    take_survey_answer,
    take_outcome_answer,
    take_expert_command,
    take_expert_relay,
    take_conversation_turn,
    take_farmer_relay,
    take_by_type,
)


def route_inbound(context: Context, inbound: Inbound) -> str | None:
    """Run the steps until one takes the message; return its reply."""
    for step in STEPS:
        taken = step(context, inbound)
        if taken is not None:
            return taken.reply
    return None


def log_reply(*, session: Session, inbound_message: Message, content: str, now: datetime) -> None:
    """Log a passive reply as an outbound message of the same conversation."""
    session.add(_reply_message(inbound_message, content, now))


def _reply_message(inbound_message: Message, content: str, now: datetime) -> Message:
    return Message(**_reply_values(inbound_message, content, now))


def _reply_values(inbound_message: Message, content: str, now: datetime) -> dict[str, Any]:
    """The columns of a passive reply to `inbound_message`, logged as an outbound message."""
    return {
        "direction": "out",
        "channel": "passive",
        "openid": inbound_message.openid,
        "farmer_id": inbound_message.farmer_id,
        "request_id": inbound_message.request_id,
        "msg_type": "text",
        "content": content,
        "status": "replied",
        "created_at": now,
        "payload": {},
    }
