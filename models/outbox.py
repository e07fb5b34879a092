"""The outbox: pushes waiting to go out through the WeChat API."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from models.appends import append
from models.tables import Outbox


def queue(
    *,
    session: Session,
    openid: str,
    payload: dict[str, Any],
    now: datetime,
    purpose: str,
    request_id: int | None = None,
    kind: str = "custom",
    status: str = "pending",
    fallback: dict[str, Any] | None = None,
) -> None:
    """Queue one push (a page, a relay, a survey; `held` until the farmer writes) as a
    plain row, written before the session's next statement (models/appends.py); the
    scheduler delivers it. `fallback`: a template to send if the 48 h window is shut."""
    row = queued_row(
        openid=openid, kind=kind, payload=payload, purpose=purpose, now=now, status=status
    )
    append(session, Outbox, **row | {"request_id": request_id, "fallback": fallback})


def queued_row(
    *,
    openid: str,
    kind: str,
    payload: dict[str, Any],
    purpose: str,
    now: datetime,
    status: str = "pending",
    advisory_id: int | None = None,
) -> dict[str, Any]:
    """One push as a row of values, for `enqueue_rows` (and `queue`)."""
    return {
        "lane": lane_of(openid),
        "openid": openid,
        "kind": kind,
        "payload": payload,
        "fallback": None,
        "purpose": purpose,
        "request_id": None,
        "status": status,
        "attempts": [],
        "next_try_at": now,
        "created_at": now,
        "advisory_id": advisory_id,
    }


def enqueue_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue many pushes in one plain INSERT (no row objects): an advisory's thousands."""
    if rows:
        session.execute(insert(Outbox.__table__), rows)  # type: ignore[attr-defined]


LANES = 64


def lane_of(openid: str) -> int:
    """The recipient's lane (0..63), stable across processes."""
    return zlib.crc32(openid.encode()) % LANES


def due_outbox(
    *,
    session: Session,
    now: datetime,
    limit: int = 50,
    advisory_limit: int = 20,
    lanes: list[int] | None = None,
) -> list[Outbox]:
    """Return pending pushes whose next attempt is due, oldest first.

    Pages, relays and notices come first; advisories (sent to many at once) fill in
    at most `advisory_limit` a run, which keeps a county-wide advisory under
    WeChat's rate limits without delaying anyone's help. `lanes` keeps to the rows of
    one deliverer's recipients.
    """
    due = (
        select(Outbox)
        .where(Outbox.status == "pending", col(Outbox.next_try_at) <= now)
        .order_by(col(Outbox.id))
    )
    if lanes is not None:
        due = due.where(col(Outbox.lane).in_(lanes))
    urgent = list(session.exec(due.where(Outbox.purpose != "advisory").limit(limit)))
    bulk = list(session.exec(due.where(Outbox.purpose == "advisory").limit(advisory_limit)))
    return urgent + bulk


def release_held(*, session: Session, openid: str, now: datetime) -> list[str]:
    """The user wrote, so the 48 h window is open again: send what was held for them.

    Returns the purposes of the released messages ("survey", "relay" …), one each.
    """
    held = list(
        session.exec(select(Outbox).where(Outbox.openid == openid, Outbox.status == "held"))
    )
    for row in held:
        row.status = "pending"
        row.next_try_at = now
    return [row.purpose for row in held]


def drop_pending(
    *, session: Session, request_id: int, purposes: tuple[str, ...], openid: str | None = None
) -> int:
    """Drop pushes about a request that have not gone out yet (they no longer hold)."""
    statement = select(Outbox).where(
        Outbox.request_id == request_id,
        col(Outbox.status).in_(("pending", "held")),
        col(Outbox.purpose).in_(purposes),
        col(Outbox.claimed_by).is_(None),
    )
    if openid is not None:
        statement = statement.where(Outbox.openid == openid)
    rows = list(session.exec(statement))
    for row in rows:
        row.status = "dropped"
        row.last_error = "superseded before it was sent"
    return len(rows)


def list_outbox(*, session: Session, openid: str | None = None) -> list[Outbox]:
    """Return pushes, oldest first, optionally to one user."""
    statement = select(Outbox).order_by(col(Outbox.id))
    if openid is not None:
        statement = statement.where(Outbox.openid == openid)
    return list(session.exec(statement))


def deliveries_of(*, session: Session, request_id: int) -> list[Outbox]:
    """The pages and surveys sent about one request, oldest first, with their delivery."""
    statement = (
        select(Outbox)
        .where(Outbox.request_id == request_id, col(Outbox.purpose).in_(("page", "survey")))
        .order_by(col(Outbox.id))
    )
    return list(session.exec(statement))
