"""Delivering the outbox through the WeChat API, recording every attempt.

A row is claimed for one attempt with a conditional update (its `claimed_by` and a
short lease on `next_try_at`), so two deliverers never send it at once. The answer is
recorded right after the call. If the deliverer dies during the call itself, the
row stays claimed; the next scheduler to take the lease releases it at once and it
is sent again: a template message carries `client_msg_id`, so WeChat drops that
repeat, while a customer-service text may then arrive twice. That window is one
HTTP call; nothing else sends a row twice. In particular a database connection cut
after the call does not: the outcome is recorded again on a fresh connection (the
bookkeeping is retried, never the send) for as long as the claim's lease allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests
from sqlalchemy import Engine, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import col, select

from handlers.config import Policy
from handlers.notify import farmer_link
from models.db import session_scope
from models.farmers import get_farmer
from models.outbox import due_outbox
from models.tables import Message, Outbox
from scheduler.redact import redact

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # longer than one call may take (see bot/wechat_api.TIMEOUT)
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)
MAX_ATTEMPTS = 12
WINDOW_CLOSED = {45015, 45047}  # outside the 48 h window / over the message count
UNSENDABLE = -2  # farmhelp could not make the message (not a WeChat answer): not retried
# System busy, frequency limit, and token errors the client's one refresh did not cure.
RETRYABLE = {-1, 45009, 40001, 40014, 42001}
# Recording a send's outcome is tried again on a fresh connection for this long, so that
# with the call itself it stays inside the claim's lease in the usual case.
RECORD_FOR = timedelta(seconds=10)
BULK_SLICE = 0.25  # seconds of advisories a deliverer sends before it looks for pages again


class Sender(Protocol):
    def send(self, kind: str, openid: str, payload: dict[str, Any]) -> dict[str, Any]: ...


def deliver_outbox(
    *,
    engine: Engine,
    sender: Sender,
    now: datetime,
    limit: int = 50,
    deliverer: str = "deliverer",
    should_stop: Callable[[], bool] = lambda: False,
    lanes: list[int] | None = None,
    config: Policy | None = None,
) -> int:
    """Send every due push (of these lanes); return how many were sent (stops when asked).

    `config` signs the links an advisory's template messages get as they are sent (an
    advisory's rows are queued without them, see handlers/advisories.queue_batch);
    without it such a row fails with the reason.

    Advisories are sent for at most BULK_SLICE seconds a call, after the urgent pushes:
    the next call looks for new pages first, so a page waits behind a few advisories
    at most, never behind a county's."""
    with session_scope(engine) as session:
        due = [
            (row.id, row.purpose == "advisory")
            for row in due_outbox(session=session, now=now, limit=limit, lanes=lanes)
        ]
    sent = 0
    bulk_until: float | None = None
    for row_id, bulk in due:
        if should_stop():
            break
        if bulk:
            if bulk_until is None:
                bulk_until = time.monotonic() + BULK_SLICE
            elif time.monotonic() > bulk_until:
                break
        if row_id is not None and _claim(engine, row_id, now, deliverer):
            sent += _deliver_one(engine, sender, row_id, now, deliverer[:128], config)
    return sent


