"""Personal information over time: erasure after unfollowing, retention, and clearing
the media files of erased data from disk.

Each pass works in small batches, one transaction each, and picks up where the last
one stopped (rows carry what was done: `erased_at`, `anonymised_at`, media `status`),
so a pass interrupted by a restart loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, update
from sqlmodel import col, select

from handlers.config import Policy
from handlers.personal_data import anonymise_requests, erase_farmer, mark_media
from models.db import session_scope
from models.tables import Expert, Farmer, HelpRequest, MediaFile, Message

log = logging.getLogger(__name__)

BATCH = 200
ANONYMISED = "anonymised"  # a message's status once retention blanked it


def erase_unfollowed(*, engine: Engine, policy: Policy, now: datetime, limit: int = 100) -> int:
    """Erase the data of farmers who unfollowed longer than the grace period ago."""
    cutoff = now - policy.unfollow_grace
    with session_scope(engine) as session:
        due = list(
            session.exec(
                select(Farmer.id)
                .where(
                    Farmer.subscribed == False,  # noqa: E712  (SQL, not Python)
                    col(Farmer.erased_at).is_(None),
                    col(Farmer.unsubscribed_at) <= cutoff,
                    col(Farmer.openid).not_in(select(Expert.openid)),
                )
                .limit(limit)
            )
        )
    erased = 0
    for farmer_id in due:
        with session_scope(engine) as session:
            farmer = session.exec(
                select(Farmer).where(Farmer.id == farmer_id).with_for_update()
            ).one()
            if farmer.subscribed or farmer.erased_at is not None:
                continue  # came back (or erased) meanwhile
            done = erase_farmer(session, farmer=farmer, config=policy, now=now)
            erased += 1
            log.info(
                "erased farmer %d %s after unfollowing: %d requests, %d messages, %d files",
                farmer_id,
                policy.unfollow_grace,
                done.requests,
                done.messages,
                done.media,
            )
    return erased


def apply_retention(
    *, engine: Engine, policy: Policy, now: datetime, batches: int = 50
) -> dict[str, int]:
    """Anonymise what is older than FARMHELP_RETENTION: ended requests (their words,
    messages and media), messages outside any request, farmers' phones and coordinates."""
    cutoff = now - policy.retention
    done = {"requests": 0, "messages": 0, "farmers": 0}
    for _ in range(batches):
        with session_scope(engine) as session:
            ids = [
                i
                for i in session.exec(
                    select(HelpRequest.id)
                    .where(
                        col(HelpRequest.anonymised_at).is_(None),
                        # Ended, or visited and never closed (the survey went unanswered).
                        (
                            col(HelpRequest.status).in_(("closed", "cancelled"))
                            & (col(HelpRequest.closed_at) <= cutoff)
                        )
                        | (
                            (col(HelpRequest.status) == "visited")
                            & (col(HelpRequest.visited_at) <= cutoff)
                        ),
                    )
                    .order_by(col(HelpRequest.id))
                    .limit(BATCH)
                )
                if i is not None
            ]
            if not ids:
                break
            anonymise_requests(session, ids, now)
            done["requests"] += len(ids)
    for _ in range(batches):
        with session_scope(engine) as session:
            old = [
                i
                for i in session.exec(
                    select(Message.id)
                    .where(
                        col(Message.request_id).is_(None),
                        col(Message.created_at) <= cutoff,
                        col(Message.status) != ANONYMISED,
                    )
                    .limit(BATCH)
                )
                if i is not None
            ]
            if not old:
                break
            session.execute(
                update(Message)
                .where(col(Message.id).in_(old))
                .values(content=None, payload={}, reply_body=None, status=ANONYMISED)
            )
            mark_media(session, col(MediaFile.message_id).in_(old))
            done["messages"] += len(old)
    with session_scope(engine) as session:
        forgotten = session.execute(
            update(Farmer)
            .where(
                col(Farmer.erased_at).is_(None),
                col(Farmer.last_message_at) <= cutoff,
                col(Farmer.phone).is_not(None)
                | col(Farmer.latitude).is_not(None)
                | col(Farmer.place).is_not(None),
            )
            .values(phone=None, latitude=None, longitude=None, place=None, village_code=None)
        )
        done["farmers"] = int(getattr(forgotten, "rowcount", 0) or 0)
    if any(done.values()):
        log.info(
            "retention (%s): anonymised %d requests, %d other messages, %d farmers' details",
            policy.retention,
            done["requests"],
            done["messages"],
            done["farmers"],
        )
    return done


def delete_erased_media(*, engine: Engine, limit: int = 500) -> int:
    """Delete from disk the files of erased data (and their converted copies); drop the
    stored passive reply of the erasing message itself (kept until now so that
    WeChat's retries of it, within 15 s, got the same bytes; it is addressed to the
    farmer's openid)."""
    with session_scope(engine) as session:
        session.execute(
            update(Message)
            .where(col(Message.openid).like("erased:%"), col(Message.reply_body).is_not(None))
            .values(reply_body=None)
        )
        rows = list(
            session.exec(select(MediaFile).where(MediaFile.status == "erasing").limit(limit))
        )
        for media in rows:
            if media.path:
                original = Path(media.path)
                for path in (original, original.with_suffix(".mp3")):
                    path.unlink(missing_ok=True)
            media.path, media.status, media.size, media.content_type = None, "erased", None, None
        if rows:
            log.info("deleted %d media files of erased data", len(rows))
        return len(rows)
