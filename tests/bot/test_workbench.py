"""The expert's workbench: links that name one expert, taps that act once, a phone page."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from models.tables import Expert, Farmer, HelpRequest, Offer, Outbox, Survey, utcnow
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox
from tests.browser import browser_page, png, screenshot, serving
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"
LINK = re.compile(r"https?://[^\s/]+(/w/[A-Za-z0-9._\-]+)")


def page_link(fake_api: FakeWeChatAPI, openid: str) -> str:
    """The workbench link in the last page the fake WeChat API delivered to an expert."""
    pages = [t for t in fake_api.texts_to(openid) if "/w/" in t]
    assert pages, fake_api.texts_to(openid)
    found = LINK.search(pages[-1])
    assert found is not None
    return found.group(1)


def ask(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    reply = reply_text(wechat, post(client, wechat, wechat.text(openid, words)))
    found = re.search(r"[A-Z]\d{4}", reply)
    assert found is not None, reply
    return found.group()


def csrf_and_action(html: str) -> tuple[str, str]:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    action = re.search(r'name="action_id" value="([0-9a-f]+)"', html)
    assert token and action, html[:300]
    return token.group(1), action.group(1)


def accept_form(app: Any, fake_api: FakeWeChatAPI, code: str) -> tuple[FlaskClient, dict[str, str]]:
    """王植保 signed in through his paged link, and the form that accepts this request."""
    wang = app.test_client()
    wang.get(page_link(fake_api, "exp-wang"))
    token, action = csrf_and_action(wang.get(f"/w/r/{code}").get_data(as_text=True))
    return wang, {"csrf_token": token, "action_id": action, "action": "accept"}


def test_a_link_opens_only_its_experts_requests_and_tampering_fails(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
    app: Any,
) -> None:
    mine = ask(client, plain_wechat, "farmer-1", PEPPER)  # offered to 王植保
    theirs = ask(client, plain_wechat, "farmer-2", "我家的猪不吃食 木鱼镇")  # to 张畜牧
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    link = page_link(fake_api, "exp-wang")
    assert "farmer-1" not in link and "139" not in link  # ids only, no openid or phone
    wang = app.test_client()
    opened = wang.get(link)
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/w/r/{mine}")
    assert wang.get(f"/w/r/{mine}").status_code == 200
    foreign = wang.get(f"/w/r/{theirs}")
    assert foreign.status_code == 403 and "不在您这里" in foreign.get_data(as_text=True)
    for tampered in (link[:-2] + "xx", link.replace("/w/", "/w/A"), link[:20]):
        assert app.test_client().get(tampered).status_code in (403, 404)
    assert app.test_client().get(f"/w/r/{mine}").status_code == 403  # no session, no page


def test_an_old_link_is_refused_kindly(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    from handlers.notify import workbench_link

    settings.link_lifetime = "1s"
    app = make_app(settings)
    ask(app.test_client(), plain_wechat, "farmer-3", PEPPER)
    with Session(engine) as session:
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        found = session.exec(select(HelpRequest)).one()
        link = workbench_link(settings.policy(), expert=wang, request=found)
    time.sleep(2.1)
    page = app.test_client().get(link.removeprefix(settings.public_url))
    assert page.status_code == 403 and "过期" in page.get_data(as_text=True)
    assert "任务" in page.get_data(as_text=True)  # says how to get a new one


def test_double_tapping_accept_accepts_once(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
    app: Any,
) -> None:
    code = ask(client, plain_wechat, "farmer-4", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang, form = accept_form(app, fake_api, code)
    first = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True).get_data(as_text=True)
    second = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True).get_data(as_text=True)
    assert f"已接单 {code}" in first and "已经做过了" in second
    assert [o.status for o in rows(engine, Offer)] == ["accepted"]
    told = [t for t in queued(engine, "farmer-4") if "接了您的求助" in t]
    assert len(told) == 1


def test_a_tap_does_not_open_the_experts_48_hour_window(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
    app: Any,
) -> None:
    # Only a message written in WeChat opens the window for customer-service messages;
    # a tap on the page must not release what waits for the expert to write.
    code = ask(client, plain_wechat, "farmer-5", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    three_days_ago = utcnow() - timedelta(days=3)
    with Session(engine) as session:
        session.add(Farmer(openid="exp-wang", last_message_at=three_days_ago))
        session.add(Outbox(openid="exp-wang", kind="custom", purpose="notify", status="held"))
        session.commit()
    wang, form = accept_form(app, fake_api, code)
    tapped = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
    assert f"已接单 {code}" in tapped.get_data(as_text=True)
    with Session(engine) as session:
        expert = session.exec(select(Farmer).where(Farmer.openid == "exp-wang")).one()
    assert expert.last_message_at == three_days_ago
    assert held_notices(engine, "exp-wang") == ["held"]
    # Writing in WeChat does open it.
    reply_text(plain_wechat, post(client, plain_wechat, plain_wechat.text("exp-wang", "任务")))
    assert held_notices(engine, "exp-wang") == ["pending"]


def held_notices(engine: Engine, openid: str) -> list[str]:
    """The statuses of the notices queued for this person."""
    return [r.status for r in rows(engine, Outbox) if r.openid == openid and r.purpose == "notify"]


def queued(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and r.payload.get("msgtype") == "text"
    ]


def test_the_whole_visit_on_a_phone_in_a_browser(
    make_app: Any,
    settings: Settings,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    code = ask(client, plain_wechat, "farmer-w", PEPPER)
    fake_api.media["leaf-w"] = (png(160, 120, (120, 170, 70)), "image/png")
    post(
        client,
        plain_wechat,
        plain_wechat.message("farmer-w", "image", PicUrl="p", MediaId="leaf-w"),
    )
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    link = page_link(fake_api, "exp-wang")
    app = make_app(settings)
    tz = settings.policy().tz
    tomorrow = (utcnow().astimezone(tz) + timedelta(days=1)).date()
    with serving(app) as base, browser_page(width=390, height=844) as phone:
        phone.goto(base + link)
        phone.wait_for_selector("h1")
        assert code in phone.locator("h1").inner_text()
        photo = phone.locator(".photos img").first
        photo.wait_for()
        assert (
            phone.evaluate("(img) => img.complete && img.naturalWidth", photo.element_handle())
            == 160
        )
        phone.click("button:text-is('接单')")
        phone.wait_for_selector(".flash.ok")
        assert f"已接单 {code}" in phone.locator(".flash").inner_text()
        phone.fill("input[name=when]", f"{tomorrow.isoformat()}T15:00")
        phone.click("button:text-is('预约上门')")
        phone.wait_for_selector(".flash.ok")
        assert "已预约" in phone.locator(".flash").inner_text()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        screenshot(phone, "workbench-request")
        phone.fill("textarea[name=text]", "明天下午三点到，先别浇水")
        phone.click("button:text-is('发送')")
        phone.wait_for_selector(".flash.ok")
        assert f"已转给 {code} 农户" in phone.locator(".flash").inner_text()
        phone.click("summary:text-is('写处方（看完后）')")
        phone.fill("textarea[name=diagnosis]", "辣椒疫病，根茎部发病")
        phone.fill("input[name=product0]", "72% 霜脲·锰锌可湿性粉剂")
        phone.fill("input[name=dose0]", "100 克")
        phone.fill("input[name=dilution0]", "30 公斤")
        phone.fill("input[name=method0]", "喷雾，重点喷茎基部")
        phone.fill("input[name=timing0]", "7 天一次，连喷 2 次")
        phone.fill("input[name=interval0]", "7 天")
        phone.fill("textarea[name=advice]", "雨后及时排水，拔除病株")
        phone.set_input_files(
            "input[name=photos]",
            files=[
                {
                    "name": "visit.png",
                    "mimeType": "image/png",
                    "buffer": png(80, 60, (200, 180, 60)),
                }
            ],
        )
        screenshot(phone, "workbench-prescription-form")
        phone.click("button:text-is('记录这次服务并发给农户')")
        phone.wait_for_selector(".flash.ok")
        assert "已记录" in phone.locator(".flash").inner_text()
        assert "1 张现场照片已存" in phone.locator(".flash").inner_text()
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    to_farmer = fake_api.texts_to("farmer-w")
    assert any("明天下午三点到" in t for t in to_farmer)  # relayed exactly as from WeChat
    assert any("预约" in t and "15:00" in t for t in to_farmer)
    prescription = next(t for t in to_farmer if "诊断和建议" in t)
    assert "霜脲·锰锌" in prescription and "安全间隔期 7 天" in prescription
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        survey = session.exec(select(Survey)).one()
    assert found.status == "visited" and found.prescription is not None
    assert found.prescription["items"][0]["dose"] == "100 克"
    booked = found.visit_booked_for
    assert booked is not None and booked.astimezone(tz).replace(tzinfo=None) == datetime.combine(
        tomorrow, datetime.min.time()
    ) + timedelta(hours=15)
    assert survey.state == "scheduled" and survey.due_at > utcnow()  # as after 完成
    from models.console import timeline

    with Session(engine) as session:
        kinds = {item.text for item in timeline(session, request=found)}
    assert any("辣椒疫病" in text for text in kinds)  # the console timeline has it too
    from models.tables import MediaFile

    visit_photos = [m for m in rows(engine, MediaFile) if m.media_id.startswith("visit-")]
    assert len(visit_photos) == 1 and visit_photos[0].request_id == found.id
    assert visit_photos[0].path
    assert Path(visit_photos[0].path).read_bytes().startswith(b"\xff\xd8")  # kept as JPEG


def test_a_consultation_stays_between_experts_and_staff(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
    app: Any,
    cli_env: dict[str, str],
) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    code = ask(client, plain_wechat, "farmer-c", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang, form = accept_form(app, fake_api, code)
    wang.post(f"/w/r/{code}/act", data=form)
    token = form["csrf_token"]
    with Session(engine) as session:
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
    invited = wang.post(
        f"/w/r/{code}/act",
        data={"csrf_token": token, "action": "invite", "expert_id": str(li.id)},
        follow_redirects=True,
    )
    assert "已邀请 李植保 会诊" in invited.get_data(as_text=True)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    invitation = [t for t in fake_api.texts_to("exp-li") if "会诊邀请" in t]
    assert invitation and code in invitation[0]
    colleague = app.test_client()
    colleague.get(page_link(fake_api, "exp-li"))
    page = colleague.get(f"/w/r/{code}")
    assert page.status_code == 200 and "叶子发黄" in page.get_data(as_text=True)
    note_token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert note_token is not None
    colleague.post(
        f"/w/r/{code}/act",
        data={
            "csrf_token": note_token.group(1),
            "action": "consult_note",
            "text": "像疫病，先看根部",
        },
    )
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert not any("像疫病" in t for t in fake_api.texts_to("farmer-c"))  # never to the farmer
    assert any("【会诊意见" in t and "像疫病" in t for t in fake_api.texts_to("exp-wang"))
    added = CliRunner().invoke(
        main,
        ["staff", "add", "s1", "--role", "viewer", "--password-stdin"],
        env=cli_env,
        input="long-enough-pw\n",
    )
    assert added.exit_code == 0
    staff = app.test_client()
    login = staff.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert csrf is not None
    staff.post(
        "/console/login",
        data={"username": "s1", "password": "long-enough-pw", "csrf_token": csrf.group(1)},
    )
    timeline = staff.get(f"/console/requests/{code}").get_data(as_text=True)
    assert "邀请 李植保 会诊" in timeline and "会诊：像疫病，先看根部" in timeline
    month = utcnow().strftime("%Y-%m")
    import json

    report = CliRunner().invoke(main, ["report", "--month", month, "--format", "json"], env=cli_env)
    assert json.loads(report.stdout)["rows"][0]["consultations"] == 1


def test_similar_solved_cases_share_crop_and_symptoms_first(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
    app: Any,
) -> None:
    from models.tables import Farmer

    past = [
        ("辣椒", ["黄叶", "斑点"], "辣椒叶子发黄有斑点", "炭疽病，喷苯醚甲环唑"),
        ("辣椒", ["烂根"], "辣椒烂根了", "根腐病，灌根"),
        ("玉米", ["黄叶", "斑点"], "玉米叶子发黄有斑点", "大斑病"),
        ("辣椒", ["黄叶", "斑点"], "辣椒叶片黄了还有褐色斑点", "叶斑病，喷代森锰锌"),
        ("番茄", ["斑点"], "番茄叶子有斑点", "早疫病"),
    ]
    with Session(engine) as session:
        farmer = Farmer(openid="farmer-old")
        session.add(farmer)
        session.flush()
        for crop, symptoms, words, record in past:
            session.add(
                HelpRequest(
                    farmer_id=farmer.id,
                    status="closed",
                    crop=crop,
                    category="plant_protection",
                    symptoms=symptoms,
                    text=words,
                    visit_record=record,
                    visited_at=utcnow() - timedelta(days=30),
                )
            )
        session.commit()
    code = ask(client, plain_wechat, "farmer-new", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang = app.test_client()
    wang.get(page_link(fake_api, "exp-wang"))
    html = wang.get(f"/w/r/{code}").get_data(as_text=True)
    panel = html.split("以前类似的求助")[1]
    shown = re.findall(r"<b>诊断和处理：</b>([^<]+)", panel)
    assert shown[:2] and set(shown[:2]) == {"炭疽病，喷苯醚甲环唑", "叶斑病，喷代森锰锌"}
    assert "大斑病" not in panel and "早疫病" not in panel  # other crops
