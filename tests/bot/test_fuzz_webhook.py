"""Fuzzing the webhook: whatever arrives, the answer is never a 500 and nothing unhandled
reaches the log. Bounded (a few hundred examples) so CI stays quick."""

from __future__ import annotations

import base64
import logging

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN
from tests.wechat_client import FakeWeChat, aes_encrypt, sha1_signature, to_xml

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WECHAT = FakeWeChat(token=TEST_TOKEN, app_id=TEST_APP_ID, aes_key=TEST_AES_KEY)
FIELDS = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "MediaId",
    "Event",
    "EventKey",
    "Location_X",
    "Location_Y",
    "Latitude",
    "Longitude",
    "Recognition",
]
TYPES = ["text", "image", "voice", "video", "location", "link", "event", "", "TEXT", "喵"]
values = st.one_of(
    st.text(max_size=80),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "<", "]]>", "&amp;", "\x00", "😀", "葉子", "1" * 300]),
)


def _signed_query(**extra: str) -> dict[str, str]:
    query = WECHAT.query()
    query.update(extra)
    return query


def _unhandled(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("Exception on ")]


def _check(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, query: dict[str, str], body: bytes
) -> None:
    response = client.post("/wechat", query_string=query, data=body, content_type="text/xml")
    # The database is up: any 5xx (a 503 too) would mean bad input was not answered as such.
    assert response.status_code < 500, response.status_code
    assert not _unhandled(caplog)


@FUZZ
@given(body=st.binary(max_size=3000))
def test_random_bytes(client: FlaskClient, caplog: pytest.LogCaptureFixture, body: bytes) -> None:
    _check(client, caplog, _signed_query(), body)


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(FIELDS), values, max_size=10),
    msg_type=st.sampled_from(TYPES),
)
def test_random_fields_in_valid_xml(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, fields: dict[str, str], msg_type: str
) -> None:
    push = {"ToUserName": "gh", "FromUserName": "fuzz", "CreateTime": "1", "MsgType": msg_type}
    push.update({k: v.replace("]]>", "") for k, v in fields.items()})
    _check(client, caplog, _signed_query(), to_xml(push))


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=400),
    insert=st.binary(max_size=20),
    encoding=st.sampled_from(["utf-8", "gbk", "utf-16", "latin-1"]),
)
def test_mutated_pushes_and_encodings(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, cut: int, insert: bytes, encoding: str
) -> None:
    valid = to_xml(WECHAT.text("fuzz-m", "玉米叶子发黄")).decode()
    try:
        body = valid.encode(encoding)
    except UnicodeEncodeError:
        body = valid.encode("utf-8")
    body = body[:cut] + insert + body[cut:]
    _check(client, caplog, _signed_query(), body)


@FUZZ
@given(
    signature=st.text(max_size=60),
    timestamp=st.text(max_size=25),
    nonce=st.text(max_size=40),
    encrypt_type=st.sampled_from(["aes", "raw", "", "AES", "x"]),
    msg_signature=st.text(max_size=60),
)
def test_random_query_strings(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    signature: str,
    timestamp: str,
    nonce: str,
    encrypt_type: str,
    msg_signature: str,
) -> None:
    query = {
        "signature": signature,
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": encrypt_type,
        "msg_signature": msg_signature,
    }
    _check(client, caplog, query, to_xml(WECHAT.text("fuzz-q", "x")))


@FUZZ
@given(
    cipher=st.one_of(
        st.binary(min_size=1, max_size=600).map(lambda b: base64.b64encode(b).decode()),
        st.text(max_size=200),
    ),
    inner=st.binary(max_size=300),
)
def test_random_and_wrong_ciphertexts(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, cipher: str, inner: bytes
) -> None:
    for encrypted in (cipher, aes_encrypt(inner, TEST_AES_KEY, TEST_APP_ID)):
        query = WECHAT.query()
        query.update(
            encrypt_type="aes",
            msg_signature=sha1_signature(TEST_TOKEN, query["timestamp"], query["nonce"], encrypted),
        )
        envelope = f"<ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        body = f"<xml>{envelope}</xml>".encode()
        _check(client, caplog, query, body)


def test_the_fuzzers_reach_real_handling(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The inputs are not all refused at the door: a valid push through the same path is served."""
    query = _signed_query()
    response = client.post(
        "/wechat", query_string=query, data=to_xml(WECHAT.text("fuzz-ok", "玉米"))
    )
    assert response.status_code == 200 and b"<xml>" in response.data
