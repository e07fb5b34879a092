"""Template messages under WeChat's rules since 2023-05-04, and the pages they open:
the one-tap survey, an advisory with 退订, the privacy notice and the how-to page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers import texts
from handlers.advisories import send_advisory
from models.tables import Advisory, Farmer, HelpRequest, Offer, Outbox, Survey, utcnow
from scheduler.outbox import deliver_outbox
from scheduler.surveys import send_due_surveys
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PROBLEM = "我家辣椒叶子发黄还有斑点，一大片一大片的，都快死了 我是石坝村的"
# A category template as a new account gets it: keywords named by type.
CATEGORY_KEYS = {
    "wechat_template_expert_page_keys": "character_string1,thing2,thing3,thing4",
    "wechat_template_survey_keys": "character_string1,thing2,thing3",
    "wechat_template_advisory_keys": "thing1,thing2",
}


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
def templated(settings: Settings, make_app: Any, county: None) -> Any:
    """All three templates configured with a category template's keyword names."""
    settings.survey_delay, settings.quiet_hours = "5s", "off"
    settings.wechat_template_expert_page = "TPL-PAGE"
    settings.wechat_template_survey = "TPL-SURVEY"
    settings.wechat_template_advisory = "TPL-ADVISORY"
    for name, keys in CATEGORY_KEYS.items():
        setattr(settings, name, keys)
    return make_app(settings)


