"""Reading and writing farmers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, false, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col, select

from models.search import phone_part, places_named
from models.tables import Expert, Farmer, HelpRequest

ENDED = ("closed", "cancelled")


def get_farmer(*, session: Session, openid: str) -> Farmer | None:
    """Return the farmer with this openid, if known."""
    return session.exec(select(Farmer).where(Farmer.openid == openid)).first()


def lock_farmer(*, session: Session, openid: str, now: datetime, wrote: bool = False) -> Farmer:
    """Return the farmer with this openid, created on first contact, locked for this session.

    See `lock_farmer_id`; this reads the locked row as well.
    """
    farmer_id = lock_farmer_id(session=session, openid=openid, now=now, wrote=wrote)
    farmer = session.get(Farmer, farmer_id, populate_existing=True)
    assert farmer is not None
    return farmer


def lock_farmer_id(*, session: Session, openid: str, now: datetime, wrote: bool = False) -> int:
    """Create the farmer with this openid on first contact, lock their row; return its id.

    One statement (INSERT … ON CONFLICT DO UPDATE … RETURNING) creates the row or
    takes its lock, never clashing; the row stays locked until the transaction ends,
    so one sender's pushes are handled one at a time in every worker and a burst of
    messages cannot open two requests. `wrote`: the push is a message, which opens
    the 48 h customer-service window, so `last_message_at` becomes `now` as well.
    """
    statement = _upsert_farmer(session.get_bind().dialect.name, wrote)
    return int(session.execute(statement, {"openid": openid, "now": now}).scalar_one())


@functools.cache
def _upsert_farmer(dialect: str, wrote: bool) -> ReturningInsert[tuple[int]]:
    """Built once per dialect (every push runs it; building it costs more than running it).

    A plain table statement, not an ORM one: it returns the id and loads no object.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    farmer = Farmer.__table__  # type: ignore[attr-defined]
    statement = insert(farmer).values(
        openid=bindparam("openid"),
        subscribed=True,
        advisories=True,
        created_at=bindparam("now"),
        last_message_at=bindparam("now") if wrote else None,
    )
    # Updating a column to itself still takes the row lock, as SELECT … FOR UPDATE would.
    column = "last_message_at" if wrote else "openid"
    return statement.on_conflict_do_update(
        index_elements=[farmer.c.openid], set_={column: statement.excluded[column]}
    ).returning(farmer.c.id)


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


@dataclass(frozen=True)
class FarmerRow:
    """One line of the farmer list: who, where, and how many requests are open."""

    farmer: Farmer
    open_requests: int
    requests: int
    township: str | None
    village: str | None


def list_farmers(
    session: Session,
    *,
    words: str = "",
    phones: bool = False,
    places: tuple[tuple[str, str], ...] = (),
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[FarmerRow], int]:
    """One page of farmers, the latest to write first, found by name, village or (for
    roles that may see it) any part of their phone; and how many match in all."""
    # Experts write to the account too (接单 …); they are not farmers.
    conditions: list[Any] = [
        col(Farmer.erased_at).is_(None),
        col(Farmer.openid).not_in(select(Expert.openid)),
    ]
    words = words.strip()
    if words:
        digits = phone_part(words)
        if digits:
            conditions.append(col(Farmer.phone).contains(digits) if phones else false())
        else:
            townships, villages = places_named(places, words)
            lived = select(HelpRequest.farmer_id).where(
                or_(
                    col(HelpRequest.township).in_(townships),
                    col(HelpRequest.village).in_(villages),
                )
            )
            conditions.append(
                or_(
                    col(Farmer.name).contains(words),
                    col(Farmer.place).contains(words),
                    col(Farmer.id).in_(lived),
                )
            )
    total = session.exec(select(func.count()).select_from(Farmer).where(*conditions)).one()
    farmers = list(
        session.exec(
            select(Farmer)
            .where(*conditions)
            .order_by(col(Farmer.last_message_at).desc().nulls_last(), col(Farmer.id).desc())
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    )
    ids = [f.id for f in farmers]
    counts: dict[int, tuple[int, int]] = {}
    where: dict[int, tuple[str | None, str | None]] = {}
    for farmer_id, status, township, village in session.exec(
        select(HelpRequest.farmer_id, HelpRequest.status, HelpRequest.township, HelpRequest.village)
        .where(col(HelpRequest.farmer_id).in_(ids), col(HelpRequest.status) != "intake")
        .order_by(col(HelpRequest.id))
    ):
        open_now, all_of = counts.get(farmer_id, (0, 0))
        counts[farmer_id] = (open_now + (status not in ENDED), all_of + 1)
        if township or village:
            where[farmer_id] = (township, village)
    rows = [
        FarmerRow(f, *counts.get(f.id or 0, (0, 0)), *where.get(f.id or 0, (None, None)))
        for f in farmers
    ]
    return rows, int(total)
