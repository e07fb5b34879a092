"""A shared cache of passive replies by dedupe key, so WeChat's retries are cheap.

The database's unique dedupe key is what guarantees one stored message per push;
with FARMHELP_REDIS_URL set, retries are answered from Redis without touching it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from flask import Flask, current_app

from bot.settings import Settings

log = logging.getLogger(__name__)

REPLY_TTL_SECONDS = 24 * 3600


class ReplyCache(Protocol):
    def get(self, dedupe_key: str) -> str | None: ...

    def put(self, dedupe_key: str, body: str) -> None: ...


class NoReplyCache:
    """Used without Redis: the database answers retries."""

    def get(self, dedupe_key: str) -> str | None:
        return None

    def put(self, dedupe_key: str, body: str) -> None:
        return None


class RedisReplyCache:
    """Replies kept in Redis for a day; a Redis outage only costs the shortcut."""

    def __init__(self, url: str, prefix: str = "farmhelp:reply:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.prefix = prefix

    def get(self, dedupe_key: str) -> str | None:
        try:
            value = self.client.get(self.prefix + dedupe_key)
        except Exception as error:  # redis down: fall back to the database
            log.warning("reply cache unavailable: %s", error)
            return None
        return value.decode() if isinstance(value, bytes) else None

    def put(self, dedupe_key: str, body: str) -> None:
        try:
            self.client.set(self.prefix + dedupe_key, body, ex=REPLY_TTL_SECONDS)
        except Exception as error:
            log.warning("reply cache unavailable: %s", error)


def init_app(app: Flask, settings: Settings) -> None:
    """Pick the reply cache: Redis when configured."""
    cache: ReplyCache = (
        RedisReplyCache(settings.redis_url) if settings.redis_url else NoReplyCache()
    )
    app.extensions["farmhelp.replies"] = cache


def get_reply_cache() -> ReplyCache:
    """Return the current app's reply cache."""
    cache: ReplyCache = current_app.extensions["farmhelp.replies"]
    return cache
