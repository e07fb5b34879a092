"""What operators watch: /healthz, /readyz and /metrics."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from bot.wechat.api import WeChatAPI
from models.tables import utcnow
from scheduler.outbox import deliver_outbox
from tests.fake_wechat_api import FakeWeChatAPI
from tests.wechat_client import FakeWeChat, post


def test_healthz_and_readyz_when_all_is_well(client: FlaskClient) -> None:
    assert client.get("/healthz").data == b"ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {"status": "ok", "database": "ok"}


def test_readyz_turns_unready_when_the_database_is_unreachable(
    settings: Any, make_app: Any, tmp_path: Any
) -> None:
    settings.database_url = "postgresql://postgres@127.0.0.1:1/nothing-listens-here"
    client = make_app(settings).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["database"] == "down"
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_readyz_is_degraded_but_ready_without_redis(settings: Any, make_app: Any) -> None:
    settings.redis_url = "redis://127.0.0.1:1/0"  # nothing listens there
    ready = make_app(settings).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "degraded",
        "database": "ok",
        "redis": "down",
        "redis_circuit": "closed",
    }


def test_metrics_expose_pushes_latency_outbox_scheduler_and_requests(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    post(client, plain_wechat, plain_wechat.text("f-metrics", "我家辣椒叶子发黄 我是石坝村的"))
    client.post("/wechat", data=b"<xml>")  # refused: no signature
    text = client.get("/metrics").get_data(as_text=True)
    assert 'farmhelp_pushes_total{outcome="answered",type="text"}' in text
    assert 'farmhelp_pushes_total{outcome="refused_403",type="unknown"}' in text
    assert "farmhelp_reply_seconds_bucket" in text
    assert 'farmhelp_outbox_depth{status="pending"} 1.0' in text
    assert "farmhelp_outbox_oldest_seconds" in text and "farmhelp_scheduler_lag_seconds" in text
    assert 'farmhelp_open_requests{status="offered"} 1.0' in text
    fake_api.fail_next("message/custom/send", errcode=45015, errmsg="out of time")
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    after = client.get("/metrics").get_data(as_text=True)
    assert 'farmhelp_deliveries_by_errcode{errcode="45015"} 1.0' in after
    assert 'farmhelp_outbox_depth{status="held"} 1.0' in after


def test_json_log_lines_carry_the_request_id_and_no_openid(client: FlaskClient, app: Any) -> None:
    import json
    import logging

    from bot.logs import JsonFormatter, hash_openid

    openid = "oAbCdEfGhIjKlMnOpQrStUvWx_12"  # the shape of a real WeChat openid
    response = client.get("/healthz", headers={"X-Request-Id": "req-42"})
    assert response.headers["X-Request-Id"] == "req-42"
    captured: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(JsonFormatter().format(record))

    logger = logging.getLogger("farmhelp.test")
    handler = Keep()
    logger.addHandler(handler)
    try:
        with app.test_request_context("/wechat", headers={"X-Request-Id": "req-43"}):
            app.preprocess_request()
            logger.warning("outbox 7 to %s held", openid)
    finally:
        logger.removeHandler(handler)
    line = json.loads(captured[0])
    assert line["request_id"] == "req-43" and line["level"] == "WARNING"
    assert openid not in captured[0] and hash_openid(openid) in line["message"]
