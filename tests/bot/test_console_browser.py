"""The console in a real headless Chromium: a coordinator's ordinary morning."""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from models.search import index_pending
from models.tables import AuditEvent, Farmer, utcnow
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox
from tests.browser import browser_page, png, screenshot, serving
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

PASSWORD = "correct-horse-battery"


def test_coordinator_finds_reads_and_reassigns_a_request_in_a_browser(
    make_app: Any,
    settings: Settings,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
    county: None,
) -> None:
    for name, role in (("zhang-coord", "coordinator"), ("li-admin", "admin")):
        added = CliRunner().invoke(
            main,
            ["staff", "add", name, "--role", role, "--password-stdin"],
            env=cli_env,
            input=PASSWORD,
        )
        assert added.exit_code == 0, added.output
    words = "我家辣椒叶子发黄还有斑点 我是石坝村的"
    code = re.search(
        r"[A-Z]\d{4}",
        reply_text(plain_wechat, post(client, plain_wechat, plain_wechat.text("farmer-p", words))),
    )
    assert code is not None
    fake_api.media["leaf-1"] = (png(120, 90, (90, 160, 60)), "image/png")
    post(
        client,
        plain_wechat,
        plain_wechat.message("farmer-p", "image", PicUrl="p", MediaId="leaf-1"),
    )
    for openid, text in (
        ("farmer-q", "我家的猪不吃食 拉稀 木鱼镇"),
        ("farmer-r", "玉米长得慢 叶子发紫 东河村"),
    ):
        post(client, plain_wechat, plain_wechat.text(openid, text))
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    with Session(engine) as session:
        index_pending(session, now=utcnow())
        session.commit()
        farmer_id = session.exec(select(Farmer).where(Farmer.openid == "farmer-p")).one().id
    before = len(fake_api.texts_to("exp-zhao"))

    app = make_app(settings)
    with serving(app) as base, browser_page() as page:
        page.goto(f"{base}/console/")
        assert "/console/login" in page.url
        page.fill("input[name=username]", "zhang-coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/")
        assert page.locator("h1").inner_text().startswith("今日概况")
        screenshot(page, "console-dashboard")

        page.click("nav >> text=求助")
        page.select_option("select[name=category]", "livestock")
        page.click("text=筛选")
        assert page.locator("table.requests tbody tr").count() == 1
        assert "不吃食" in page.locator("table.requests").inner_text()

        page.click("text=清空")
        page.fill("input[name=q]", "叶子发黄")
        page.click("text=筛选")
        listed = page.locator("table.requests tbody tr")
        assert listed.count() == 1 and code.group() in listed.inner_text()
        page.click(f"table.requests >> text={code.group()}")
        page.wait_for_selector("ol.timeline")
        assert "叶子发黄" in page.locator("ol.timeline").inner_text()
        photo = page.locator("img.photo").first
        photo.wait_for()
        assert (
            page.evaluate("(img) => img.complete && img.naturalWidth", photo.element_handle())
            == 120
        )

        # Qualified experts come first, each with duty, closeness and load.
        page.select_option("select[name=expert_id]", label="赵植保 · 在值班 · 同县 · 在办 0")
        page.click('form.action button:text-is("改派")')
        page.wait_for_selector(".flash.ok")
        assert "赵植保" in page.locator("table").first.inner_text()
        deliver_outbox(engine=engine, sender=api, now=utcnow())
        paged = fake_api.texts_to("exp-zhao")[before:]
        assert any(code.group() in text for text in paged)

        page.goto(f"{base}/console/farmers/{farmer_id}")
        screenshot(page, "console-farmer-conversation")

        page.click("text=退出")
        page.fill("input[name=username]", "li-admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/")
        page.goto(f"{base}/console/audit")
        audit = page.locator("table.audit").inner_text()
        assert f"协调员 zhang-coord 把求助 {code.group()} 改派给 赵植保" in audit
        page.goto(f"{base}/console/rota")
        assert page.locator("table.rota tbody tr, table.rota tr").count() > 3
        screenshot(page, "console-rota-week")

    with browser_page(width=820, height=1180) as tablet, serving(app) as base:
        tablet.goto(f"{base}/console/login")
        tablet.fill("input[name=username]", "li-admin")
        tablet.fill("input[name=password]", PASSWORD)
        tablet.click("button[type=submit]")
        tablet.goto(f"{base}/console/requests/{code.group()}")
        width = tablet.evaluate("document.documentElement.scrollWidth")
        assert width <= 820, f"the request page scrolls sideways on a tablet ({width}px)"
        screenshot(tablet, "console-request-tablet")

    done = [a.action for a in rows(engine, AuditEvent) if a.username == "zhang-coord"]
    # The reassignment, then what the coordinator read afterwards, then signing out.
    assert done[done.index("reassign") :] == ["reassign", "read_request", "read_farmer", "logout"]


def test_farmers_and_experts_with_their_load_on_a_laptop_and_a_phone(
    make_app: Any,
    settings: Settings,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    cli_env: dict[str, str],
    county: None,
) -> None:
    added = CliRunner().invoke(
        main,
        ["staff", "add", "zhang-coord", "--role", "coordinator", "--password-stdin"],
        env=cli_env,
        input=PASSWORD,
    )
    assert added.exit_code == 0, added.output

    def say(openid: str, words: str) -> str:
        return reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text(openid, words))
        )

    say("farmer-a", "我家辣椒叶子发黄还有斑点 我是石坝村的 电话13912345678")
    say("exp-wang", "接单")
    say("farmer-b", "我家的猪不吃食 拉稀 木鱼镇 13800001111")
    say("farmer-c", "玉米长得慢 叶子发紫 东河村")
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    app = make_app(settings)
    with serving(app) as base:
        for width, height in ((1366, 860), (390, 844)):
            with browser_page(width=width, height=height) as page:
                page.goto(f"{base}/console/login")
                page.fill("input[name=username]", "zhang-coord")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/console/")
                size = "phone" if width == 390 else "laptop"
                for path, name in (
                    ("/console/farmers", "farmers"),
                    ("/console/experts", "experts"),
                    ("/console/", "dashboard"),
                    ("/console/requests", "requests"),
                    ("/console/audit", "audit"),
                    ("/console/rota", "rota"),
                ):
                    page.goto(base + path)
                    page.wait_for_selector("h1")
                    scrolled = page.evaluate("document.documentElement.scrollWidth")
                    assert scrolled <= width, f"{path} scrolls sideways at {width}px ({scrolled})"
                    if name in ("farmers", "experts"):
                        screenshot(page, f"console-{name}-{size}")
                page.goto(f"{base}/console/experts")
                experts = page.locator("table.experts tbody tr").first.inner_text()
                assert "王植保" in experts and "在值班" in experts, experts
                page.goto(f"{base}/console/farmers")
                assert "共 3 位" in page.locator("h1").inner_text()  # 王植保 is no farmer
                page.fill("input[name=q]", "1111")
                page.click("button:text-is('搜索')")
                page.wait_for_selector("table.farmers")
                found = page.locator("table.farmers tbody").inner_text()
                assert "138****1111" in found and "139****5678" not in found, found
                page.click("table.farmers a")
                page.wait_for_selector("dl.facts")
                heading = page.locator("h1").inner_text()
                assert heading.startswith("农户 ") and "木鱼镇" in heading, heading
                scrolled = page.evaluate("document.documentElement.scrollWidth")
                assert scrolled <= width, f"a farmer's page scrolls sideways ({scrolled})"
