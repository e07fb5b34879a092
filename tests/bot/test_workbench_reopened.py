"""The expert's page after accepting, and for a case reopened by a bad survey: no chat
command hints or signed links, the conversation near the top with its reply box, the
earlier round at the top, and past cases that used the failed treatment marked last."""

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
from models.tables import Farmer, HelpRequest, Survey, utcnow
from scheduler.outbox import deliver_outbox
from scheduler.surveys import send_due_surveys
from tests.bot.test_workbench import PEPPER, accept_form, ask, page_link
from tests.bot.test_workbench_uploads import prescription_form
from tests.browser import browser_page, screenshot, serving
from tests.fake_wechat_api import FakeWeChatAPI
from tests.wechat_client import FakeWeChat, post, reply_text


def _past_case(session: Session, code: str, product: str, diagnosis: str) -> None:
    farmer = Farmer(openid=f"past-{code}")
    session.add(farmer)
    session.flush()
    assert farmer.id is not None
    past = HelpRequest(
        code=code, farmer_id=farmer.id, status="closed", text="辣椒叶子发黄有斑点",
        crop="辣椒", category="plant_protection", symptoms=["黄叶", "斑点"],
        visit_record=f"{diagnosis}\n用药1：{product}，每亩 100 克",
        prescription={"diagnosis": diagnosis, "items": [{"product": product}], "advice": ""},
        visited_at=utcnow() - timedelta(days=60),
    )  # fmt: skip
    session.add(past)
    session.flush()
    assert past.id is not None
    session.add(
        Survey(request_id=past.id, farmer_id=farmer.id, state="answered", due_at=utcnow(),
               solved="yes", rating=5)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "heading", "marked"),
    [
        (("3", "1", "打了药还是黄，越来越多"), "上一轮没解决，农户又来求助", True),
        # Solved, but rated 2: reopened too, yet its treatment did not fail.
        (("1", "2", "打了药还是黄，越来越多"), "上一轮农户打了 2 分，重新派单", False),
    ],
    ids=["not-solved", "rated-low"],
)
def test_a_reopened_case_on_the_next_experts_phone(
    answers: tuple[str, str, str],
    heading: str,
    marked: bool,
    make_app: Any,
    settings: Settings,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    settings.quiet_hours = "off"
    app = make_app(settings)
    with Session(engine) as session:
        _past_case(session, "A0901", "58% 甲霜·锰锌可湿性粉剂", "辣椒疫病")
        _past_case(session, "A0902", "霜脲·锰锌 72%可湿性粉剂", "辣椒疫病")
        session.commit()
    code = ask(client, plain_wechat, "farmer-r", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang, form = accept_form(app, fake_api, code)
    accepted = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True).get_data(
        as_text=True
    )
    flash = re.search(r'<p class="flash ok">([^<]*)</p>', accepted)
    assert flash is not None
    # The page speaks to the expert on it: no typed commands, no signed link.
    assert flash.group(1).startswith(f"已接单 {code}，农户已收到通知")
    assert "回复“" not in flash.group(1) and "http" not in flash.group(1)
    chat = accepted.split('<div class="card conversation"', 1)[1].split("</ul>", 1)[0]
    assert "/w/" not in chat and "预约 " + code not in chat
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    done = wang.post(
        f"/w/r/{code}/act", data=prescription_form(page, "辣椒疫病"), follow_redirects=True
    )
    assert "已记录" in done.get_data(as_text=True)
    # A day on, the farmer says it did not help: the request goes to another expert.
    later = utcnow() + timedelta(hours=25)
    assert send_due_surveys(engine=engine, policy=settings.policy(), now=later) == 1

    def farmer_says(words: str) -> str:
        return reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text("farmer-r", words))
        )

    for answer in answers:
        farmer_says(answer)
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        assert found.status == "offered" and found.routing["rounds"][0]["products"] == [
            "72% 霜脲·锰锌可湿性粉剂"
        ]
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    link = page_link(fake_api, "exp-zhao")
    with serving(app) as base, browser_page(width=390, height=844) as phone:
        phone.goto(base + link)
        banner = phone.locator(".reopened")
        banner.wait_for()
        said = banner.inner_text()
        assert "第 2 轮" in said and "王植保" in said and "辣椒疫病" in said
        assert heading in said and "霜脲·锰锌" in said and "打了药还是黄" in said
        assert ("没解决" if marked else "已解决，打 2 分") in said
        # Past cases: one that used a failed treatment is marked and comes last.
        similar = phone.locator(".similar").all_inner_texts()
        order = [re.search(r"A09\d\d", s).group() for s in similar]  # type: ignore[union-attr]
        if marked:
            assert order == ["A0901", "A0902"]
            assert "上一轮用过" in similar[1] and "上一轮用过" not in similar[0]
        else:
            assert order == ["A0902", "A0901"] and not any("上一轮用过" in s for s in similar)
        phone.click("button:text-is('接单')")
        phone.wait_for_selector(".flash.ok")
        assert "回复“" not in phone.locator(".flash").inner_text()
        # The conversation, newest line and reply box, comes before the forms.
        newest = phone.locator(".conversation .chat > li").last
        reply_box = phone.locator(".conversation textarea[name=text]")
        assert newest.bounding_box()["y"] < 2500  # type: ignore[index]
        assert (
            reply_box.bounding_box()["y"]
            < phone.locator("button:text-is('预约上门')").bounding_box()["y"]
        )  # type: ignore[index]
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        if marked:
            screenshot(phone, "workbench-reopened-phone")


def test_two_subjects_are_two_cases_each_with_a_form_that_fits(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    """A farmer raises pigs' scouring, then the peppers: the vet's form is for animals, the
    plant expert's for crops; neither mixes units, mixing or the harvest interval."""
    pig = ask(client, plain_wechat, "farmer-two", "我家的猪不吃食还拉稀 石坝村")
    said = reply_text(
        plain_wechat,
        post(client, plain_wechat, plain_wechat.text("farmer-two", "还有辣椒叶子也发黄有斑点")),
    )
    pepper = re.search(r"求助 ([A-Z]\d{4}) 已登记", said)
    assert pepper is not None and pepper.group(1) != pig, said
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    forms = {}
    for code, expert in ((pig, "exp-zhang"), (pepper.group(1), "exp-wang")):
        browser = app.test_client()
        browser.get(page_link(fake_api, expert))
        page = browser.get(f"/w/r/{code}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        action = re.search(r'name="action_id" value="([0-9a-f]+)"', page)
        assert token and action, page[:400]
        browser.post(
            f"/w/r/{code}/act",
            data={"csrf_token": token.group(1), "action_id": action.group(1), "action": "accept"},
        )
        page = browser.get(f"/w/r/{code}").get_data(as_text=True)
        forms[expert] = page.split('class="prescription"', 1)[1].split("</form>", 1)[0]
    vet, plant = forms["exp-zhang"], forms["exp-wang"]
    assert ">每头</option>" in vet and "兑水或拌料" in vet
    assert "每亩" not in vet and "打药的必填" not in vet and "每株" not in vet
    assert ">每亩</option>" in plant and "打药的必填" in plant
    assert "每头" not in plant and "拌料" not in plant and "体重" not in plant