def _claim(engine: Engine, row_id: int, now: datetime, deliverer: str) -> bool:
    with session_scope(engine) as session:
        result = session.execute(
            update(Outbox)
            .where(
                col(Outbox.id) == row_id,
                col(Outbox.status) == "pending",
                col(Outbox.next_try_at) <= now,
            )
            .values(next_try_at=now + LEASE, claimed_by=deliverer[:128])
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release_orphaned_claims(*, engine: Engine, keep: str, now: datetime) -> int:
    """Free rows claimed by deliverers that died mid-attempt (called on taking the lease)."""
    with session_scope(engine) as session:
        orphaned = list(
            session.exec(
                select(Outbox).where(
                    col(Outbox.status) == "pending",
                    col(Outbox.claimed_by).is_not(None),
                    col(Outbox.claimed_by) != keep,
                )
            )
        )
        for row in orphaned:
            log.warning(
                "outbox %d was being sent by %s, which stopped mid-call; sending it again",
                row.id,
                row.claimed_by,
            )
            row.claimed_by, row.next_try_at = None, now
        return len(orphaned)


def _deliver_one(
    engine: Engine,
    sender: Sender,
    row_id: int,
    now: datetime,
    deliverer: str,
    config: Policy | None = None,
) -> int:
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        farmer = get_farmer(session=session, openid=row.openid)
        if farmer is not None and not farmer.subscribed:
            row.status, row.claimed_by = "dropped", None
            log.info("outbox %d dropped: %s has unsubscribed", row_id, row.openid)
            return 0
        if farmer is not None and row.purpose == "advisory" and not farmer.advisories:
            row.status, row.claimed_by = "dropped", None
            row.last_error = "farmer replied 退订"
            return 0
        kind, openid, payload = row.kind, row.openid, dict(row.payload)
        unlinked = kind == "template" and row.purpose == "advisory" and not payload.get("url")
        advisory_id, farmer_id = row.advisory_id, farmer.id if farmer is not None else None
    if unlinked:
        # The farmer's own link to the whole advisory and its 退订 button, signed now.
        if config is None or advisory_id is None or farmer_id is None:
            error = "advisory link: no county settings or farmer to sign it for"
            return _record_outcome(engine, row_id, kind, UNSENDABLE, error, now, deliverer)
        payload["url"] = farmer_link(config, "advisory", a=advisory_id, f=farmer_id)
    if kind == "template":
        # WeChat sends one template message per openid + client_msg_id (10 minutes),
        # so a repeat after a crash mid-call is dropped by WeChat itself.
        payload.setdefault("client_msg_id", f"farmhelp-outbox-{row_id}")
    errcode: int | None = None
    error = ""
    msgid: str | None = None
    try:
        answer = sender.send(kind, openid, payload)
        if kind == "template" and isinstance(answer, dict) and answer.get("msgid") is not None:
            msgid = str(answer["msgid"])[:32]  # matched by TEMPLATESENDJOBFINISH later
    except requests.RequestException as exc:
        errcode, error = -1, redact(f"network: {exc}")
    except Exception as exc:  # WeChatAPIError and anything unexpected
        errcode, error = int(getattr(exc, "errcode", -1)), redact(str(exc))
    return _record_outcome(engine, row_id, kind, errcode, error, now, deliverer, msgid)


def _record_outcome(
    engine: Engine,
    row_id: int,
    kind: str,
    errcode: int | None,
    error: str,
    now: datetime,
    deliverer: str,
    msgid: str | None = None,
) -> int:
    """Record what the call did, again on a fresh connection if the database drops it."""
    deadline = time.monotonic() + RECORD_FOR.total_seconds()
    pause = 0.1
    while True:
        try:
            return _record_once(engine, row_id, kind, errcode, error, now, deliverer, msgid)
        except DBAPIError as failure:
            lost = failure.connection_invalidated or isinstance(failure, OperationalError)
            if not lost or time.monotonic() + pause > deadline:
                raise
            log.warning(
                "outbox %d: recording its outcome lost the database connection (%s);"
                " recording it again (it is not sent again)",
                row_id,
                type(failure.orig).__name__,
            )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _record_once(
    engine: Engine,
    row_id: int,
    kind: str,
    errcode: int | None,
    error: str,
    now: datetime,
    deliverer: str,
    msgid: str | None = None,
) -> int:
    with session_scope(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        if row.claimed_by != deliverer:
            # An earlier try committed before its connection dropped: recorded already.
            return int(row.status == "sent")
        row.attempts = [
            *row.attempts,
            {"at": now.isoformat(), "kind": kind, "errcode": errcode or 0, "error": error},
        ]
        row.last_errcode, row.last_error = errcode, error or None
        row.claimed_by = None
        if errcode is None:
            row.status, row.sent_at = "sent", now
            row.wechat_msgid = msgid
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
        content = (payload.get("text") or {}).get("content")  # None: erased meanwhile
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
