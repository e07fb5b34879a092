"""Errors people meet read as Chinese pages with a way back; machines get plain codes."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort
from flask.testing import FlaskClient

from bot.settings import Settings
from tests.bot.test_console_ahead import staff_client


def test_console_and_workbench_errors_are_chinese_pages_with_a_way_back(
    app: Flask, client: FlaskClient, cli_env: dict[str, str]
) -> None:
    missing = client.get("/console/requests/Z9999-nothing")
    viewer = staff_client(app, cli_env, "v1", "viewer")
    for response, status, words, back in (
        (viewer.get("/console/requests/A9999"), 404, "找不到这个页面", 'href="/console/"'),
        (viewer.get("/console/staff"), 403, "没有权限", 'href="/console/"'),
        (viewer.get("/console/requests/A9999/reassign"), 405, "不能这样打开", 'href="/console/"'),
        (client.get("/w/no-such-page/at-all"), 404, "找不到这个页面", 'href="/w/tasks"'),
        (client.get("/nothing-here"), 404, "找不到这个页面", "history.back()"),
    ):
        shown = response.get_data(as_text=True)
        assert response.status_code == status and words in shown and back in shown, shown[:200]
        assert '<html lang="zh-CN">' in shown and "Not Found" not in shown
    assert missing.status_code in (302, 404)  # signed out: the sign-in page or not found
    assert client.get("/wechat/nothing").status_code == 404
    assert "找不到" not in client.get("/wechat/nothing").get_data(as_text=True)


def test_a_server_error_is_a_chinese_page_and_logged(
    settings: Settings, make_app: Any, caplog: Any
) -> None:
    app = make_app(settings)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production

    @app.get("/broken-for-test")
    def broken() -> str:
        abort(500)

    response = app.test_client().get("/broken-for-test")
    assert response.status_code == 500 and "出错了" in response.get_data(as_text=True)
    assert any("server error on GET /broken-for-test" in r.message for r in caplog.records)
