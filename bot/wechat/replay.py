"""Refusing replayed signatures, shared by every worker.

WeChat's query signature covers the token, timestamp and nonce but not the body, so
a `signature&timestamp&nonce` copied from an access log would sign any body. Each
(timestamp, nonce) pair is remembered with its body's hash for as long as the
timestamp is acceptable: the same pair with the same body is WeChat retrying (the
dedupe key answers it), the same pair with another body is a forgery and is refused.

The pairs live in the database's `push_nonce` table only, written in the push's own
transaction (one statement, no round trip of its own), so there is no second store
whose outage would let a pair captured earlier through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from bot.settings import Settings
from models.db import session_scope
from models.nonces import admit_nonce
from models.tables import utcnow


class ReplayRefused(Exception):
    """The pair was already used with another body."""


@dataclass(frozen=True)
class Seal:
    """One signed push's (timestamp, nonce) pair and its body's hash."""

    key: str
    body_hash: str
    expires_at: datetime


def seal_of(*, timestamp: str, nonce: str, body: bytes, settings: Settings) -> Seal:
    """The pair to remember for a push whose signature checked out."""
    lifetime = timedelta(seconds=2 * settings.timestamp_tolerance + 60)
    return Seal(
        key=f"{timestamp}:{nonce}"[:100],
        body_hash=hashlib.sha256(body).hexdigest(),
        expires_at=utcnow() + lifetime,
    )


def admit(session: Session, seal: Seal) -> None:
    """Remember the pair in this transaction; raise ReplayRefused for another body."""
    if not admit_nonce(
        session=session, key=seal.key, body_hash=seal.body_hash, expires_at=seal.expires_at
    ):
        raise ReplayRefused(seal.key)


def admit_alone(engine: Engine, seal: Seal) -> None:
    """Remember the pair in a transaction of its own (a push refused before handling)."""
    for attempt in (1, 2):
        try:
            with session_scope(engine) as session:
                admit(session, seal)
            return
        except DBAPIError as error:
            if not error.connection_invalidated or attempt == 2:
                raise
            # A pooled connection had been dropped: once more on a fresh one.
