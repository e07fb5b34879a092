"""Refusing replayed signatures, shared by every worker.

WeChat's query signature covers the token, timestamp and nonce but not the body, so
a `signature&timestamp&nonce` copied from an access log would sign any body. Each
(timestamp, nonce) pair is remembered with its body's hash for as long as the
timestamp is acceptable: the same pair with the same body is WeChat retrying (the
dedupe key answers it), the same pair with another body is a forgery and is refused.
Redis holds the pairs when configured; otherwise the `push_nonce` table does.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from models.db import session_scope
from models.nonces import admit_nonce
from models.tables import utcnow

log = logging.getLogger(__name__)


class NonceGuard(Protocol):
    def admit(self, *, timestamp: str, nonce: str, body: bytes) -> bool: ...


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class DatabaseNonces:
    """Pairs kept in the `push_nonce` table (pruned by the scheduler)."""

    def __init__(self, engine: Engine, lifetime: timedelta) -> None:
        self.engine = engine
        self.lifetime = lifetime

    def admit(self, *, timestamp: str, nonce: str, body: bytes) -> bool:
        try:
            return self._admit(timestamp=timestamp, nonce=nonce, body=body)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # A pooled connection had been dropped: once more on a fresh one.
            return self._admit(timestamp=timestamp, nonce=nonce, body=body)

    def _admit(self, *, timestamp: str, nonce: str, body: bytes) -> bool:
        with session_scope(self.engine) as session:
            return admit_nonce(
                session=session,
                key=f"{timestamp}:{nonce}"[:100],
                body_hash=body_hash(body),
                expires_at=utcnow() + self.lifetime,
            )


class RedisNonces:
    """Pairs kept in Redis with an expiry; the database takes over when Redis is down."""

    def __init__(self, url: str, fallback: DatabaseNonces, prefix: str = "farmhelp:nonce:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.fallback = fallback
        self.prefix = prefix

    def admit(self, *, timestamp: str, nonce: str, body: bytes) -> bool:
        key, digest = self.prefix + f"{timestamp}:{nonce}"[:100], body_hash(body)
        seconds = int(self.fallback.lifetime.total_seconds())
        try:
            if self.client.set(key, digest, nx=True, ex=seconds):
                return True
            seen = self.client.get(key)
        except Exception as error:
            log.warning("nonce store in Redis unavailable (%s); using the database", error)
            return self.fallback.admit(timestamp=timestamp, nonce=nonce, body=body)
        return isinstance(seen, bytes) and seen.decode() == digest


def init_app(app: Flask, settings: Settings) -> None:
    """Pick the nonce store: Redis when configured, else the database."""
    lifetime = timedelta(seconds=2 * settings.timestamp_tolerance + 60)
    database = DatabaseNonces(app.extensions["farmhelp.engine"], lifetime)
    guard: NonceGuard = database
    if settings.redis_url:
        guard = RedisNonces(settings.redis_url, database)
    app.extensions["farmhelp.nonces"] = guard


def get_nonce_guard() -> NonceGuard:
    """Return the current app's nonce store."""
    guard: NonceGuard = current_app.extensions["farmhelp.nonces"]
    return guard
