"""Bad input from outside gets a clear answer: imports report bad rows, the webhook
refuses what it cannot store (400) and what is too large however it is sent (413)."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from bot.cli import main
from models.tables import DutyShift, Message, Place
from tests.bot.test_console import add_staff, csrf_of, sign_in
from tests.bot.test_faults import gunicorn
from tests.queries import rows
from tests.servers import post_chunked, server_env
from tests.wechat_client import FakeWeChat, to_xml

HUGE_CELL = "长" * (2 * 1024 * 1024 // 3)  # about 2 MB in UTF-8


def test_an_import_with_a_huge_cell_and_a_year_one_shift_reports_bad_rows(
    cli_env: dict[str, str], tmp_path: Path, county: None, session: Session
) -> None:
    places = tmp_path / "places.csv"
    places.write_text(
        f"county,township,village\n青川县,木鱼镇,{HUGE_CELL}\n青川县,木鱼镇,新村\n"
        f"青川县,{'镇' * 65},某村\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["places", "import", str(places)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "第 2 行：有一格超过 1000 个字" in result.output
    assert "第 4 行：乡镇超过 64 个字" in result.output
    villages = {p.village for p in rows(session.get_bind(), Place)}  # type: ignore[arg-type]
    assert "新村" in villages and HUGE_CELL not in villages
    duty = tmp_path / "duty.csv"
    duty.write_text(
        "openid,start,end\n"
        "exp-li,0001-01-01T08:00,0001-01-01T18:00\n"
        "exp-li,9999-12-31T08:00,9999-12-31T18:00\n"
        "exp-li,2031-01-01T08:00,2031-01-01T18:00\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["duty", "import", str(duty)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "第 2 行：“0001-01-01T08:00”不在 2000 到 2100 年之间" in result.output
    assert "第 3 行：“9999-12-31T08:00”不在 2000 到 2100 年之间" in result.output
    assert "新增 1" in result.output
    assert len(session.exec(select(DutyShift)).all()) >= 1


def test_the_console_import_reports_the_same_bad_rows(
    app: Flask, cli_env: dict[str, str], county: None
) -> None:
    add_staff(cli_env, "admin1", "admin")
    admin = app.test_client()
    assert sign_in(admin, "admin1").status_code == 302
    token = csrf_of(admin.get("/console/import").get_data(as_text=True))
    body = f"openid,start,end\nexp-li,0001-01-01T08:00,0001-01-01T18:00\nexp-li,{HUGE_CELL},x\n"
    page = admin.post(
        "/console/import",
        data={
            "kind": "duty",
            "csrf_token": token,
            "file": (io.BytesIO(body.encode()), "duty.csv"),
        },
        content_type="multipart/form-data",
    )
    text = page.get_data(as_text=True)
    page.close()
    page.request.input_stream.close()  # the 2 MB body the test client spooled to a file
    assert page.status_code == 200
    assert "第 2 行：“0001-01-01T08:00”不在 2000 到 2100 年之间" in text
    assert "第 3 行：有一格超过 1000 个字" in text


def test_a_deeply_nested_push_is_refused_not_left_unstored(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    fields = plain_wechat.event("deep", "subscribe_msg_popup_event")
    body = to_xml(fields).replace(
        b"</xml>",
        b"<SubscribeMsgPopupEvent>" + b"<a>" * 1000 + b"x" + b"</a>" * 1000
        + b"</SubscribeMsgPopupEvent></xml>",
    )  # fmt: skip
    answer = client.post("/wechat", query_string=plain_wechat.query(), data=body)
    assert answer.status_code == 400
    assert b"nested deeper" in answer.data


def test_a_chunked_body_over_the_limit_is_413_under_gunicorn(
    database_url: str, tmp_path: Path, plain_wechat: FakeWeChat
) -> None:
    """gunicorn passes chunked bodies on (waitress buffers them): the limit still holds."""
    env = server_env(database_url, tmp_path / "instance")
    valid = to_xml(plain_wechat.text("chunky", "玉米"))
    body = valid + b" " * 100_000  # still valid XML when cut at 64 KiB
    with gunicorn(env, tmp_path / "web.log", workers=1) as (base, _master):
        status = post_chunked(base, plain_wechat.query(), body)
    assert status == 413
    stored = [m for m in rows_of(database_url) if m.openid == "chunky"]
    assert stored == []


def rows_of(database_url: str) -> list[Message]:
    from models.db import make_engine

    engine = make_engine(database_url)
    try:
        return rows(engine, Message)
    finally:
        engine.dispose()
