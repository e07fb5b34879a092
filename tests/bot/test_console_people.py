"""Finding people in the console: requests by phone, name or village, the farmer list,
a farmer's page headed by who they are, and the place filter's choices."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models import request_list
from models.tables import (
    AuditEvent,
    Expert,
    Farmer,
    HelpRequest,
    Offer,
    RequestEvent,
    Survey,
    utcnow,
)
from tests.bot.test_console import CODE, csrf_of
from tests.wechat_client import FakeWeChat, post, reply_text


def _ask(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    reply = reply_text(wechat, post(client, wechat, wechat.text(openid, words)))
    found = CODE.search(reply)
    assert found is not None, reply
    return found.group()


def _listed(client: FlaskClient, q: str) -> str:
    return client.get("/console/requests", query_string={"q": q}).get_data(as_text=True)


def test_requests_are_found_by_phone_name_and_village(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
    engine: Engine,
) -> None:
    shiba = _ask(client, plain_wechat, "farmer-s", "辣椒叶子发黄 我是石坝村的 电话13912345678")
    donghe = _ask(client, plain_wechat, "farmer-d", "玉米叶子上有虫子 东河 电话 139 0000 2222")
    coordinator, viewer = signed_in("coord1"), signed_in("viewer1")
    # Any part of the phone, as people read it out, for a role that may see phones.
    for typed in ("13912345678", "5678", "1234 5678", "139-1234-5678"):
        page = _listed(coordinator, typed)
        assert f">{shiba}<" in page and f">{donghe}<" not in page, typed
    assert f">{shiba}<" in _listed(coordinator, "５６７８")  # full-width, as a phone types it
    assert "共 0 条" in _listed(viewer, "5678")  # a viewer sees phones masked: no search
    export = coordinator.get("/console/requests/export.csv", query_string={"q": "13912345678"})
    assert export.status_code == 200 and shiba in export.get_data(as_text=True)
    with Session(engine) as session:
        searched = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "search_phone")
        ).all()
        assert [e.username for e in searched] == ["coord1"] * 5
        exported = session.exec(
            select(AuditEvent).where(AuditEvent.action == "export_requests")
        ).one()
        every = [str(e.before) + str(e.after) + e.target for e in session.exec(select(AuditEvent))]
        assert exported.after["filters"] == {"q": "…"}
        assert not any("5678" in entry for entry in every)
    # A village as people say it (东河 for 东河村), and a township for all its villages.
    for typed, found, other in (("东河", donghe, shiba), ("石坝", shiba, donghe)):
        page = _listed(viewer, typed)
        assert f">{found}<" in page and f">{other}<" not in page, typed
    assert f">{shiba}<" in _listed(viewer, "木鱼镇") and f">{donghe}<" not in _listed(
        viewer, "木鱼镇"
    )
    # The name staff wrote down for the farmer.
    with Session(engine) as session:
        farmer_id = session.exec(select(Farmer.id).where(Farmer.openid == "farmer-d")).one()
    page = coordinator.get(f"/console/farmers/{farmer_id}").get_data(as_text=True)
    answer = coordinator.post(
        f"/console/farmers/{farmer_id}/name",
        data={"name": "东河张大爷", "csrf_token": csrf_of(page)},
    )
    assert answer.status_code == 302
    page = _listed(viewer, "张大爷")
    assert f">{donghe}<" in page and f">{shiba}<" not in page
    with Session(engine) as session:
        named = session.exec(select(AuditEvent).where(AuditEvent.action == "name_farmer")).one()
        assert "张大爷" not in str(named.before) + str(named.after)


def test_the_farmer_list_and_a_farmers_page_say_who_they_are(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
    engine: Engine,
) -> None:
    first = _ask(client, plain_wechat, "farmer-a", "辣椒叶子发黄 我是石坝村的 电话13912345678")
    _ask(client, plain_wechat, "farmer-b", "玉米叶子上有虫子 东河")
    post(client, plain_wechat, plain_wechat.text("exp-wang", "任务"))
    post(client, plain_wechat, plain_wechat.text("farmer-c", "你好"))
    viewer, coordinator = signed_in("viewer1"), signed_in("coord1")
    listing = viewer.get("/console/farmers").get_data(as_text=True)
    assert "共 3 位" in listing  # the expert who wrote 接单 is not listed
    names = re.findall(r'href="/console/farmers/\d+">([^<]+)</a>', listing)
    # The latest to write come first.
    with Session(engine) as session:
        ids = {f.openid: f.id for f in session.exec(select(Farmer))}
    assert names == [
        f"农户 {ids['farmer-c']}",
        f"农户 {ids['farmer-b']}",
        f"农户 {ids['farmer-a']}",
    ]
    rows = listing.split("<tbody>", 1)[1]
    assert "木鱼镇 石坝村" in rows and "城关镇 东河村" in rows
    assert "139****5678" in rows and "13912345678" not in rows
    # Search by village, and by phone only for roles that may see phones.
    assert "共 1 位" in viewer.get("/console/farmers?q=东河").get_data(as_text=True)
    assert "共 0 位" in viewer.get("/console/farmers?q=5678").get_data(as_text=True)
    by_phone = coordinator.get("/console/farmers?q=1234").get_data(as_text=True)
    assert "共 1 位" in by_phone and f"/console/farmers/{ids['farmer-a']}" in by_phone
    # The farmer's page is headed by who they are, not an openid.
    page = viewer.get(f"/console/farmers/{ids['farmer-a']}").get_data(as_text=True)
    heading = page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert f"农户 {ids['farmer-a']}" in heading and "木鱼镇 石坝村" in heading
    assert "farmer-a" not in heading and "139****5678" in page and first in page
    assert "在办 1 件" in page


def test_the_place_filter_offers_the_townships_and_villages(
    signed_in: Callable[[str], FlaskClient], county: None
) -> None:
    page = signed_in("viewer1").get("/console/requests").get_data(as_text=True)
    select_html = page.split('<select name="place"', 1)[1].split("</select>", 1)[0]
    assert '<optgroup label="木鱼镇">' in select_html and '<optgroup label="城关镇">' in select_html
    assert '<option value="木鱼镇" >木鱼镇（全镇）</option>' in select_html
    assert '<option value="石坝村" >石坝村</option>' in select_html
    # A farmer's own name for a place (from the dashboard's list) stays chosen.
    page = signed_in("viewer1").get("/console/requests?place=王家湾").get_data(as_text=True)
    assert '<option value="王家湾" selected>王家湾（农户写的地名）</option>' in page


def test_the_experts_page_shows_each_experts_load_and_the_dashboard_names_them(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
    engine: Engine,
) -> None:
    def typed(openid: str, words: str) -> str:
        return reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text(openid, words))
        )

    first = _ask(client, plain_wechat, "farmer-1", "辣椒叶子发黄 我是石坝村的")
    assert f"已接单 {first}" in typed("exp-wang", "接单")
    second = _ask(client, plain_wechat, "farmer-2", "辣椒叶子卷了 石坝村")
    now = utcnow()
    with Session(engine) as session:
        experts = {e.openid: e for e in session.exec(select(Expert))}
        wang, zhang = experts["exp-wang"], experts["exp-zhang"]
        held = session.exec(select(HelpRequest).where(HelpRequest.code == first)).one()
        assert held.expert_id == wang.id
        offered = session.exec(select(Offer).where(Offer.status == "pending")).one()
        assert offered.expert_id == wang.id  # routing sent the second to 王 as well
        # 张畜牧 visited a farm earlier this month; 王's farmer answered the survey.
        session.add(
            RequestEvent(
                request_id=held.id, at=now - timedelta(minutes=5), actor="expert:exp-zhang",
                from_status="accepted", to_status="visited",
            )
        )  # fmt: skip
        session.add(
            Survey(
                request_id=held.id, farmer_id=held.farmer_id, expert_id=wang.id,
                state="answered", due_at=now, solved="yes", rating=4,
            )
        )  # fmt: skip
        session.commit()
        wang_id, zhang_id = wang.id, zhang.id
    page = signed_in("viewer1").get("/console/experts").get_data(as_text=True)
    rows = re.findall(r"<tr class=\"[^\"]*\">([\s\S]*?)</tr>", page.split("<tbody>", 1)[1])
    cells = [re.sub(r"<[^>]+>", "|", row) for row in rows]
    assert "王植保" in cells[0], cells[0]  # the busiest first
    wang_cells = [c.strip() for c in cells[0].split("|") if c.strip()]
    assert wang_cells[:8] == ["王植保", "植保队", "在值班", "1", "1", "1 / 0", "1 / 0", "0 分钟"]
    assert wang_cells[8:10] == ["100% 解决 · 4.0 分", "（1 份）"], wang_cells
    zhang_row = next(c for c in cells if "张畜牧" in c)
    assert "0 / 1" in zhang_row and "在值班" in zhang_row
    li_row = next(c for c in cells if "李植保" in c)
    assert "不在班" in li_row
    dashboard = signed_in("viewer1").get("/console/").get_data(as_text=True)
    assert f'/console/experts/{wang_id}">王植保</a>（在办 1，待接 1）' in dashboard
    idle = dashboard.split("在值班、手上没事：", 1)[1].split("。", 1)[0]
    assert "张畜牧" in idle and "赵植保" in idle and "王植保" not in idle
    expert_page = signed_in("viewer1").get(f"/console/experts/{wang_id}").get_data(as_text=True)
    in_hand = expert_page.split("手上在办（1）", 1)[1].split("<h2>", 1)[0]
    assert first in in_hand and second not in in_hand
    assert signed_in("viewer1").get(f"/console/experts/{zhang_id}").status_code == 200


def test_the_reassign_list_offers_qualified_experts_first_as_routing_ranks_them(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
) -> None:
    code = _ask(client, plain_wechat, "farmer-r", "辣椒叶子发黄 我是石坝村的")
    # 王 (on duty, 木鱼镇) was paged and declines; the list still offers him, last.
    typed = reply_text(
        plain_wechat,
        post(client, plain_wechat, plain_wechat.text("exp-wang", f"拒绝 {code} 不在附近")),
    )
    assert code in typed, typed
    page = signed_in("coord1").get(f"/console/requests/{code}").get_data(as_text=True)
    chooser = page.split('<select name="expert_id"', 1)[1].split("</select>", 1)[0]
    qualified, others = chooser.split("其他专家（专业或作物不对口）", 1)
    names = re.findall(r'<option value="\d+">([^<]+)</option>', qualified)
    # On duty before off duty, the township's expert before the county's, then load.
    assert [n.split(" · ")[0] for n in names] == ["赵植保", "李植保", "刘组长", "王植保"], names
    assert names[0] == "赵植保 · 在值班 · 同县 · 在办 0"
    assert names[-1].endswith("已拒绝或没回")
    assert re.findall(r'<option value="\d+">(张畜牧)', others) == ["张畜牧"]


def test_a_search_matching_more_than_the_cap_says_so(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Matches are counted up to COUNT_CAP; past it the list says "more than" and still
    shows the newest page."""
    monkeypatch.setattr(request_list, "COUNT_CAP", 2)
    codes = [
        _ask(client, plain_wechat, f"farmer-{n}", f"辣椒叶子发黄 石坝村 {n}") for n in range(3)
    ]
    coordinator = signed_in("coord1")
    page = _listed(coordinator, "")
    assert "超过 2 条" in page and "共 3 条" not in page
    assert all(f">{code}<" in page for code in codes)
    monkeypatch.setattr(request_list, "COUNT_CAP", 3)
    assert "共 3 条" in _listed(coordinator, "")
