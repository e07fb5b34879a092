"""With FARMHELP_REDIS_URL set, retries are answered from Redis."""

from __future__ import annotations

from typing import Any

import redis
from flask.testing import FlaskClient

from bot.settings import Settings
from tests.conftest import REDIS_URL, require_service
from tests.wechat_client import FakeWeChat, post


def test_retry_is_answered_from_redis(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    url = require_service("redis", REDIS_URL)
    settings.redis_url = url
    client: FlaskClient = make_app(settings).test_client()
    fields = plain_wechat.text("farmer-r", "草鱼浮头了")
    first = post(client, plain_wechat, fields)
    key = f"farmhelp:reply:msg:{fields['MsgId']}"
    assert redis.Redis.from_url(url).get(key) == first.data
    second = post(client, plain_wechat, fields)
    assert second.data == first.data


def test_redis_outage_falls_back_to_the_database(
    settings: Settings, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    settings.redis_url = "redis://127.0.0.1:1/0"  # nothing listens there
    client = make_app(settings).test_client()
    fields = plain_wechat.text("farmer-r2", "牛不反刍")
    first = post(client, plain_wechat, fields)
    second = post(client, plain_wechat, fields)
    assert first.status_code == 200 and second.data == first.data
