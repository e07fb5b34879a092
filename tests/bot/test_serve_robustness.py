"""The real `farmhelp serve` under a slow WeChat API and slow clients."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests
from flask.testing import FlaskClient
from sqlalchemy import Engine

from bot.wechat.api import WeChatAPI
from models.tables import utcnow
from tests.conftest import TEST_APP_ID
from tests.fake_wechat_api import FakeWeChatAPI
from tests.roster import import_roster
from tests.servers import serve_process, server_env
from tests.wechat_client import FakeWeChat, post, reply_text

PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def test_a_slow_token_fetch_does_not_hold_up_pushes(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, fake_api: FakeWeChatAPI
) -> None:
    """No transaction is open while the token is fetched (on SQLite it would lock all)."""
    api = WeChatAPI(base_url=fake_api.base_url, app_id=TEST_APP_ID, app_secret="s", engine=engine)
    fake_api.delay = 3.0
    fetching = threading.Thread(target=api.token)
    fetching.start()
    time.sleep(0.5)  # the fetch is now waiting on the slow API
    started = time.monotonic()
    reply = reply_text(plain_wechat, post(client, plain_wechat, plain_wechat.text("f", PROBLEM)))
    took = time.monotonic() - started
    fetching.join()
    assert "求助" in reply
    assert took < 1.0, f"a push waited {took:.2f} s for a token fetch"


def test_half_open_connections_hold_no_thread(
    database_url: str, tmp_path: Path, plain_wechat: FakeWeChat
) -> None:
    with serve_process(server_env(database_url, tmp_path / "i"), tmp_path / "s.log") as (base, _):
        host, port = base.removeprefix("http://").split(":")
        idle = []
        for _ in range(200):  # far more than the server's threads
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"POST /wechat HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<xml>")
            idle.append(sock)
        query, body = plain_wechat.envelope(plain_wechat.text("patient", PROBLEM))
        started = time.monotonic()
        response = requests.post(f"{base}/wechat", params=query, data=body, timeout=10)
        took = time.monotonic() - started
        for sock in idle:
            sock.close()
    assert (
        response.status_code == 200
        and "求助" in plain_wechat.open_reply(response.content)["Content"]
    )
    assert took < 2.0, f"a push waited {took:.2f} s behind half-open connections"


def test_sigterm_stops_within_seconds_while_the_api_hangs(
    database_url: str, tmp_path: Path, plain_wechat: FakeWeChat, fake_api: FakeWeChatAPI
) -> None:
    env = server_env(database_url, tmp_path / "instance", WECHAT_API_BASE_URL=fake_api.base_url)
    import_roster(env, tmp_path, utcnow())
    fake_api.delay = 30.0  # every call hangs far longer than the shutdown may take
    with serve_process(env, tmp_path / "serve.log") as (base, process):
        query, body = plain_wechat.envelope(plain_wechat.text("farmer-term", PROBLEM))
        assert requests.post(f"{base}/wechat", params=query, data=body, timeout=10).ok
        time.sleep(6)  # the lease is taken and the page's delivery is hanging on the API
        started = time.monotonic()
        process.terminate()
        process.wait(timeout=20)
        took = time.monotonic() - started
    fake_api.delay = 0.0
    assert took < 10, f"shutdown took {took:.1f} s"
    log = (tmp_path / "serve.log").read_text()
    assert "farmhelp stopped" in log
