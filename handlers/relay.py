"""Relaying messages between a farmer and the expert on their request, through the account.

Neither side sees the other's openid or phone number; every relayed message is
queued in the outbox with the request's id and logged when it is delivered. What the
other side wrote is always quoted line by line under a header naming who wrote it,
so nothing inside a relayed message can pass for a message from the system.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers import texts
from handlers.inbound import Inbound
from handlers.notify import text_payload
from models.outbox import queue
from models.tables import HelpRequest, Message

_MEDIA_MESSAGE = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}
# The system's own messages start with 【…】; quoted words may not.
_BRACKETS = str.maketrans({"【": "[", "】": "]", "〖": "[", "〗": "]"})
QUOTE_MARK = "｜"


def quote(words: str) -> str:
    """Quote someone's words for relaying: every line marked, no system brackets inside."""
    lines = words.translate(_BRACKETS).splitlines() or [""]
    return "\n".join(f"{QUOTE_MARK}{line}" for line in lines)


def relayed_text(speaker: str, words: str) -> str:
    """The text the other side receives: `【speaker】` and the quoted words."""
    return f"【{speaker.translate(_BRACKETS)}】\n{quote(words)}"


def relay(
    session: Session,
    *,
    inbound: Inbound,
    message: Message,
    request: HelpRequest,
    to_openid: str,
    speaker: str,
    now: datetime,
    words: str | None = None,
    precise: bool = True,
) -> None:
    """Forward one message (text, or a photo / voice note / video) to the other side.

    `speaker` names who wrote it ("A1000 农户", "王植保专家"); it is data, never a
    format string. `words` overrides the message's own words (e.g. without a code).
    A location goes with its coordinates only when `precise` (the farmer's consent).
    """
    message.request_id = request.id
    if inbound.msg_type in _MEDIA_MESSAGE and inbound.media_id:
        kind = _MEDIA_MESSAGE[inbound.msg_type]
        note = f"发来{texts.MEDIA_NAMES[inbound.msg_type]}，见下条"
        if inbound.recognition:
            note += f"（语音识别：{inbound.recognition}）"
        queue(
            session=session,
            openid=to_openid,
            payload=text_payload(relayed_text(speaker, note)),
            now=now,
            purpose="relay",
            request_id=request.id,
        )
        media_payload: dict[str, object] = {"msgtype": kind, kind: {"media_id": inbound.media_id}}
        if kind == "video":
            media_payload[kind] = {"media_id": inbound.media_id, "title": "视频"}
        queue(
            session=session,
            openid=to_openid,
            payload=media_payload,
            now=now,
            purpose="relay",
            request_id=request.id,
        )
        return
    content = (inbound.words or inbound.url or "") if words is None else words
    if inbound.msg_type == "location":
        content = f"位置：{inbound.label or ''}"
        if precise:
            content += f"（{inbound.latitude}, {inbound.longitude}）"
    if content:
        queue(
            session=session,
            openid=to_openid,
            payload=text_payload(relayed_text(speaker, content)),
            now=now,
            purpose="relay",
            request_id=request.id,
        )
