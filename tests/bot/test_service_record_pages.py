"""The service record as staff and experts see it: the console page, its A4 print and
Excel, the workbench page, complaints judged (audited), and the report's ranking."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from flask import Flask
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from handlers.notify import workbench_link
from models.tables import AuditEvent, Expert, HelpRequest, Survey
from tests.bot.test_console_ahead import PASSWORD, staff_client
from tests.browser import browser_page, screenshot, serving
from tests.handlers.test_service_record import seed_quarter


def test_the_record_page_its_excel_and_a_complaint_judged(
    app: Flask, engine: Engine, cli_env: dict[str, str], settings: Settings, county: None
) -> None:
    ids = seed_quarter(engine)
    viewer = staff_client(app, cli_env, "v1", "viewer")
    page = viewer.get(f"/console/experts/{ids['王植保']}/record?period=2026-Q3")
    shown = page.get_data(as_text=True)
    assert page.status_code == 200
    for expected in (
        "青川县农技专家服务记录",
        "2026 年第 3 季度",
        "<th>得分</th><td>81.5</td>",
        "<th>接单</th><td>3</td>",
        "预约 07-02 09:00",
        "不在附近",
        "很好",
        "服务量分 60 × 服务次数",
        "专家签字",
    ):
        assert expected in shown, expected
    bad = viewer.get(f"/console/experts/{ids['王植保']}/record?period=去年")
    assert bad.status_code == 200 and "期间写成 2026-11" in bad.get_data(as_text=True)
    excel = viewer.get(f"/console/experts/{ids['王植保']}/record.xlsx?period=2026-Q3")
    workbook = openpyxl.load_workbook(io.BytesIO(excel.data))
    assert workbook.sheetnames == ["概要", "上门", "电话远程指导", "会诊", "拒绝", "农户评价"]
    summary = dict(workbook["概要"].iter_rows(min_row=3, values_only=True))
    assert summary["得分"] == 81.5 and summary["上门"] == 2 and summary["拒绝"] == 1
    assert len(list(workbook["上门"].iter_rows(min_row=3, values_only=True))) == 2

    coordinator = staff_client(app, cli_env, "c1", "coordinator")
    request_page = coordinator.get("/console/requests/A1003").get_data(as_text=True)
    assert "投诉：<b>属实</b>" in request_page  # upheld before
    with Session(engine) as session:
        complained = session.exec(select(Survey).where(Survey.solved == "no")).one()
        praised = session.exec(select(Survey).where(Survey.rating == 5)).one()
        token = request_page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = coordinator.post(
        "/console/requests/A1003/complaint",
        data={"csrf_token": token, "survey_id": complained.id, "verdict": "dismissed"},
        follow_redirects=True,
    )
    assert "投诉不属实" in answer.get_data(as_text=True)
    refused = coordinator.post(
        "/console/requests/A1000/complaint",
        data={"csrf_token": token, "survey_id": praised.id, "verdict": "upheld"},
        follow_redirects=True,
    )
    assert "只能核实" in refused.get_data(as_text=True)
    with Session(engine) as session:
        judged = session.get(Survey, complained.id)
        assert judged is not None and (judged.complaint, judged.complaint_by) == ("dismissed", "c1")
        entry = session.exec(
            select(AuditEvent).where(AuditEvent.action == "complaint_dismissed")
        ).one()
        assert entry.username == "c1"
    again = viewer.get(f"/console/experts/{ids['王植保']}/record?period=2026-Q3")
    # Dismissed: neither the complaint nor the reopened round costs 王 anything now.
    assert "<th>得分</th><td>82.5</td>" in again.get_data(as_text=True)

    report = viewer.get("/console/reports?month=2026-08").get_data(as_text=True)
    assert "专家评分" in report
    # August: 李 visited twice, solved with 4 stars (95); 王 visited once and consulted
    # once, not solved with 2 stars, its complaint dismissed (60 + 5 = 65).
    assert "<td>1</td><td>李植保</td>" in report and "<td>95.0</td></tr>" in report
    assert "<td>2</td><td>王植保</td>" in report and "<td>65.0</td></tr>" in report


def test_the_expert_sees_their_own_record_on_the_workbench(
    app: Flask, engine: Engine, settings: Settings, county: None
) -> None:
    ids = seed_quarter(engine)
    with Session(engine) as session:
        wang = session.get(Expert, ids["王植保"])
        first = session.exec(select(HelpRequest).where(HelpRequest.code == "A1000")).one()
        assert wang is not None
        link = workbench_link(settings.policy(), expert=wang, request=first)
    phone = app.test_client()
    phone.get(link.removeprefix(settings.public_url))
    own = phone.get("/w/record?period=2026-Q3").get_data(as_text=True)
    assert "王植保" in own and "<th>得分</th><td>81.5</td>" in own and "A1002" in own
    assert "我的服务记录和评分" in phone.get("/w/tasks").get_data(as_text=True)


def test_the_printable_record_fits_a4_and_is_looked_at(
    make_app: Any, engine: Engine, cli_env: dict[str, str], settings: Settings, county: None
) -> None:
    import pypdfium2

    ids = seed_quarter(engine)
    staff_client(make_app(settings), cli_env, "v2", "viewer")
    with serving(make_app(settings)) as base, browser_page(width=1366) as browser:
        browser.goto(f"{base}/console/login")
        browser.fill("input[name=username]", "v2")
        browser.fill("input[name=password]", PASSWORD)
        browser.click("button[type=submit]")
        browser.goto(f"{base}/console/experts/{ids['王植保']}/record?period=2026-Q3")
        screenshot(browser, "service-record")
        browser.emulate_media(media="print")
        assert not browser.locator("header.top").is_visible()  # the console's menu is not printed
        screenshot(browser, "service-record-print")
        pdf: bytes = browser.pdf(format="A4", print_background=True)
    document = pypdfium2.PdfDocument(pdf)
    width, height = document[0].get_size()
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2  # A4 in points
    assert 1 <= len(document) <= 2
    text = document[0].get_textpage().get_text_range()
    assert "青川县农技专家服务记录" in text and "81.5" in text
