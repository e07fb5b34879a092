"""The intake dialogue, driven through the real webhook with signed messages."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlmodel import Session, select

from handlers import texts
from models.tables import HelpRequest, Message
from tests.wechat_client import FakeWeChat, first_contact, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, **message: str) -> str:
    msg_type = message.pop("msg_type", "text")
    return reply_text(wechat, post(client, wechat, wechat.message(openid, msg_type, **message)))


def the_request(session: Session) -> HelpRequest:
    # A short session of its own: a long-lived one would hold SQLite's write lock.
    with Session(session.get_bind()) as fresh:
        return fresh.exec(select(HelpRequest)).one()


def test_vague_message_two_questions_then_confirmed(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = first_contact(say(client, wechat, "f1", Content="叶子发黄 有斑点 咋回事"))
    code = CODE.search(first).group()  # type: ignore[union-attr]
    assert texts.QUESTIONS["crop"] in first
    second = say(client, wechat, "f1", Content="苞谷")
    assert second == texts.QUESTIONS["place"]
    third = say(client, wechat, "f1", Content="我是张湾村的")
    assert code in third and "玉米 · 病虫害" in third and "张湾村" in third
    request = the_request(session)
    assert (request.status, request.crop, request.category, request.place) == (
        "unassigned",  # no experts are known in this test
        "玉米",
        "plant_protection",
        "张湾村",
    )
    assert request.urgency == "normal" and request.questions_asked == ["crop", "place"]
    for reply in (first, second, third):
        assert "plant_protection" not in reply and "normal" not in reply and len(reply) < 120


def test_clear_message_from_a_placed_farmer_is_confirmed_at_once(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    post(
        client,
        wechat,
        wechat.event("f2", "subscribe", EventKey="qrscene_village:李家村", Ticket="T"),
    )
    reply = say(client, wechat, "f2", Content="我家的猪死了好几头了 快来人")
    assert "已登记" in reply and "紧急" in reply
    assert len(CODE.findall(reply)) == 1
    request = the_request(session)
    assert (request.crop, request.category, request.urgency, request.place) == (
        "生猪",
        "livestock",
        "urgent",
        "李家村",
    )


def test_photo_only_start_asks_for_the_crop(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = say(client, wechat, "f3", msg_type="image", PicUrl="http://x/p.jpg", MediaId="m-3")
    assert first.startswith("收到照片") and texts.QUESTIONS["crop"] in first
    say(client, wechat, "f3", Content="葡萄")
    request = the_request(session)
    assert request.crop == "葡萄" and request.pending_question == "place"


def test_voice_with_recognition_is_understood(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    say(
        client,
        wechat,
        "f4",
        msg_type="voice",
        MediaId="v-4",
        Format="amr",
        Recognition="我家草鱼浮头了死了好多",
    )
    request = the_request(session)
    assert (request.crop, request.category, request.urgency) == ("草鱼", "aquaculture", "urgent")


def test_voice_without_recognition_asks_to_type_or_send_a_photo(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = say(client, wechat, "f5", msg_type="voice", MediaId="v-5", Format="amr")
    assert texts.QUESTIONS["crop_voice"] in first
    say(client, wechat, "f5", Content="羊不吃草")
    request = the_request(session)
    assert (request.crop, request.category) == ("羊", "livestock")


def test_location_message_answers_which_village(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = first_contact(say(client, wechat, "f6", Content="水稻叶子卷了 有虫"))
    assert first.endswith(texts.QUESTIONS["place"])
    reply = say(
        client,
        wechat,
        "f6",
        msg_type="location",
        Location_X="30.52",
        Location_Y="114.31",
        Scale="15",
        Label="湖北省武汉市江夏区郑店村",
    )
    assert "已登记" in reply and texts.LOCATION_VILLAGE_ONLY in reply
    request = the_request(session)
    # Without the farmer's consent the coordinates are not kept: only the place's label.
    assert request.place == "湖北省武汉市江夏区郑店村" and request.latitude is None
    assert say(client, wechat, "f6", Content="留定位") == texts.LOCATION_KEPT
    again = say(
        client,
        wechat,
        "f6",
        msg_type="location",
        Location_X="30.52",
        Location_Y="114.31",
        Scale="15",
        Label="湖北省武汉市江夏区郑店村",
    )
    assert texts.LOCATION_VILLAGE_ONLY not in again
    request = the_request(session)
    assert (request.latitude, request.longitude) == (30.52, 114.31)
    assert say(client, wechat, "f6", Content="不留定位") == texts.LOCATION_DROPPED
    assert the_request(session).latitude is None


def test_skip_moves_on(client: FlaskClient, wechat: FakeWeChat, session: Session) -> None:
    say(client, wechat, "f7", Content="叶子上有斑点")
    second = say(client, wechat, "f7", Content="不知道")
    assert second == texts.QUESTIONS["place"]
    third = say(client, wechat, "f7", Content="跳过")
    assert "已登记" in third
    request = the_request(session)
    assert request.status == "unassigned" and request.crop is None
    assert "跳过" not in request.text


def test_cancel_closes_the_open_request(
    client: FlaskClient, wechat: FakeWeChat, session: Session
) -> None:
    first = say(client, wechat, "f8", Content="白菜烂心了")
    code = CODE.search(first).group()  # type: ignore[union-attr]
    assert say(client, wechat, "f8", Content="取消") == texts.CANCELLED.format(code=code)
    assert the_request(session).status == "cancelled"
    assert say(client, wechat, "f8", Content="取消") == texts.NOTHING_TO_CANCEL
    again = say(client, wechat, "f8", Content="白菜又烂心了")
    assert CODE.search(again).group() != code  # type: ignore[union-attr]


def test_at_most_two_questions(client: FlaskClient, wechat: FakeWeChat, session: Session) -> None:
    replies = [say(client, wechat, "f9", msg_type="image", PicUrl="p", MediaId="m-9")]
    for _ in range(4):
        replies.append(say(client, wechat, "f9", Content="不知道"))
    questions = [r for r in replies if any(q in r for q in texts.QUESTIONS.values())]
    assert len(questions) == 2
    assert "已登记" in replies[2]
    assert len(session.exec(select(Message).where(Message.direction == "out")).all()) == 5
