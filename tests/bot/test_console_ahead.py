"""The console's report page, outbreak alerts on the dashboard, and advisories."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import openpyxl
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.cli import main
from bot.files.report_export import FIGURE_NAMES, shown
from handlers.config import Policy
from handlers.outbreaks import find_outbreaks
from handlers.report_page import report_page
from handlers.scores import ScoreRule
from models.tables import (
    Advisory,
    HelpRequest,
    Outbox,
    OutbreakAlert,
    ReportSnapshot,
    utcnow,
)
from scheduler.report import store_last_month
from tests.browser import browser_page, screenshot, serving
from tests.handlers.test_report import TZ, at, seed
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post

PASSWORD = "correct-horse-battery"


def staff_client(app: Flask, cli_env: dict[str, str], username: str, role: str) -> FlaskClient:
    added = CliRunner().invoke(
        main,
        ["staff", "add", username, "--role", role, "--password-stdin"],
        env=cli_env,
        input=PASSWORD,
    )
    assert added.exit_code == 0, added.output
    client = app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True)
    )
    assert token is not None
    client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    return client


def test_the_report_page_shows_what_farmhelp_report_computes(
    app: Flask, engine: Engine, cli_env: dict[str, str], make_app: Any, settings: Any
) -> None:
    seed(engine)
    viewer = staff_client(app, cli_env, "v1", "viewer")
    page = viewer.get("/console/reports", query_string={"month": "2026-10"}).get_data(as_text=True)
    cli = CliRunner().invoke(
        main, ["report", "--month", "2026-10", "--format", "json"], env=cli_env
    )
    total = json.loads(cli.stdout)["rows"][0]
    for figure in (
        "requests",
        "visits",
        "farmers_served",
        "villages_covered",
        "share_solved",
        "mean_rating",
    ):
        card = re.search(rf'data-figure="{figure}"><b>([^<]+)</b>', page)
        assert card is not None, figure
        assert card.group(1) == str(shown(figure, total[figure])), (
            figure,
            card.group(1),
            total[figure],
        )
    table = page.split('class="report-table"')[1]
    assert f"<td>{total['requests']}</td>" in table and "<svg" in page  # charts drawn on the server
    workbook = openpyxl.load_workbook(io.BytesIO(viewer.get("/console/reports/2026-10.xlsx").data))
    assert workbook.sheetnames == [
        "月度调度表", "每日求助", "问题类别", "乡镇", "专家", "服务队", "用药效果", "专家评分",
    ]  # fmt: skip
    sheet = workbook["月度调度表"]
    header = [c.value for c in sheet[1]]
    assert (
        header[2] == FIGURE_NAMES["requests"]
        and sheet.cell(row=2, column=3).value == total["requests"]
    )
    assert (
        sum(row[1] for row in workbook["每日求助"].iter_rows(min_row=2, values_only=True))
        == total["requests"]
    )
    with serving(make_app(settings)) as base, browser_page() as browser:
        browser.goto(f"{base}/console/login")
        browser.fill("input[name=username]", "v1")
        browser.fill("input[name=password]", PASSWORD)
        browser.click("button[type=submit]")
        browser.goto(f"{base}/console/reports?month=2026-10")
        assert browser.locator("svg.chart").count() == 3
        screenshot(browser, "console-report")


def test_a_month_that_is_over_is_shown_from_the_nightly_snapshot(
    app: Flask, engine: Engine, cli_env: dict[str, str]
) -> None:
    seed(engine)
    viewer = staff_client(app, cli_env, "v1", "viewer")

    def report() -> str:
        page = viewer.get("/console/reports", query_string={"month": "2026-10"})
        assert page.status_code == 200
        return re.sub(r'name="csrf_token" value="[^"]*"', "", page.get_data(as_text=True))

    def requests_card(page: str) -> str:
        card = re.search(r'data-figure="requests"><b>([^<]+)</b>', page)
        assert card is not None
        return card.group(1)

    live = report()
    assert "统计于" not in live and requests_card(live) == "4"
    store_last_month(engine=engine, policy=Policy(), now=at(11, 2, 1))  # 01:00 on 2 November
    stored = report()
    note = (
        '<p class="muted snapshot">这些数字统计于 2026-11-02 01:00'
        "（刚过去的一个月每晚重新统计一次）</p>\n"
    )
    assert note in stored
    assert stored.replace(note, "") == live  # the same page, every table and chart
    # Something recorded late about October shows after the next night's run.
    with Session(engine) as session:
        first = session.exec(select(HelpRequest).order_by(col(HelpRequest.id))).first()
        assert first is not None
        session.add(
            HelpRequest(farmer_id=first.farmer_id, place=first.place, confirmed_at=at(10, 30, 9))
        )
        session.commit()
    assert requests_card(report()) == "4"
    store_last_month(engine=engine, policy=Policy(), now=at(11, 3, 1))
    assert requests_card(report()) == "5" and "统计于 2026-11-03 01:00" in report()
    with Session(engine) as session:  # under another scoring rule the page is computed now
        other = report_page(session, "2026-10", TZ, ScoreRule(volume=50, results=50), now=utcnow())
        same = report_page(session, "2026-10", TZ, ScoreRule(), now=utcnow())
        this_month = report_page(session, "2026-12", TZ, ScoreRule(), now=utcnow())
    assert other.computed_at is None and other.rule.volume == 50
    assert same.computed_at is not None and this_month.computed_at is None
    with Session(engine) as session:  # made by another version, or in another time zone
        snapshot = session.get(ReportSnapshot, "2026-10")
        assert snapshot is not None
        stored_page = snapshot.page
        for changed in ({"format": 0}, {"tz": "UTC"}, {"ranking": [[1, "甲"]]}):
            snapshot.page = stored_page | changed
            session.add(snapshot)
            session.flush()
            again = report_page(session, "2026-10", TZ, ScoreRule(), now=utcnow())
            assert again.computed_at is None and again.total["requests"] == 5, changed


def test_alert_on_the_dashboard_leads_to_an_advisory_that_reaches_exactly_the_count_shown(
    app: Flask,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Any,
    cli_env: dict[str, str],
    county: None,
) -> None:
    for n, words in enumerate(["小麦叶子上有黄锈", "麦子叶片出现条锈了", "小麦长锈病了"]):
        post(client, plain_wechat, plain_wechat.text(f"wheat-{n}", f"{words} 木鱼镇石坝村"))
    post(client, plain_wechat, plain_wechat.text("maize", "玉米叶子发黄 木鱼镇石坝村"))
    # Raised when the third report was confirmed; the job finds nothing more.
    assert len(rows(engine, OutbreakAlert)) == 1
    with Session(engine) as session:
        assert find_outbreaks(session, config=settings.policy(), now=utcnow()) == []
    coordinator = staff_client(app, cli_env, "c1", "coordinator")
    dashboard = coordinator.get("/console/").get_data(as_text=True)
    assert "【疫情预警】小麦，木鱼镇（石坝村）：3 个求助说到锈病" in dashboard
    link = re.search(r'href="(/console/advisories\?alert=\d+)"', dashboard)
    assert link is not None
    form = coordinator.get(link.group(1)).get_data(as_text=True)
    assert 'value="小麦"' in form and "<option selected>木鱼镇</option>" in form  # pre-filled
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    draft = {
        "csrf_token": token.group(1),
        "title": "小麦条锈病预警",
        "body": "发病初期每亩用 15% 三唑酮 60 克兑水 30 公斤喷雾。",
        "crop": "小麦",
        "township": "木鱼镇",
        "alert": re.search(r"alert=(\d+)", link.group(1)).group(1),  # type: ignore[union-attr]
    }
    preview = coordinator.post("/console/advisories/preview", data=draft).get_data(as_text=True)
    count = re.search(r"将发给 <b>(\d+)</b> 位农户", preview)
    assert count is not None and count.group(1) == "3"  # the three wheat growers, not the maize one
    assert not [r for r in rows(engine, Outbox) if r.purpose == "advisory"]  # nothing sent yet
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', preview)
    assert submission is not None
    confirmed = {**draft, "submission": submission.group(1)}
    first = coordinator.post("/console/advisories/send", data=confirmed)
    again = coordinator.post("/console/advisories/send", data=confirmed)  # a double-click
    assert again.headers["Location"] == first.headers["Location"]
    assert "只发一次" in coordinator.get(again.headers["Location"]).get_data(as_text=True)
    queued = [r for r in rows(engine, Outbox) if r.purpose == "advisory"]
    assert len(queued) == 3 and {r.openid for r in queued} == {"wheat-0", "wheat-1", "wheat-2"}
    assert len(rows(engine, Advisory)) == 1
    advisory = rows(engine, Advisory)[0]
    page = coordinator.get(f"/console/advisories/{advisory.id}").get_data(as_text=True)
    assert "小麦条锈病预警" in page and "<b>3</b>待发" in page
