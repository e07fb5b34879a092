"""Reading and writing farmers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from models.tables import Farmer


def get_farmer(*, session: Session, openid: str) -> Farmer | None:
    """Return the farmer with this openid, if known."""
    return session.exec(select(Farmer).where(Farmer.openid == openid)).first()


def lock_farmer(*, session: Session, openid: str, now: datetime) -> Farmer:
    """Return the farmer with this openid, created on first contact, locked for this session.

    Creating never clashes (INSERT … ON CONFLICT DO NOTHING) and the row stays locked
    until the transaction ends, so one sender's pushes are handled one at a time in
    every worker: a burst of messages cannot open two requests.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Farmer)
        .values(openid=openid, subscribed=True, created_at=now)
        .on_conflict_do_nothing(index_elements=[col(Farmer.openid)])
    )
    statement = (
        select(Farmer)
        .where(Farmer.openid == openid)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).one()


def get_or_create_farmer(*, session: Session, openid: str, now: datetime) -> Farmer:
    """Return the farmer with this openid, creating them on first contact."""
    return lock_farmer(session=session, openid=openid, now=now)


def recent_followers(
    *, session: Session, search: str = "", limit: int = 20
) -> list[tuple[Farmer, str | None]]:
    """The people who wrote most recently, each with the words of their last message."""
    from models.tables import Message

    statement = (
        select(Farmer)
        .where(col(Farmer.last_message_at).is_not(None))
        .order_by(col(Farmer.last_message_at).desc())
    )
    found: list[tuple[Farmer, str | None]] = []
    for farmer in session.exec(statement):
        last = session.exec(
            select(Message.content)
            .where(Message.openid == farmer.openid, Message.direction == "in")
            .order_by(col(Message.id).desc())
        ).first()
        if search and search not in (last or ""):
            continue
        found.append((farmer, last))
        if len(found) >= limit:
            break
    return found
