"""With FARMHELP_REDIS_URL set, retries are answered from Redis; a dead or hung Redis is skipped."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask.testing import FlaskClient

from bot.settings import Settings
from bot.wechat.redis_link import RedisLink
from tests.conftest import REDIS_URL, require_service
from tests.servers import hung_listener
from tests.wechat_client import FakeWeChat, post, to_xml

# WeChat resends a push it had no answer to within 5 s, with its CreateTime: the
# pushes below were written 10 s ago, so Redis is asked and told.
WRITTEN_AGO = 10


def _old_text(wechat: FakeWeChat, openid: str, words: str) -> dict[str, Any]:
    return wechat.text(openid, words, CreateTime=int(time.time()) - WRITTEN_AGO)


def test_retry_is_answered_from_redis(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    url = require_service("redis", REDIS_URL)
    settings.redis_url = url
    client: FlaskClient = make_app(settings).test_client()
    fields = _old_text(plain_wechat, "farmer-r", "草鱼浮头了")
    first = post(client, plain_wechat, fields)
    key = f"farmhelp:reply:msg:{fields['MsgId']}"
    assert redis.Redis.from_url(url).get(key) == first.data
    redis.Redis.from_url(url).set(key, b"from redis")
    second = post(client, plain_wechat, fields)
    assert second.data == b"from redis"  # the database was not asked


def test_a_push_written_moments_ago_costs_redis_nothing(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    """WeChat has its answer within 5 s, so it never sends it again: its reply is not
    kept, and a copy of it is answered from the database, not looked up."""
    url = require_service("redis", REDIS_URL)
    settings.redis_url = url
    client: FlaskClient = make_app(settings).test_client()
    post(client, plain_wechat, plain_wechat.text("farmer-w", "你好"))  # a warm app: quick
    fields = plain_wechat.text("farmer-f", "草鱼浮头了")
    key = f"farmhelp:reply:msg:{fields['MsgId']}"
    first = post(client, plain_wechat, fields)
    assert redis.Redis.from_url(url).get(key) is None
    redis.Redis.from_url(url).set(key, b"from redis")
    again = post(client, plain_wechat, fields)
    assert again.data == first.data  # the stored reply, from the database
    redis.Redis.from_url(url).delete(key)


def test_redis_outage_falls_back_to_the_database(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    settings.redis_url = "redis://127.0.0.1:1/0"  # nothing listens there
    client = make_app(settings).test_client()
    fields = _old_text(plain_wechat, "farmer-r2", "牛不反刍")
    first = post(client, plain_wechat, fields)
    second = post(client, plain_wechat, fields)
    assert first.status_code == 200 and second.data == first.data


def test_a_hung_redis_costs_a_push_at_most_its_budget(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    """Redis accepts connections and never answers: pushes are answered from the
    database, the first within one small budget and the rest without trying Redis."""
    with hung_listener() as url:
        settings.redis_url = url
        app = make_app(settings)
        client = app.test_client()
        took = []
        for n in range(5):
            started = time.monotonic()
            fields = _old_text(plain_wechat, f"farmer-h{n}", "牛不反刍")
            response = post(client, plain_wechat, fields)
            took.append(time.monotonic() - started)
            assert response.status_code == 200
        ready = client.get("/readyz")
    # Without the budget, each push waited on Redis for seconds (three 1 s timeouts).
    assert max(took) < 1.0, took
    assert app.extensions["farmhelp.redis"].is_open
    assert ready.status_code == 200
    assert ready.json == {
        "status": "degraded",
        "database": "ok",
        "redis": "timeout",
        "redis_circuit": "open",
    }


def test_the_circuit_closes_when_redis_answers_again() -> None:
    url = require_service("redis", REDIS_URL)
    now = [0.0]
    link = RedisLink("redis://127.0.0.1:1/0", cool_down=30, clock=lambda: now[0])
    assert link.run("ping", lambda r: r.ping()) is None and link.is_open
    link.client = redis.Redis.from_url(url)  # Redis is back
    assert link.run("ping", lambda r: r.ping()) is None  # still cooling down: not tried
    now[0] = 31.0
    assert link.run("ping", lambda r: r.ping()) is True
    assert not link.is_open and link.last_error is None


def test_a_replay_is_refused_while_redis_is_down(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    """A signature captured while Redis was up cannot sign another body during an
    outage: one worker saw the push with Redis, another has lost Redis."""
    settings.redis_url = require_service("redis", REDIS_URL)
    with_redis = make_app(settings).test_client()
    query, body = plain_wechat.envelope(plain_wechat.text("exp-someone", "值班"))
    assert with_redis.post("/wechat", query_string=query, data=body).status_code == 200
    without = make_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    forged = to_xml(plain_wechat.text("exp-someone", "下班"))
    response = without.test_client().post("/wechat", query_string=query, data=forged)
    assert response.status_code == 403
    assert b"replay" in response.data
