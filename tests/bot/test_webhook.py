"""The WeChat edge: verification, every message type, both modes, retries."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from bot.settings import Settings
from handlers import texts
from models.db import make_engine
from models.generations import forget_all
from models.tables import Farmer, HelpRequest, MediaFile, Message
from tests.conftest import REDIS_URL, own_postgres_database, require_service
from tests.wechat_client import FakeWeChat, post, reply_text, sha1_signature

CODE = re.compile(r"[A-Z][0-9]{3,6}")


def test_url_verification_echoes_echostr(client: FlaskClient, plain_wechat: FakeWeChat) -> None:
    query = plain_wechat.query() | {"echostr": "8234987234"}
    response = client.get("/wechat", query_string=query)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "8234987234"


def test_url_verification_with_wrong_signature_is_403(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    query = plain_wechat.query() | {"echostr": "x", "signature": "0" * 40}
    assert client.get("/wechat", query_string=query).status_code == 403


def test_text_opens_request_with_code(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    response = post(client, wechat, wechat.text("farmer-1", "我家辣椒叶子发黄了"))
    content = reply_text(wechat, response)
    match = CODE.search(content)
    assert match, content
    request = session.exec(select(HelpRequest)).one()
    assert request.code == match.group()
    assert "辣椒叶子发黄" in request.text
    farmer = session.exec(select(Farmer)).one()
    assert farmer.openid == "farmer-1" and farmer.last_message_at is not None


def test_conversation_log_has_inbound_and_passive_reply(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(client, wechat, wechat.text("farmer-1", "玉米生虫了"))
    log = session.exec(select(Message).order_by(Message.id)).all()
    assert [(m.direction, m.channel) for m in log] == [("in", "push"), ("out", "passive")]
    assert log[0].content == "玉米生虫了"
    assert log[0].request_id is not None and log[1].request_id == log[0].request_id


def test_later_messages_attach_to_the_open_request(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = reply_text(wechat, post(client, wechat, wechat.text("farmer-1", "小麦叶子有黄斑")))
    code = CODE.search(first).group()  # type: ignore[union-attr]
    second = reply_text(
        wechat,
        post(
            client,
            wechat,
            wechat.message("farmer-1", "image", MediaId="m-1", PicUrl="http://x/1.jpg"),
        ),
    )
    assert code in second
    request = session.exec(select(HelpRequest)).one()
    media = session.exec(select(MediaFile)).one()
    assert media.request_id == request.id and media.media_id == "m-1"
    assert media.status == "pending"


def test_retries_give_identical_replies_and_one_message(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    fields = wechat.text("farmer-1", "苹果树烂根了怎么办")
    replies = [post(client, wechat, fields) for _ in range(3)]
    plain = [wechat.open_reply(r.data) for r in replies]
    assert plain[0] == plain[1] == plain[2]
    inbound = session.exec(select(Message).where(Message.direction == "in")).all()
    assert len(inbound) == 1
    assert len(session.exec(select(HelpRequest)).all()) == 1


def test_event_retries_are_deduplicated_by_sender_time_and_event(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    fields = wechat.event("farmer-1", "subscribe")
    first, second = (post(client, wechat, fields) for _ in range(2))
    assert wechat.open_reply(first.data) == wechat.open_reply(second.data)
    assert len(session.exec(select(Message).where(Message.direction == "in")).all()) == 1


@pytest.mark.parametrize(
    ("msg_type", "extra", "expect_request"),
    [
        ("image", {"PicUrl": "http://x/p.jpg", "MediaId": "img-1"}, True),
        ("voice", {"MediaId": "v-1", "Format": "amr", "Recognition": "猪不吃食"}, True),
        ("voice", {"MediaId": "v-2", "Format": "amr"}, True),
        ("video", {"MediaId": "vid-1", "ThumbMediaId": "t-1"}, True),
        ("shortvideo", {"MediaId": "sv-1", "ThumbMediaId": "t-2"}, True),
        ("link", {"Title": "玉米病害图", "Description": "d", "Url": "http://x/a"}, True),
        (
            "location",
            {
                "Location_X": "34.7466",
                "Location_Y": "113.6253",
                "Scale": "15",
                "Label": "河南省郑州市李家村",
            },
            False,
        ),
        ("miniprogrampage", {"Title": "x"}, False),
    ],
)
def test_every_message_type_is_stored_and_answered(
    client: FlaskClient,
    wechat: FakeWeChat,
    session: Session,
    msg_type: str,
    extra: dict[str, str],
    expect_request: bool,
) -> None:
    response = post(client, wechat, wechat.message("farmer-2", msg_type, **extra))
    content = reply_text(wechat, response)
    assert content
    stored = session.exec(select(Message).where(Message.direction == "in")).one()
    assert stored.msg_type == (msg_type if msg_type != "miniprogrampage" else "unknown")
    assert stored.payload["MsgType"] == msg_type
    assert (session.exec(select(HelpRequest)).first() is not None) == expect_request
    if "MediaId" in extra:
        assert session.exec(select(MediaFile)).one().media_id == extra["MediaId"]


def test_voice_recognition_text_is_kept(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(
        client,
        wechat,
        wechat.message("f", "voice", MediaId="v", Format="amr", Recognition="我家的猪不吃食"),
    )
    assert "我家的猪不吃食" in session.exec(select(HelpRequest)).one().text


@pytest.mark.parametrize(
    ("event", "extra", "replies"),
    [
        ("subscribe", {}, True),
        ("subscribe", {"EventKey": "qrscene_village:lijiacun", "Ticket": "T"}, True),
        ("unsubscribe", {}, False),
        ("SCAN", {"EventKey": "village:wangzhuang", "Ticket": "T"}, True),
        ("LOCATION", {"Latitude": "23.1", "Longitude": "113.3", "Precision": "119.3"}, False),
        ("CLICK", {"EventKey": "HELP"}, True),
        ("VIEW", {"EventKey": "http://example.invalid/"}, False),
        ("TEMPLATESENDJOBFINISH", {"MsgID": "200163836", "Status": "success"}, False),
        ("some_new_event", {}, False),  # a report nobody waits on: no sentence
    ],
)
def test_every_event_is_stored_and_answered(
    client: FlaskClient,
    wechat: FakeWeChat,
    session: Session,
    event: str,
    extra: dict[str, str],
    replies: bool,
) -> None:
    response = post(client, wechat, wechat.event("farmer-3", event, **extra))
    assert response.status_code == 200
    if replies:
        assert reply_text(wechat, response)
    else:
        assert response.get_data(as_text=True) == "success"
    stored = session.exec(select(Message).where(Message.direction == "in")).one()
    assert stored.event == event.lower()


def test_village_qr_scene_records_village(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(
        client,
        wechat,
        wechat.event("farmer-4", "subscribe", EventKey="qrscene_village:lijiacun", Ticket="T"),
    )
    assert session.exec(select(Farmer)).one().village_code == "lijiacun"


def test_unsubscribe_marks_farmer_inactive(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(client, wechat, wechat.event("farmer-5", "subscribe"))
    post(client, wechat, wechat.event("farmer-5", "unsubscribe"))
    farmer = session.exec(select(Farmer)).one()
    assert farmer.subscribed is False and farmer.unsubscribed_at is not None


def test_location_message_places_the_open_request(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(client, wechat, wechat.text("farmer-6", "水稻叶子卷起来了"))
    post(client, wechat, wechat.text("farmer-6", "留定位"))  # consent to keep coordinates
    post(
        client,
        wechat,
        wechat.message(
            "farmer-6",
            "location",
            Location_X="30.5",
            Location_Y="114.3",
            Scale="15",
            Label="湖北省武汉市张湾村",
        ),
    )
    request = session.exec(select(HelpRequest)).one()
    assert request.place == "湖北省武汉市张湾村" and request.latitude == 30.5


def test_signature_is_the_sorted_sha1(plain_wechat: FakeWeChat) -> None:
    # The worked example from WeChat's encryption guide.
    assert sha1_signature("AAAAA", "1714037059", "486452656") == sha1_signature(
        "486452656", "AAAAA", "1714037059"
    )


@pytest.fixture
def postgres_settings(settings: Settings) -> Iterator[Settings]:
    """The test's settings on a PostgreSQL database of its own (in either test pass)."""
    with own_postgres_database("farmhelp_db") as (url, _admin):
        yield settings.model_copy(update={"database_url": url})


