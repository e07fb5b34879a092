"""Relaying messages between a farmer and the expert on their request, through the account.

Neither side sees the other's openid or phone number; every relayed message is
queued in the outbox with the request's id and logged when it is delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers import texts
from handlers.inbound import Inbound
from handlers.notify import text_payload
from models.outbox import enqueue
from models.tables import HelpRequest, Message

_MEDIA_MESSAGE = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}


def relay(
    session: Session,
    *,
    inbound: Inbound,
    message: Message,
    request: HelpRequest,
    to_openid: str,
    header: str,
    now: datetime,
) -> None:
    """Forward one message (text, or a photo / voice note / video) to the other side."""
    message.request_id = request.id
    if inbound.msg_type in _MEDIA_MESSAGE and inbound.media_id:
        kind = _MEDIA_MESSAGE[inbound.msg_type]
        note = header.format(content=f"发来{texts.MEDIA_NAMES[inbound.msg_type]}：")
        enqueue(
            session=session,
            openid=to_openid,
            payload=text_payload(note),
            now=now,
            purpose="relay",
            request_id=request.id,
        )
        media_payload: dict[str, object] = {"msgtype": kind, kind: {"media_id": inbound.media_id}}
        if kind == "video":
            media_payload[kind] = {"media_id": inbound.media_id, "title": "农户视频"}
        enqueue(
            session=session,
            openid=to_openid,
            payload=media_payload,
            now=now,
            purpose="relay",
            request_id=request.id,
        )
        return
    words = inbound.words or inbound.url or ""
    if inbound.msg_type == "location":
        words = f"位置：{inbound.label or ''}（{inbound.latitude}, {inbound.longitude}）"
    if words:
        enqueue(
            session=session,
            openid=to_openid,
            payload=text_payload(header.format(content=words)),
            now=now,
            purpose="relay",
            request_id=request.id,
        )
