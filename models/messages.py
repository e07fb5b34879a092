"""The conversation log: inbound messages (with their dedupe keys) and outbound ones."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.tables import Message


def get_inbound_by_key(*, session: Session, dedupe_key: str) -> Message | None:
    """Return the stored inbound message for a dedupe key, if WeChat sent it before."""
    return session.exec(select(Message).where(Message.dedupe_key == dedupe_key)).first()


def list_messages(
    *, session: Session, openid: str | None = None, request_id: int | None = None
) -> list[Message]:
    """Return logged messages, oldest first, optionally for one user or one request."""
    statement = select(Message).order_by(col(Message.id))
    if openid is not None:
        statement = statement.where(Message.openid == openid)
    if request_id is not None:
        statement = statement.where(Message.request_id == request_id)
    return list(session.exec(statement))
