"""WeChat's delivery reports on template messages (TEMPLATESENDJOBFINISH): the msgid
template/send returned is kept, the report is matched to it, and a page that did not
arrive moves on to the next expert at once."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from models.tables import Expert, Message, Offer, Outbox, utcnow
from scheduler.outbox import deliver_outbox
from tests.bot.test_console import add_staff, sign_in
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def report(wechat: FakeWeChat, openid: str, msgid: str, status: str) -> dict[str, Any]:
    """A TEMPLATESENDJOBFINISH push as WeChat's documentation shows it."""
    return wechat.event(openid, "TEMPLATESENDJOBFINISH", MsgID=msgid, Status=status)


@pytest.fixture
def paged(
    settings: Settings,
    make_app: Callable[[Settings], Any],
    county: None,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
) -> tuple[FlaskClient, Outbox]:
    """A request paged to 王植保 by template and delivered; returns the page's row."""
    settings.wechat_template_expert_page = "TPL-PAGE"
    settings.staff_openids = "staff-1"
    client = make_app(settings).test_client()
    reply_text(plain_wechat, post(client, plain_wechat, plain_wechat.text("farmer-d", PROBLEM)))
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    page = next(r for r in rows(engine, Outbox) if r.purpose == "page")
    return client, page


def test_the_msgid_is_kept_and_success_is_recorded(
    paged: tuple[FlaskClient, Outbox], plain_wechat: FakeWeChat, engine: Engine
) -> None:
    client, page = paged
    assert page.status == "sent" and page.wechat_msgid, page
    answer = post(
        client, plain_wechat, report(plain_wechat, page.openid, page.wechat_msgid, "success")
    )
    assert answer.status_code == 200 and answer.get_data() == b"success"
    with Session(engine) as session:
        assert session.get(Outbox, page.id).delivery == "success"  # type: ignore[union-attr]
        assert {o.status for o in session.exec(select(Offer))} == {"pending"}


def test_a_page_the_expert_blocked_goes_to_the_next_expert_and_staff_are_told(
    paged: tuple[FlaskClient, Outbox],
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
) -> None:
    client, page = paged
    assert page.wechat_msgid
    blocked = report(plain_wechat, page.openid, page.wechat_msgid, "failed:user block")
    assert post(client, plain_wechat, blocked).get_data() == b"success"
    post(client, plain_wechat, blocked)  # WeChat's retry changes nothing more
    with Session(engine) as session:
        offers = list(session.exec(select(Offer).order_by(Offer.id)))  # type: ignore[arg-type]
        first = session.get(Expert, offers[0].expert_id)
        assert first is not None and first.openid == page.openid
        assert offers[0].status == "undeliverable"
        assert [o.status for o in offers[1:]] == ["pending"]  # somebody else, now
        assert offers[1].expert_id != offers[0].expert_id
        assert session.get(Outbox, page.id).delivery == "failed:user block"  # type: ignore[union-attr]
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    alerts = fake_api.texts_to("staff-1")
    assert len(alerts) == 1 and "没送到" in alerts[0] and "王植保专家" in alerts[0]
    code = CODE.search(alerts[0]).group()  # type: ignore[union-attr]
    add_staff(cli_env, "viewer1", "viewer")
    assert sign_in(client, "viewer1").status_code == 302
    html = client.get(f"/console/requests/{code}").get_data(as_text=True)
    assert "派单和回访送达情况" in html and "没送到" in html and "failed:user block" in html


def test_a_report_for_a_message_we_never_sent_is_stored_and_ignored(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    answer = post(client, plain_wechat, report(plain_wechat, "someone", "200163840", "success"))
    assert answer.get_data() == b"success"
    assert [m.event for m in rows(engine, Message)] == ["templatesendjobfinish"]


def test_two_reports_in_one_second_are_both_kept_and_an_answered_page_alerts_nobody(
    paged: tuple[FlaskClient, Outbox],
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client, page = paged
    assert page.wechat_msgid
    code = CODE.search(str(page.payload)).group()  # type: ignore[union-attr]
    reply_text(
        plain_wechat, post(client, plain_wechat, plain_wechat.text(page.openid, f"接单 {code}"))
    )
    first = report(plain_wechat, page.openid, page.wechat_msgid, "failed:user block")
    second = {**first, "MsgID": "999999"}  # another message's report, the same second
    for push in (first, second):
        assert post(client, plain_wechat, push).get_data() == b"success"
    with Session(engine) as session:
        reports = session.exec(
            select(Message).where(Message.event == "templatesendjobfinish")
        ).all()
        assert len(reports) == 2
        assert {o.status for o in session.exec(select(Offer))} == {"accepted"}
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert fake_api.texts_to("staff-1") == []  # the page was answered: nothing waits on it
