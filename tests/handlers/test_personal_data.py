"""Personal information end to end (PIPL): seeing it, erasing it on request, after
unfollowing, and by retention. After an erasure nothing of the farmer remains in any
table, the media folder, the search index or the exports, and the monthly report
counts the same. Runs on SQLite and, with FARMHELP_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers import texts
from handlers.report import compute_month
from models.search import index_pending, phrase_ways
from models.tables import Farmer, HelpRequest, MediaFile, Message, SearchTerm, utcnow
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox
from scheduler.privacy import apply_retention, delete_erased_media, erase_unfollowed
from scheduler.surveys import send_due_surveys
from tests.fake_wechat_api import FakeWeChatAPI
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
OPENID = "farmer-pipl-7"
PHONE = "13912345678"
# Words only this farmer used: none may survive anywhere once they are erased.
SECRETS = (OPENID, PHONE, "老槐树", "32.123", "105.456")
AMR_SECOND = b"#!AMR\n" + (b"\x3c" + bytes(31)) * 50


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


@pytest.fixture
def app_(settings: Settings, make_app: Any, county: None) -> Any:
    settings.survey_delay, settings.quiet_hours = "5s", "off"
    settings.staff_openids = "staff-1"
    return make_app(settings)


def whole_story(
    client: FlaskClient,
    wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> tuple[str, str]:
    """A farmer's everyday: consent to keep the location, a request with phone, place,
    location, photo and voice, the expert's visit and record, the survey with a
    comment, then a second problem that is still open. Returns both codes."""
    assert say(client, wechat, OPENID, "留定位").startswith(texts.LOCATION_KEPT)
    first = say(client, wechat, OPENID, f"老槐树东头那块辣椒地叶子发黄有斑点 石坝村 电话{PHONE}")
    code = CODE.search(first).group()  # type: ignore[union-attr]
    where = wechat.message(
        OPENID, "location", Location_X="32.123", Location_Y="105.456", Scale="15",
        Label="木鱼镇石坝村老槐树",
    )  # fmt: skip
    post(client, wechat, where)
    fake_api.media["pic-1"] = (b"\xff\xd8\xff\xe0" + b"0" * 2000, "image/jpeg")
    fake_api.media["voc-1"] = (AMR_SECOND, "audio/amr")
    post(client, wechat, wechat.message(OPENID, "image", MediaId="pic-1", PicUrl="http://x/老槐树"))
    post(client, wechat, wechat.message(OPENID, "voice", MediaId="voc-1", Format="amr"))
    assert "已接单" in say(client, wechat, "exp-wang", f"接单 {code}")
    say(client, wechat, "exp-wang", f"{code} 明天上午到老槐树那边看看")
    say(client, wechat, OPENID, "好的 老槐树下等您")
    assert "已记录" in say(client, wechat, "exp-wang", f"完成 {code} 叶斑病，已和{PHONE}通话")
    later = utcnow() + timedelta(seconds=6)
    send_due_surveys(engine=engine, policy=settings.policy(), now=later)
    deliver_outbox(engine=engine, sender=api, now=later)
    assert say(client, wechat, OPENID, "1") == texts.SURVEY_RATING
    assert say(client, wechat, OPENID, "5") == texts.SURVEY_COMMENT
    say(client, wechat, OPENID, "药很管用 老槐树东头全好了")
    second = say(client, wechat, OPENID, "家里的猪也不吃食了 老槐树 石坝村")
    other = CODE.search(second).group()  # type: ignore[union-attr]
    assert other != code
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    with Session(engine) as session:
        index_pending(session, now=utcnow())
        session.commit()
    return code, other


def every_row(engine: Engine) -> list[tuple[str, str]]:
    """Every row of every table, as text."""
    found = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa_select(table)):
                found.append((table.name, str(tuple(row))))
    return found


def leaks(engine: Engine) -> list[tuple[str, str, str]]:
    return [
        (table, secret, text[:200])
        for table, text in every_row(engine)
        for secret in SECRETS
        if secret in text
    ]


def month_figures(engine: Engine) -> list[Any]:
    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    with Session(engine) as session:
        return compute_month(session, month, ZoneInfo("Asia/Shanghai"))


def exports(cli_env: dict[str, str], tmp_path: Path) -> str:
    out = []
    for fmt in ("jsonl", "csv"):
        result = CliRunner().invoke(main, ["requests", "export", "--format", fmt], env=cli_env)
        assert result.exit_code == 0, result.output
        out.append(result.output)
    xlsx = tmp_path / "ledger.xlsx"
    result = CliRunner().invoke(
        main, ["requests", "export", "--format", "xlsx", "--output", str(xlsx)], env=cli_env
    )
    assert result.exit_code == 0, result.output
    import openpyxl

    book = openpyxl.load_workbook(xlsx)
    out.extend(str(cell.value) for sheet in book for row in sheet.iter_rows() for cell in row)
    return "\n".join(out)


def test_a_farmer_sees_and_erases_their_data_and_nothing_remains(
    app_: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    client = app_.test_client()
    code, other = whole_story(client, plain_wechat, engine, settings, api, fake_api)
    files = [p for p in settings.media_dir.rglob("*") if p.is_file()]
    assert len(files) == 2 and leaks(engine)  # the story left its traces to erase
    before = month_figures(engine)

    # 我的信息: the farmer's own link shows and gives a copy of what is stored.
    link = say(client, plain_wechat, OPENID, "我的信息").rsplit("：", 1)[1]
    path = link.removeprefix(settings.public_url)
    phone_page = app_.test_client()
    html = phone_page.get(path).get_data(as_text=True)
    assert PHONE in html and "老槐树东头那块辣椒地" in html and code in html
    copy = json.loads(phone_page.get(path + "/download").get_data(as_text=True))
    assert copy["farmer"]["phone"] == PHONE and len(copy["requests"]) == 2
    assert copy["farmer"]["latitude"] == 32.123  # kept: the farmer said 留定位

    assert say(client, plain_wechat, OPENID, "删除我的信息") == texts.ERASE_ASK
    assert say(client, plain_wechat, OPENID, "确认删除") == texts.ERASE_DONE
    assert delete_erased_media(engine=engine) == 2
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    with Session(engine) as session:
        index_pending(session, now=utcnow())
        session.commit()

    assert leaks(engine) == []
    assert [p for p in settings.media_dir.rglob("*") if p.is_file()] == []
    with Session(engine) as session:
        assert list(session.exec(select(HelpRequest).where(or_(*phrase_ways("老槐树"))))) == []
        ids = [r.id for r in session.exec(select(HelpRequest))]
        assert list(session.exec(select(SearchTerm).where(SearchTerm.request_id.in_(ids)))) == []  # type: ignore[union-attr]
        second = session.exec(select(HelpRequest).where(HelpRequest.code == other)).one()
        assert second.status == "cancelled"
        first = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        assert (first.crop, first.village, first.status) == ("辣椒", "石坝村", "closed")
    exported = exports(cli_env, tmp_path)
    assert code in exported and not [s for s in SECRETS if s in exported]
    assert month_figures(engine) == before  # the report counts the same
    # The expert offered the open request hears it ended (its code, nothing else).
    told = [t for t in fake_api.texts_to("exp-zhang") if other in t]
    assert told and told[-1] == texts.EXPERT_FARMER_ERASED.format(code=other)
    # The link shows nothing any more; writing again starts afresh, as a new person.
    assert phone_page.get(path).status_code == 410
    say(client, plain_wechat, OPENID, "你好")
    with Session(engine) as session:
        fresh = session.exec(select(Farmer).where(Farmer.openid == OPENID)).one()
        assert fresh.phone is None and fresh.erased_at is None


def test_confirming_needs_the_question_first_and_soon(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    say(client, plain_wechat, "farmer-c", "你好 我电话13800001111")
    assert say(client, plain_wechat, "farmer-c", "确认删除") == texts.ERASE_NOT_ASKED
    say(client, plain_wechat, "farmer-c", "删除我的信息")
    with Session(engine) as session:
        session.execute(
            update(Farmer)
            .where(Farmer.openid == "farmer-c")  # type: ignore[arg-type]
            .values(erase_asked_at=utcnow() - timedelta(minutes=11))
        )
        session.commit()
    assert say(client, plain_wechat, "farmer-c", "确认删除") == texts.ERASE_NOT_ASKED
    with Session(engine) as session:
        assert (
            session.exec(select(Farmer).where(Farmer.openid == "farmer-c")).one().erased_at is None
        )


def test_unfollowing_erases_after_the_grace_period_unless_they_come_back(
    app_: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    client = app_.test_client()
    for openid in ("farmer-gone", "farmer-back"):
        say(client, plain_wechat, openid, f"辣椒叶子发黄 石坝村 电话{PHONE}")
        post(client, plain_wechat, plain_wechat.event(openid, "unsubscribe"))
    post(
        client,
        plain_wechat,
        plain_wechat.event("farmer-back", "subscribe", CreateTime=int(utcnow().timestamp()) + 5),
    )
    policy = settings.policy()
    assert policy.unfollow_grace == timedelta(days=30)
    assert erase_unfollowed(engine=engine, policy=policy, now=utcnow() + timedelta(days=29)) == 0
    assert erase_unfollowed(engine=engine, policy=policy, now=utcnow() + timedelta(days=31)) == 1
    assert erase_unfollowed(engine=engine, policy=policy, now=utcnow() + timedelta(days=32)) == 0
    with Session(engine) as session:
        farmers = {f.id: f for f in session.exec(select(Farmer))}
        gone = [f for f in farmers.values() if f.erased_at is not None]
        assert len(gone) == 1 and gone[0].openid.startswith("erased:") and gone[0].phone is None
        back = session.exec(select(Farmer).where(Farmer.openid == "farmer-back")).one()
        assert back.phone == PHONE and back.subscribed
        texts_left = [
            m.content for m in session.exec(select(Message)) if m.content and PHONE in m.content
        ]
        assert all(
            m.farmer_id == back.id
            for m in session.exec(select(Message))
            if m.content and PHONE in m.content
        )
        assert texts_left  # the one who came back keeps their conversation


def test_retention_anonymises_old_requests_in_batches_and_keeps_recent_ones(
    app_: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    client = app_.test_client()
    fake_api.media["old-pic"] = (b"\xff\xd8\xff\xe0" + b"1" * 500, "image/jpeg")
    old = CODE.search(
        say(client, plain_wechat, "farmer-old", "老槐树辣椒叶子发黄 王家湾村")
    ).group()  # type: ignore[union-attr]
    post(client, plain_wechat, plain_wechat.message("farmer-old", "image", MediaId="old-pic"))
    new = CODE.search(say(client, plain_wechat, "farmer-new", "玉米叶子卷了 石坝村")).group()  # type: ignore[union-attr]
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    with Session(engine) as session:
        for found in session.exec(select(HelpRequest)):
            found.status = "closed"
            found.closed_at = utcnow() - (
                timedelta(days=4 * 365) if found.code == old else timedelta(days=30)
            )
            session.add(found)
        session.commit()
    policy = settings.policy()
    assert policy.retention == timedelta(days=3 * 365)
    done = apply_retention(engine=engine, policy=policy, now=utcnow())
    assert done["requests"] == 1
    assert (
        apply_retention(engine=engine, policy=policy, now=utcnow())["requests"] == 0
    )  # resumable, once
    assert delete_erased_media(engine=engine) == 1
    with Session(engine) as session:
        kept = {r.code: r for r in session.exec(select(HelpRequest))}
        assert kept[old].text == "" and kept[old].anonymised_at is not None
        # Where it was stays as the report counts it (here a village not imported).
        assert kept[old].crop == "辣椒" and kept[old].place == "王家湾村"
        assert kept[new].text.startswith("玉米") and kept[new].anonymised_at is None
        old_words = [
            m.content
            for m in session.exec(select(Message).where(Message.request_id == kept[old].id))
        ]
        assert old_words and all(w is None for w in old_words)
        media = session.exec(select(MediaFile)).one()
        assert media.status == "erased" and media.path is None
    assert [p for p in settings.media_dir.rglob("*") if p.is_file()] == []


def test_admins_export_and_erase_a_farmers_data_from_the_console_audited(
    app_: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
) -> None:
    import io

    import openpyxl

    from models.tables import AuditEvent
    from tests.bot.test_console import add_staff, csrf_of, sign_in

    client = app_.test_client()
    whole_story(client, plain_wechat, engine, settings, api, fake_api)
    with Session(engine) as session:
        farmer_id = session.exec(select(Farmer).where(Farmer.openid == OPENID)).one().id
    add_staff(cli_env, "admin1", "admin")
    add_staff(cli_env, "coord1", "coordinator")
    coordinator = app_.test_client()
    assert sign_in(coordinator, "coord1").status_code == 302
    assert coordinator.get(f"/console/farmers/{farmer_id}/export").status_code == 403
    admin = app_.test_client()
    assert sign_in(admin, "admin1").status_code == 302
    as_json = json.loads(admin.get(f"/console/farmers/{farmer_id}/export").get_data(as_text=True))
    assert as_json["farmer"]["phone"] == PHONE
    as_xlsx = admin.get(f"/console/farmers/{farmer_id}/export?format=xlsx").get_data()
    book = openpyxl.load_workbook(io.BytesIO(as_xlsx))
    assert book.sheetnames == ["农户", "求助", "对话", "照片语音", "回访"]
    assert any(PHONE in str(c.value) for row in book["农户"].iter_rows() for c in row)
    page = admin.get(f"/console/farmers/{farmer_id}").get_data(as_text=True)
    refused = admin.post(f"/console/farmers/{farmer_id}/erase", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 302 and leaks(engine)  # not ticked: nothing erased
    erased = admin.post(
        f"/console/farmers/{farmer_id}/erase",
        data={"csrf_token": csrf_of(page), "confirm": "yes"},
        follow_redirects=True,
    )
    assert "已删除这位农户的个人信息" in erased.get_data(as_text=True)
    delete_erased_media(engine=engine)
    assert leaks(engine) == []
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditEvent))]
    assert actions.count("export_personal_data") == 2 and "erase_personal_data" in actions


@pytest.mark.usefixtures("county")
def test_an_expert_cannot_erase_the_services_records(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    assert say(client, plain_wechat, "exp-wang", "删除我的信息") == texts.ERASE_ASK
    assert say(client, plain_wechat, "exp-wang", "确认删除") == texts.ERASE_EXPERT
    with Session(engine) as session:
        assert (
            session.exec(select(Farmer).where(Farmer.openid == "exp-wang")).one().erased_at is None
        )
