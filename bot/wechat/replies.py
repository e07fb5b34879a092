"""A shared cache of passive replies by dedupe key, so WeChat's retries are cheap.

The database's unique dedupe key is what guarantees one stored message per push;
with FARMHELP_REDIS_URL set, retries are answered from Redis without touching it.
WeChat sends a push again only when it had no answer within 5 s, with the same
CreateTime, so only a push that old is looked up, and only a reply that leaves that
late is kept: most pushes, answered in milliseconds, cost Redis nothing, and the
replies (which name their recipient) stay out of it.
Redis is reached through the process's RedisLink: a hung or dead Redis costs a push
at most one small time budget, then is skipped for a while (bot/wechat/redis_link.py).
"""

from __future__ import annotations

import time
from typing import Protocol

from flask import Flask, current_app

from bot.settings import Settings
from bot.wechat.redis_link import RedisLink

REPLY_TTL_SECONDS = 24 * 3600
# WeChat waits 5 s for an answer before sending the push again; one second less
# allows for the difference between its clock and ours.
RETRY_AGE_SECONDS = 4


def may_be_retried(create_time: int, now: float | None = None) -> bool:
    """Whether WeChat may have sent (or may send) this push again: it was written
    RETRY_AGE_SECONDS or more ago. Younger, it is a first delivery and its answer
    reaches WeChat in time."""
    return (time.time() if now is None else now) - create_time >= RETRY_AGE_SECONDS


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

    def __init__(self, link: RedisLink, prefix: str = "farmhelp:reply:") -> None:
        self.link = link
        self.prefix = prefix

    def get(self, dedupe_key: str) -> str | None:
        value = self.link.run("reply cache get", lambda r: r.get(self.prefix + dedupe_key))
        return value.decode() if isinstance(value, bytes) else None

    def put(self, dedupe_key: str, body: str) -> None:
        self.link.run(
            "reply cache put",
            lambda r: r.set(self.prefix + dedupe_key, body, ex=REPLY_TTL_SECONDS),
        )


def init_app(app: Flask, settings: Settings) -> None:
    """Pick the reply cache: Redis when configured (one link per app, shared with /readyz)."""
    cache: ReplyCache = NoReplyCache()
    if settings.redis_url:
        link = RedisLink(settings.redis_url)
        app.extensions["farmhelp.redis"] = link
        cache = RedisReplyCache(link)
    app.extensions["farmhelp.replies"] = cache


def get_reply_cache() -> ReplyCache:
    """Return the current app's reply cache."""
    cache: ReplyCache = current_app.extensions["farmhelp.replies"]
    return cache