def survey_by_template(
    client: FlaskClient, wechat: FakeWeChat, engine: Engine, settings: Settings, api: WeChatAPI
) -> str:
    """A visited request whose survey goes out as a template (the farmer's window closed)."""
    code = CODE.search(say(client, wechat, "farmer-s", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, wechat, "exp-wang", f"接单 {code}")
    assert "已记录" in say(client, wechat, "exp-wang", f"完成 {code} 叶斑病，喷药")
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-s")).one()
        farmer.last_message_at = utcnow() - timedelta(days=3)
        session.add(farmer)
        session.commit()
    later = utcnow() + timedelta(seconds=6)
    assert send_due_surveys(engine=engine, policy=settings.policy(), now=later) == 1
    return code


def test_every_template_fits_todays_rules(
    templated: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    """Keyword fields only (no first/remark), each one line of ≤ 20 characters, a link."""
    client = templated.test_client()
    survey_by_template(client, plain_wechat, engine, settings, api)
    with Session(engine) as session:
        advisory = Advisory(
            title="小麦条锈病预警：近期多地发现条锈病，请及早查看",
            body="近期多地发现条锈病。\n发病初期每亩用 15% 三唑酮 60 克兑水 30 公斤喷雾。",
            everyone=True,
            created_by="coord1",
        )
        session.add(advisory)
        session.flush()
        send_advisory(
            session, advisory=advisory, config=settings.policy(), now=utcnow() + timedelta(days=3)
        )
        session.commit()
    deliver_outbox(
        engine=engine, sender=api, now=utcnow() + timedelta(days=3), config=settings.policy()
    )
    sent = fake_api.sent("message/template/send")
    by_template = {body["template_id"]: body for body in sent}
    assert set(by_template) == {"TPL-PAGE", "TPL-SURVEY", "TPL-ADVISORY"}, sent
    wanted = {
        "TPL-PAGE": CATEGORY_KEYS["wechat_template_expert_page_keys"],
        "TPL-SURVEY": CATEGORY_KEYS["wechat_template_survey_keys"],
        "TPL-ADVISORY": CATEGORY_KEYS["wechat_template_advisory_keys"],
    }
    for body in sent:
        data = body["data"]
        assert list(data) == wanted[body["template_id"]].split(","), body
        assert "first" not in data and "remark" not in data
        for field in data.values():
            assert set(field) == {"value"}  # no colour: WeChat dropped it
            assert 0 < len(field["value"]) <= 20 and "\n" not in field["value"], field
        assert body["url"].startswith(settings.public_url + "/"), body
    page, survey = by_template["TPL-PAGE"], by_template["TPL-SURVEY"]
    assert page["url"].startswith(settings.public_url + "/w/")  # 接单 / 拒绝 as taps there
    assert survey["data"]["character_string1"]["value"].startswith("求助 ")
    assert survey["data"]["thing2"]["value"] == "王植保专家"
    assert "/f/survey/" in survey["url"]
    advisory_sent = by_template["TPL-ADVISORY"]
    assert advisory_sent["data"]["thing1"]["value"].endswith("…")
    assert "/f/advisory/" in advisory_sent["url"]


def test_the_survey_page_records_an_answer_and_closes_the_request(
    templated: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client = templated.test_client()
    code = survey_by_template(client, plain_wechat, engine, settings, api)
    deliver_outbox(engine=engine, sender=api, now=utcnow() + timedelta(seconds=6))
    link = fake_api.sent("message/template/send")[-1]["url"].removeprefix(settings.public_url)
    farmer = templated.test_client()  # the farmer's phone: no session of anyone's
    html = farmer.get(link).get_data(as_text=True)
    assert code in html and "王植保专家" in html and "解决了" in html and "5 星" in html
    # Nothing chosen: the page says what is missing and keeps what was typed.
    refused = farmer.post(link, data={"csrf_token": csrf(html), "comment": "药很管用"})
    assert refused.status_code == 400
    assert "请点选" in refused.get_data(as_text=True) and "药很管用" in refused.get_data(
        as_text=True
    )
    done = farmer.post(
        link,
        data={"csrf_token": csrf(html), "solved": "yes", "rating": "5", "comment": "药很管用"},
    )
    assert done.status_code == 200 and texts.SURVEY_PAGE_DONE in done.get_data(as_text=True)
    with Session(engine) as session:
        survey = session.exec(select(Survey)).one()
        assert (survey.state, survey.solved, survey.rating, survey.comment) == (
            "answered",
            "yes",
            5,
            "药很管用",
        )
        request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        assert request.status == "closed"
    # A second tap, or the same link later, records nothing twice.
    again = farmer.post(link, data={"csrf_token": csrf(html), "solved": "no", "rating": "1"})
    assert texts.SURVEY_PAGE_ANSWERED in again.get_data(as_text=True)
    assert [s.rating for s in rows(engine, Survey)] == [5]
    # A digit in the chat is no survey answer any more: it is ordinary talk.
    assert say(client, plain_wechat, "farmer-s", "1") != texts.SURVEY_RATING


def test_a_bad_answer_on_the_page_reopens_for_another_expert(
    templated: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client = templated.test_client()
    code = survey_by_template(client, plain_wechat, engine, settings, api)
    deliver_outbox(engine=engine, sender=api, now=utcnow() + timedelta(seconds=6))
    link = fake_api.sent("message/template/send")[-1]["url"].removeprefix(settings.public_url)
    farmer = templated.test_client()
    html = farmer.get(link).get_data(as_text=True)
    done = farmer.post(link, data={"csrf_token": csrf(html), "solved": "no", "rating": "2"})
    assert texts.SURVEY_REOPENED in done.get_data(as_text=True)
    with Session(engine) as session:
        request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        assert request.status == "offered" and request.routing["rounds"][-1]["outcome"]
        offered = session.exec(select(Offer).where(Offer.request_id == request.id)).all()
        assert {o.status for o in offered[1:]} == {"pending"}
        assert offered[-1].expert_id != offered[0].expert_id  # somebody else this time


def test_the_digit_reply_still_answers_a_survey_sent_with_its_link(
    templated: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client = templated.test_client()
    code = CODE.search(say(client, plain_wechat, "farmer-s", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, plain_wechat, "exp-wang", f"接单 {code}")
    say(client, plain_wechat, "exp-wang", f"完成 {code} 叶斑病，喷药")
    later = utcnow() + timedelta(seconds=6)
    send_due_surveys(engine=engine, policy=settings.policy(), now=later)
    deliver_outbox(engine=engine, sender=api, now=later)
    question = [t for t in fake_api.texts_to("farmer-s") if "问题解决了吗" in t][-1]
    assert f"{settings.public_url}/f/survey/" in question  # in the window: text with the link
    assert say(client, plain_wechat, "farmer-s", "1") == texts.SURVEY_RATING
    assert say(client, plain_wechat, "farmer-s", "5") == texts.SURVEY_COMMENT
    assert [(s.solved, s.rating) for s in rows(engine, Survey)] == [("yes", 5)]


def test_links_that_were_changed_or_expired_open_nothing(
    templated: Any, settings: Settings, plain_wechat: FakeWeChat, engine: Engine, api: WeChatAPI
) -> None:
    from handlers.notify import farmer_link

    client = templated.test_client()
    survey_by_template(client, plain_wechat, engine, settings, api)
    link = farmer_link(settings.policy(), "survey", s=1).removeprefix(settings.public_url)
    assert client.get(link).status_code == 200
    tampered = client.get(link[:-3] + "AAA")
    assert tampered.status_code == 403 and "链接无效" in tampered.get_data(as_text=True)
    # A survey link does not open an advisory page: each page has its own salt.
    other = client.get(link.replace("/f/survey/", "/f/advisory/"))
    assert other.status_code == 403


def test_the_advisory_page_shows_it_whole_and_stops_advisories(
    templated: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client = templated.test_client()
    say(client, plain_wechat, "farmer-a", "小麦叶子发黄 石坝村")
    body = "近期多地发现条锈病。发病初期每亩用 15% 三唑酮 60 克兑水 30 公斤喷雾，隔 7 天再喷一次。"
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-a")).one()
        farmer.last_message_at = utcnow() - timedelta(days=3)
        advisory = Advisory(title="小麦条锈病预警", body=body, everyone=True, created_by="coord1")
        session.add_all([farmer, advisory])
        session.flush()
        send_advisory(session, advisory=advisory, config=settings.policy(), now=utcnow())
        session.commit()
    deliver_outbox(engine=engine, sender=api, now=utcnow(), config=settings.policy())
    link = fake_api.sent("message/template/send")[-1]["url"].removeprefix(settings.public_url)
    phone = templated.test_client()
    html = phone.get(link).get_data(as_text=True)
    assert body in html and "退订农事提醒" in html
    stopped = phone.post(link + "/stop", data={"csrf_token": csrf(html)})
    assert stopped.status_code == 200 and "退订" in stopped.get_data(as_text=True)
    with Session(engine) as session:
        assert not session.exec(select(Farmer).where(Farmer.openid == "farmer-a")).one().advisories
    assert "已退订" in phone.get(link).get_data(as_text=True)
    assert [r.status for r in rows(engine, Outbox) if r.purpose == "advisory"] == ["sent"]


def test_the_privacy_notice_and_the_how_to_page_are_public(
    client: FlaskClient, settings: Settings
) -> None:
    privacy = client.get("/privacy").get_data(as_text=True)
    for words in (
        "我们记下什么",
        "为什么记",
        "谁能看到",
        "存多久",
        "3 年",
        "30 天",
        "删除我的信息",
        "我的信息",
    ):
        assert words in privacy, words
    assert "怎样请专家帮忙" in client.get("/help").get_data(as_text=True)
