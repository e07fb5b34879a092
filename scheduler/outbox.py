"""Delivering the outbox through the WeChat API, recording every attempt.

A row is claimed by pushing its next_try_at forward (a lease) with a conditional
update, so two schedulers never send it twice and a crash only delays it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests
from sqlalchemy import Engine, update
from sqlmodel import col

from models.db import session_scope
from models.farmers import get_farmer
from models.outbox import due_outbox
from models.tables import Message, Outbox

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)
MAX_ATTEMPTS = 12
WINDOW_CLOSED = {45015, 45047}  # outside the 48 h window / over the message count
# System busy, frequency limit, and token errors the client's one refresh did not cure.
RETRYABLE = {-1, 45009, 40001, 40014, 42001}


class Sender(Protocol):
    def send(self, kind: str, openid: str, payload: dict[str, Any]) -> dict[str, Any]: ...


def deliver_outbox(*, engine: Engine, sender: Sender, now: datetime, limit: int = 50) -> int:
    """Send every due push; return how many were sent."""
    with session_scope(engine) as session:
        due = [row.id for row in due_outbox(session=session, now=now, limit=limit)]
    sent = 0
    for row_id in due:
        if row_id is not None and _claim(engine, row_id, now):
            sent += _deliver_one(engine, sender, row_id, now)
    return sent


def _claim(engine: Engine, row_id: int, now: datetime) -> bool:
    with session_scope(engine) as session:
        result = session.execute(
            update(Outbox)
            .where(
                col(Outbox.id) == row_id,
                col(Outbox.status) == "pending",
                col(Outbox.next_try_at) <= now,
            )
            .values(next_try_at=now + LEASE)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _deliver_one(engine: Engine, sender: Sender, row_id: int, now: datetime) -> int:
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        farmer = get_farmer(session=session, openid=row.openid)
        if farmer is not None and not farmer.subscribed:
            row.status = "dropped"
            log.info("outbox %d dropped: %s has unsubscribed", row_id, row.openid)
            return 0
        kind, openid, payload = row.kind, row.openid, dict(row.payload)
    errcode: int | None = None
    error = ""
    try:
        sender.send(kind, openid, payload)
    except requests.RequestException as exc:
        errcode, error = -1, f"network: {exc}"
    except Exception as exc:  # WeChatAPIError and anything unexpected
        errcode, error = int(getattr(exc, "errcode", -1)), str(exc)
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        row.attempts = [
            *row.attempts,
            {"at": now.isoformat(), "kind": kind, "errcode": errcode or 0, "error": error},
        ]
        row.last_errcode, row.last_error = errcode, error or None
        if errcode is None:
            row.status, row.sent_at = "sent", now
            _log_sent(session, row, now)
            return 1
        _after_failure(row, errcode, error, now)
    return 0


def _after_failure(row: Outbox, errcode: int, error: str, now: datetime) -> None:
    if errcode in WINDOW_CLOSED:
        if row.fallback is not None:
            log.warning(
                "outbox %d to %s: %s; falling back to a template message", row.id, row.openid, error
            )
            row.kind, row.payload, row.fallback = "template", row.fallback, None
            row.next_try_at = now
            return
        row.status = "held"
        log.warning(
            "outbox %d to %s held until the user writes again: %s", row.id, row.openid, error
        )
        return
    retryable = errcode in RETRYABLE or error.startswith(("network:", "HTTP 5"))
    if retryable and len(row.attempts) < MAX_ATTEMPTS:
        delay = min(FIRST_RETRY * 2 ** (len(row.attempts) - 1), LONGEST_RETRY)
        row.next_try_at = now + delay
        log.warning("outbox %d to %s failed (%s), retry in %s", row.id, row.openid, error, delay)
        return
    row.status = "failed"
    log.error(
        "outbox %d to %s failed for good after %d attempts: %s",
        row.id,
        row.openid,
        len(row.attempts),
        error,
    )


def _log_sent(session: Any, row: Outbox, now: datetime) -> None:
    """Put a delivered push into the conversation log."""
    payload = row.payload
    msg_type = str(payload.get("msgtype", "template" if row.kind == "template" else "text"))
    content = None
    if msg_type == "text":
        content = payload["text"]["content"]
    elif row.kind == "template":
        content = " / ".join(str(v.get("value", "")) for v in payload.get("data", {}).values())
    media = payload.get(msg_type) if isinstance(payload.get(msg_type), dict) else {}
    farmer = get_farmer(session=session, openid=row.openid)
    session.add(
        Message(
            direction="out",
            channel=row.kind,
            openid=row.openid,
            farmer_id=farmer.id if farmer else None,
            request_id=row.request_id,
            msg_type=msg_type,
            content=content,
            media_id=media.get("media_id") if media else None,
            payload={"purpose": row.purpose, "outbox_id": row.id},
            status="sent",
            created_at=now,
        )
    )
