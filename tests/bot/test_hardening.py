"""Bad input gets its 4xx and a log line; the next good message is served normally."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN
from tests.wechat_client import FakeWeChat, aes_encrypt, post, reply_text, to_xml

OTHER_AES_KEY = base64.b64encode(os.urandom(32)).decode().rstrip("=")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""


def _plain(wechat: FakeWeChat, body: bytes, **query: Any) -> tuple[dict[str, str], bytes]:
    return wechat.query() | query, body


def _encrypted_with(
    wechat: FakeWeChat,
    *,
    aes_key: str = TEST_AES_KEY,
    app_id: str = TEST_APP_ID,
    msg_signature: str | None = None,
) -> tuple[dict[str, str], bytes]:
    encrypted = aes_encrypt(to_xml(wechat.text("f", "你好")), aes_key, app_id)
    query = wechat.query(encrypt=encrypted)
    if msg_signature is not None:
        query["msg_signature"] = msg_signature
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()
    return query, body


BAD_INPUTS: dict[str, tuple[int, Callable[[FakeWeChat], tuple[dict[str, str], bytes]]]] = {
    "wrong signature": (403, lambda w: _plain(w, to_xml(w.text("f", "x")), signature="0" * 40)),
    "missing signature": (403, lambda w: ({}, to_xml(w.text("f", "x")))),
    "stale timestamp": (
        403,
        lambda w: (w.query(timestamp=int(time.time()) - 301), to_xml(w.text("f", "x"))),
    ),
    "future timestamp": (
        403,
        lambda w: (w.query(timestamp=int(time.time()) + 400), to_xml(w.text("f", "x"))),
    ),
    "body over 64 KiB": (413, lambda w: _plain(w, to_xml(w.text("f", "长" * 30000)))),
    "billion laughs": (400, lambda w: _plain(w, BILLION_LAUGHS)),
    "external entity": (400, lambda w: _plain(w, XXE)),
    "broken XML": (400, lambda w: _plain(w, b"<xml><ToUserName>a</ToUserName")),
    "not XML at all": (400, lambda w: _plain(w, b'{"MsgType": "text"}')),
    "empty body": (400, lambda w: _plain(w, b"")),
    "wrong root": (400, lambda w: _plain(w, to_xml(w.text("f", "x")).replace(b"xml>", b"msg>"))),
    "missing MsgType": (
        400,
        lambda w: _plain(
            w,
            b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
            b"<CreateTime>1</CreateTime></xml>",
        ),
    ),
    "text without Content": (
        400,
        lambda w: _plain(w, to_xml({k: v for k, v in w.text("f", "x").items() if k != "Content"})),
    ),
    "message without MsgId": (
        400,
        lambda w: _plain(w, to_xml({k: v for k, v in w.text("f", "x").items() if k != "MsgId"})),
    ),
    "non-numeric CreateTime": (
        400,
        lambda w: _plain(w, to_xml(w.text("f", "x") | {"CreateTime": "yesterday"})),
    ),
    "repeated field": (
        400,
        lambda w: _plain(
            w, to_xml(w.text("f", "x")).replace(b"</xml>", b"<Content>again</Content></xml>")
        ),
    ),
    "wrong AES key": (400, lambda w: _encrypted_with(w, aes_key=OTHER_AES_KEY)),
    "wrong AppID": (400, lambda w: _encrypted_with(w, app_id="wxSomebodyElse00")),
    "wrong msg_signature": (403, lambda w: _encrypted_with(w, msg_signature="1" * 40)),
    "encrypted without Encrypt": (
        400,
        lambda w: (w.query(encrypt=""), b"<xml><ToUserName>gh</ToUserName></xml>"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_its_4xx_and_service_continues(
    case: str, client: FlaskClient, plain_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    status, build = BAD_INPUTS[case]
    query, body = build(plain_wechat)
    response = client.post("/wechat", query_string=query, data=body, content_type="text/xml")
    assert response.status_code == status, response.get_data(as_text=True)
    assert any("refused" in record.getMessage() for record in caplog.records)
    good = post(client, plain_wechat, plain_wechat.text("farmer-ok", "玉米叶子发黄"))
    assert "求助" in reply_text(plain_wechat, good)


def test_encrypted_push_without_configured_key_is_400(
    settings: Any, plain_wechat: FakeWeChat, make_app: Any
) -> None:
    settings.wechat_encoding_aes_key = None
    client = make_app(settings).test_client()
    query, body = _encrypted_with(plain_wechat)
    assert client.post("/wechat", query_string=query, data=body).status_code == 400


def test_handler_crash_stores_message_and_apologises(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    session: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlmodel import select

    from handlers import intake
    from models.tables import Message

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(intake, "open_request", explode)
    fields = plain_wechat.text("farmer-x", "辣椒死苗")
    first = reply_text(plain_wechat, post(client, plain_wechat, fields))
    again = reply_text(plain_wechat, post(client, plain_wechat, fields))
    assert first == again and "收到" in first
    stored = session.exec(select(Message).where(Message.direction == "in")).one()
    assert stored.status == "failed" and stored.content == "辣椒死苗"
    assert "handler failed" in caplog.text


def test_token_mismatch_is_403(settings: Any, make_app: Any) -> None:
    wechat = FakeWeChat(token="not-" + TEST_TOKEN, app_id=TEST_APP_ID, aes_key=TEST_AES_KEY)
    client = make_app(settings).test_client()
    assert post(client, wechat, wechat.text("f", "x")).status_code == 403