@pytest.mark.parametrize("cache", ["none", "redis"])
def test_a_push_on_a_dropped_connection_is_handled_on_a_fresh_one(
    postgres_settings: Settings,
    make_app: Callable[[Settings], Flask],
    plain_wechat: FakeWeChat,
    cache: str,
) -> None:
    """The push's first statement (its nonce) meets the dead connection and is run
    again on a fresh one, with or without the Redis reply cache in front."""
    forget_all()
    redis_url = require_service("redis", REDIS_URL) if cache == "redis" else None
    app = make_app(postgres_settings.model_copy(update={"redis_url": redis_url}))
    client = app.test_client()
    engine: Engine = app.extensions["farmhelp.engine"]
    # With the cache, pushes written long enough ago for WeChat to resend them: the
    # cache is asked first.
    ago = {"CreateTime": int(time.time()) - 10} if cache == "redis" else {}
    post(client, plain_wechat, plain_wechat.text("farmer-1", "玉米叶子发黄", **ago))
    admin = make_engine(postgres_settings.database_url)
    with admin.begin() as connection:
        cut = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    admin.dispose()
    assert cut  # the app's pooled connection
    # Used again at once, so not pinged: the first statement finds it dead.
    response = post(client, plain_wechat, plain_wechat.text("farmer-1", "石坝村", **ago))
    assert response.status_code == 200
    assert reply_text(plain_wechat, response) != texts.SYSTEM_BUSY
    with Session(engine) as session:
        words = session.exec(select(Message.content).where(Message.direction == "in")).all()
    assert sorted(w or "" for w in words) == ["玉米叶子发黄", "石坝村"]
