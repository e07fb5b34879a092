"""The findings of the hostile-world review: each reproduced through the real edge."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings, SettingsError, load_settings
from bot.wechat.api import WeChatAPI
from models.tables import Expert, Farmer, HelpRequest, Message, Offer, Outbox, utcnow
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox, release_orphaned_claims
from tests.conftest import TEST_APP_ID, TEST_TOKEN
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.roster import import_roster
from tests.wechat_client import FakeWeChat, post, reply_text, to_xml

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


# 4. A crash mid-call: the claim is released at takeover, templates carry client_msg_id.
def test_orphaned_claims_are_released_and_templates_are_idempotent(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
    make_app: Any,
) -> None:
    from sqlalchemy import update

    settings.wechat_template_expert_page = "TPL-PAGE"
    client = make_app(settings).test_client()
    import_roster(
        {"FARMHELP_DATABASE_URL": settings.database_url, "FARMHELP_TIMEZONE": "Asia/Shanghai"},
        settings.instance_dir.parent,
        utcnow(),
    )
    say(client, plain_wechat, "farmer-crash", PROBLEM)
    now = utcnow()
    with Session(engine) as session:  # a deliverer claimed the page, then died mid-call
        session.execute(
            update(Outbox).values(claimed_by="dead-host:1", next_try_at=now + timedelta(seconds=30))
        )
        session.commit()
    assert deliver_outbox(engine=engine, sender=api, now=now) == 0  # still leased
    assert release_orphaned_claims(engine=engine, keep="new-host:2", now=now) == 1
    assert deliver_outbox(engine=engine, sender=api, now=now) == 1  # at once, not in minutes
    sent = fake_api.sent("message/template/send")
    assert len(sent) == 1 and sent[0]["client_msg_id"].startswith("farmhelp-outbox-")
    assert rows(engine, Outbox)[0].claimed_by is None


# 6. No token or secret in a log line or a stored error.
def test_failed_calls_store_and_log_no_token_or_secret(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "S3cr3tAppSecretValue0123456789ab"
    legacy = WeChatAPI(
        base_url="http://127.0.0.1:9/cgi-bin/",
        app_id=TEST_APP_ID,
        app_secret=secret,
        engine=engine,
        legacy_token=True,
    )
    with Session(engine) as session:
        from models.outbox import queue

        queue(
            session=session,
            openid="someone",
            payload={"msgtype": "text", "text": {"content": "x"}},
            now=utcnow(),
            purpose="notify",
        )
        session.commit()
    with caplog.at_level(logging.DEBUG):
        deliver_outbox(engine=engine, sender=legacy, now=utcnow())
    row = rows(engine, Outbox)[0]
    assert row.last_error and "network" in row.last_error
    stored = f"{row.last_error} {row.attempts}"
    assert secret not in stored and secret not in caplog.text
    assert "secret=***" in stored or "secret" not in stored


def test_redact_masks_tokens_and_secrets() -> None:
    from scheduler.redact import redact

    text = (
        "HTTPConnectionPool: /cgi-bin/message/custom/send?access_token=ACCESS123&x=1 "
        "/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=TOPSECRET"
    )
    cleaned = redact(text, ["TOPSECRET"])
    assert "ACCESS123" not in cleaned and "TOPSECRET" not in cleaned
    assert "access_token=***" in cleaned and "appid=wx1" in cleaned


# 7. A signature copied from an access log cannot sign another body.
def test_replayed_signature_with_another_body_is_refused(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    first = plain_wechat.text("exp-someone", "值班")
    query, body = plain_wechat.envelope(first)
    assert client.post("/wechat", query_string=query, data=body).status_code == 200
    forged = to_xml(plain_wechat.text("exp-someone", "下班"))
    assert client.post("/wechat", query_string=query, data=forged).status_code == 403
    # WeChat's own retry (same query, same body) is still answered.
    assert client.post("/wechat", query_string=query, data=body).status_code == 200


def test_plaintext_is_refused_when_safe_mode_is_configured(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat
) -> None:
    settings.wechat_allow_plaintext = False
    client = make_app(settings).test_client()
    response = post(client, plain_wechat, plain_wechat.text("f", "玉米"))
    assert response.status_code == 403
    safe = FakeWeChat(
        token=TEST_TOKEN, app_id=TEST_APP_ID, aes_key=plain_wechat.aes_key, safe_mode=True
    )
    assert post(client, safe, safe.text("f", "玉米")).status_code == 200


# 8. The request page: the farmer's words only, phones masked, photos, expiry, gone when over.
@pytest.mark.usefixtures("county")
def test_request_page_shows_the_farmers_words_and_photos_only_while_open(
    settings: Settings,
    make_app: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    settings.wechat_template_expert_page = "TPL-PAGE"
    client = make_app(settings).test_client()
    code = CODE.search(
        say(client, plain_wechat, "farmer-page", PROBLEM + " 电话13912345678")
    ).group()  # type: ignore[union-attr]
    fake_api.media["leaf-photo"] = (b"\x89PNG fake photo bytes", "image/png")
    post(
        client,
        plain_wechat,
        plain_wechat.message("farmer-page", "image", PicUrl="p", MediaId="leaf-photo"),
    )
    say(client, plain_wechat, "exp-wang", f"接单 {code}")
    say(client, plain_wechat, "exp-wang", "我是王专家，电话13800000001，明天来")
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=utcnow())
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    from handlers.notify import request_link

    with Session(engine) as session:  # the older request page, for links already sent
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
    link = request_link(settings.policy(), found, utcnow()).removeprefix(settings.public_url)
    html = client.get(link).get_data(as_text=True)
    assert "叶子发黄" in html and "139****5678" in html and "13912345678" not in html
    assert "王专家" not in html and "13800000001" not in html  # not the expert's words
    assert "(UTC)" not in html
    photo = re.search(r'<img src="([^"]+)"', html)
    assert photo is not None
    with client.get(photo.group(1).replace("&amp;", "&")) as served:
        assert served.status_code == 200 and served.data == b"\x89PNG fake photo bytes"
    assert client.get(link.replace("sig=", "sig=你好")).status_code == 403
    assert client.get(re.sub(r"x=\d+", "x=1", link)).status_code == 403  # tampered expiry
    say(client, plain_wechat, "farmer-page", "取消")
    assert client.get(link).status_code == 410


def test_an_expired_link_is_refused_with_a_friendly_page(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat
) -> None:
    from handlers.notify import request_link

    client = make_app(settings).test_client()
    code = CODE.search(say(client, plain_wechat, "farmer-old", PROBLEM)).group()  # type: ignore[union-attr]
    policy = settings.policy()
    old = request_link(policy, HelpRequest(code=code, farmer_id=1), utcnow() - timedelta(days=8))
    page = client.get(old.removeprefix(settings.public_url))
    assert page.status_code == 403 and "过期" in page.get_data(as_text=True)


# 9. Nothing in a relayed message can pass for a system message.
@pytest.mark.usefixtures("county")
def test_relayed_words_cannot_look_like_system_messages(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    code = CODE.search(say(client, plain_wechat, "farmer-spoof", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, plain_wechat, "exp-wang", f"接单 {code}")
    say(
        client,
        plain_wechat,
        "farmer-spoof",
        "好的\n【新求助 A1999】…\n【系统通知】请拨打 13900000000",
    )
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    relayed = [t for t in fake_api.texts_to("exp-wang") if "系统通知" in t]
    assert len(relayed) == 1
    header, *lines = relayed[0].split("\n")
    assert header == f"【{code} 农户】"
    assert lines and all(line.startswith("｜") for line in lines)
    assert "【" not in "".join(lines)


# 10. A departed expert gets no pages and can act on nothing.
@pytest.mark.usefixtures("county")
def test_deactivated_expert_gets_nothing_and_can_do_nothing(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, cli_env: dict[str, str]
) -> None:
    code = CODE.search(say(client, plain_wechat, "farmer-10", PROBLEM)).group()  # type: ignore[union-attr]
    result = CliRunner().invoke(main, ["experts", "deactivate", "exp-wang"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "王植保" in result.output
    with Session(engine) as session:
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        offers = session.exec(select(Offer)).all()
    assert not wang.active
    assert {o.expert_id: o.status for o in offers}[wang.id] == "withdrawn"
    assert any(o.status == "pending" and o.expert_id != wang.id for o in offers)  # moved on
    assert "已停用" in say(client, plain_wechat, "exp-wang", f"接单 {code}")
    # A message addressed to the request is refused too, and opens nothing.
    assert "已停用" in say(client, plain_wechat, "exp-wang", f"{code} 明天上午过去看看")
    with Session(engine) as session:
        opened_by_wang = session.exec(
            select(HelpRequest).join(Farmer).where(Farmer.openid == "exp-wang")
        ).all()
    assert opened_by_wang == []
    say(client, plain_wechat, "farmer-11", "玉米叶子上有斑点 木鱼镇石坝村")
    with Session(engine) as session:
        assert all(
            o.expert_id != wang.id or o.status == "withdrawn" for o in session.exec(select(Offer))
        )


def test_the_active_column_of_the_import_is_read(
    cli_env: dict[str, str], tmp_path: Path, session: Session
) -> None:
    experts = tmp_path / "experts.csv"
    experts.write_text(
        "name,openid,phone,team,specialties,crops,regions,leader,active\n"
        "甲,e1,13800000009,队,病虫害,,木鱼镇,否,否\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["experts", "import", str(experts)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert [e.active for e in rows(session.get_bind(), Expert)] == [False]  # type: ignore[arg-type]


# 11. Out-of-range and over-long fields are 400, never 500 or 503.
def _raw(client: FlaskClient, wechat: FakeWeChat, fields: dict[str, Any]) -> int:
    query, body = wechat.envelope(fields)
    return int(client.post("/wechat", query_string=query, data=body).status_code)


@pytest.mark.parametrize(
    "change",
    [
        {"CreateTime": 99999999999999},
        {"CreateTime": -99999999999999},
        {"CreateTime": 10**30},
        {"FromUserName": "o" * 65},
        {"MsgId": "9" * 40},
    ],
)
def test_out_of_range_fields_are_400(
    client: FlaskClient, plain_wechat: FakeWeChat, change: dict[str, Any]
) -> None:
    assert _raw(client, plain_wechat, plain_wechat.text("f", "x") | change) == 400


def test_malformed_locations_events_and_media_are_400(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    location = plain_wechat.message("f", "location", Location_X="30.1", Scale="15", Label="x")
    assert _raw(client, plain_wechat, location) == 400
    report = plain_wechat.event("f", "LOCATION", Latitude="30.1", Precision="10")
    assert _raw(client, plain_wechat, report) == 400
    assert _raw(client, plain_wechat, plain_wechat.event("f", "e" * 65)) == 400
    image = plain_wechat.message("f", "image", PicUrl="p", MediaId="m" * 257)
    assert _raw(client, plain_wechat, image) == 400


# 12. The body limit holds for chunked bodies; DOCTYPE is refused anywhere.
def test_doctype_after_a_long_comment_is_refused(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    body = (
        b"<!--"
        + b"x" * 5000
        + b"-->"
        + b'<!DOCTYPE xml [<!ENTITY a "b">]>'
        + to_xml(plain_wechat.text("f", "x"))
    )
    assert client.post("/wechat", query_string=plain_wechat.query(), data=body).status_code == 400


def test_chunked_body_over_the_limit_is_413_through_the_real_server(
    database_url: str, tmp_path: Path, plain_wechat: FakeWeChat
) -> None:
    from tests.servers import post_chunked, serve_process, server_env

    with serve_process(server_env(database_url, tmp_path / "instance"), tmp_path / "s.log") as (
        base,
        _,
    ):
        valid = to_xml(plain_wechat.text("chunky", "玉米"))
        body = valid + b"<!--" + b"x" * 300_000 + b"-->"
        started = time.monotonic()
        status = post_chunked(base, plain_wechat.query(), body)
        elapsed = time.monotonic() - started
    assert status == 413 and elapsed < 5
    engine_rows = _messages(database_url)
    assert not [m for m in engine_rows if m.openid == "chunky"]


def _messages(database_url: str) -> list[Message]:
    from models.db import make_engine

    engine = make_engine(database_url)
    try:
        return rows(engine, Message)
    finally:
        engine.dispose()


# 13. One message and one request hold a bounded amount of text, and the farmer is told.
def test_very_long_messages_are_capped_and_the_farmer_told(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    first = say(client, plain_wechat, "talkative", "玉米叶子发黄" + "很" * 20_000)
    assert "只保留了前 2000 字" in first
    for _ in range(3):
        reply = say(client, plain_wechat, "talkative", "还有" * 1000)
    assert "文字已经很多了" in reply
    request = rows(engine, HelpRequest)[0]
    assert len(request.text) <= 4000
    stored = [m for m in rows(engine, Message) if m.direction == "in"]
    assert max(len(m.content or "") for m in stored) == 2000


# 16. Imports: encodings, over-long cells, duplicates, shifts, names as data.
def test_imports_read_gbk_and_utf16_and_report_each_bad_row(
    cli_env: dict[str, str], tmp_path: Path, session: Session
) -> None:
    header = "name,openid,phone,team,specialties,crops,regions,leader\n"
    body = (
        "王{0}{content},e1,13800000001,植保队,病虫害,,木鱼镇,否\n"
        f"{'长' * 100},e2,13800000002,植保队,病虫害,,木鱼镇,否\n"
        "李,e3,13800000003,植保队,病虫害,,木鱼镇,否\n"
        "李二,e3,13800000004,植保队,病虫害,,木鱼镇,否\n"
    )
    for encoding in ("gbk", "utf-16"):
        path = tmp_path / f"experts-{encoding}.csv"
        path.write_bytes((header + body).encode(encoding))
        result = CliRunner().invoke(main, ["experts", "import", str(path)], env=cli_env)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        assert "第 3 行：姓名超过 64 个字" in result.output
        assert "第 5 行：openid e3 和第 4 行重复" in result.output
    names = {e.openid: e.name for e in rows(session.get_bind(), Expert)}  # type: ignore[arg-type]
    assert names == {"e1": "王{0}{content}", "e3": "李"}


def test_shifts_must_not_overlap_or_last_a_century(
    cli_env: dict[str, str], tmp_path: Path, county: None
) -> None:
    duty = tmp_path / "more-duty.csv"
    duty.write_text(
        "openid,start,end\n"
        "exp-li,2030-01-01T08:00,2030-01-01T18:00\n"
        "exp-li,2030-01-01T12:00,2030-01-02T08:00\n"
        "exp-li,2030-02-01T08:00,2031-02-01T08:00\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["duty", "import", str(duty)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "新增 1" in result.output
    assert "第 3 行：和" in result.output and "第 4 行：一个班最长" in result.output


@pytest.mark.usefixtures("county")
def test_an_expert_name_with_braces_relays_fine(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    experts = tmp_path / "brace.csv"
    experts.write_text(
        "name,openid,phone,team,specialties,crops,regions,leader\n"
        "王{0}{content},exp-wang,13800000001,植保队,病虫害,辣椒;玉米,木鱼镇,否\n",
        encoding="utf-8",
    )
    assert CliRunner().invoke(main, ["experts", "import", str(experts)], env=cli_env).exit_code == 0
    code = CODE.search(say(client, plain_wechat, "farmer-brace", PROBLEM)).group()  # type: ignore[union-attr]
    assert "已接单" in say(client, plain_wechat, "exp-wang", f"接单 {code}")
    assert say(client, plain_wechat, "exp-wang", "明天去看") == f"已转给 {code} 农户。"
    with Session(engine) as session:
        relayed = [
            r.payload["text"]["content"]
            for r in session.exec(select(Outbox).where(Outbox.purpose == "relay"))
        ]
    assert relayed == ["【王{0}{content}专家】\n｜明天去看"]


# 17. Production settings refuse blank and weak secrets.
@pytest.mark.parametrize(
    "overrides",
    [
        {"secret_key": " " * 20},
        {"wechat_token": "1"},
        {"wechat_token": "   \t   "},
        {"wechat_app_secret": "   "},
    ],
)
def test_production_refuses_blank_and_weak_secrets(
    overrides: dict[str, str], tmp_path: Path
) -> None:
    good = {
        "env": "production",
        "secret_key": "a-long-enough-secret-key-0123",
        "wechat_token": "Token2026Farmhelp",
        "wechat_app_id": "wx0123456789abcdef",
        "wechat_app_secret": "0123456789abcdef0123456789abcdef",
        "instance_dir": tmp_path,
    }
    assert load_settings(**good).env == "production"
    with pytest.raises(SettingsError):
        load_settings(**(good | overrides))
