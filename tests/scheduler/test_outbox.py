"""Outbox delivery: retries, token errors, the 48 h window, and one token for all."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bot.wechat.api import WeChatAPI
from handlers.notify import text_payload
from models.db import make_engine, session_scope
from models.outbox import enqueue_rows, queued_row
from models.outbox import queue as queue_push
from models.tables import Message, Outbox, utcnow
from scheduler.outbox import LEASE, deliver_outbox
from tests.conftest import own_postgres_database
from tests.fake_wechat_api import FakeWeChatAPI
from tests.wechat_client import FakeWeChat, post

APP_ID = "wx0123456789abcdef"


@pytest.fixture
def api(engine: Engine, fake_api: FakeWeChatAPI) -> WeChatAPI:
    return WeChatAPI(base_url=fake_api.base_url, app_id=APP_ID, app_secret="s", engine=engine)


def queue(engine: Engine, openid: str = "user-1", **extra: object) -> int:
    with session_scope(engine) as session:
        queue_push(
            session=session,
            openid=openid,
            payload=text_payload("你好"),
            now=utcnow(),
            purpose="notify",
            **extra,
        )  # type: ignore[arg-type]
        return _newest_ids(session, 1)[0]


def _newest_ids(session: Session, count: int) -> list[int]:
    """The ids of the last `count` rows queued, oldest first."""
    ids = session.exec(select(Outbox.id).order_by(col(Outbox.id).desc()).limit(count)).all()
    return [row_id for row_id in reversed(ids) if row_id is not None]


def load(engine: Engine, row_id: int) -> Outbox:
    with Session(engine) as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row


def test_sent_and_logged(engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI) -> None:
    row_id = queue(engine)
    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) == 1
    row = load(engine, row_id)
    assert row.status == "sent" and row.attempts[0]["errcode"] == 0
    assert fake_api.texts_to("user-1") == ["你好"]
    with Session(engine) as session:
        logged = session.exec(select(Message)).one()
    assert (logged.direction, logged.channel, logged.content) == ("out", "custom", "你好")


def test_a_40001_refreshes_once_and_retries_once(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    api.token()  # a cached token that WeChat will reject
    fake_api.fail_next("message/custom/send", errcode=40001, errmsg="invalid credential")
    row_id = queue(engine)
    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) == 1
    assert fake_api.paths() == [
        "stable_token",
        "message/custom/send",
        "stable_token",
        "message/custom/send",
    ]
    assert load(engine, row_id).status == "sent"


def test_a_second_40001_is_not_a_loop(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    for _ in range(3):
        fake_api.fail_next("message/custom/send", errcode=40001, errmsg="invalid credential")
    row_id = queue(engine)
    now = utcnow()
    assert deliver_outbox(engine=engine, sender=api, now=now) == 0
    assert fake_api.paths().count("stable_token") == 2
    assert fake_api.paths().count("message/custom/send") == 2
    row = load(engine, row_id)
    assert row.status == "pending" and row.last_errcode == 40001
    assert row.next_try_at > now  # retried later with back-off, not now


def test_busy_and_network_errors_are_retried_with_backoff(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    fake_api.fail_next("message/custom/send", errcode=-1, errmsg="system busy")
    row_id = queue(engine)
    now = utcnow()
    deliver_outbox(engine=engine, sender=api, now=now)
    row = load(engine, row_id)
    assert row.status == "pending" and row.next_try_at >= now + timedelta(seconds=5)
    assert deliver_outbox(engine=engine, sender=api, now=now + timedelta(seconds=1)) == 0
    assert deliver_outbox(engine=engine, sender=api, now=now + timedelta(seconds=6)) == 1
    assert [a["errcode"] for a in load(engine, row_id).attempts] == [-1, 0]

    unreachable = WeChatAPI(
        base_url="http://127.0.0.1:9/cgi-bin/", app_id=APP_ID, app_secret="s", engine=engine
    )
    second = queue(engine)
    deliver_outbox(engine=engine, sender=unreachable, now=utcnow())
    row = load(engine, second)
    assert row.status == "pending" and "network" in (row.last_error or "")


def test_outside_the_window_it_is_held_until_the_user_writes(
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_api.fail_next(
        "message/custom/send",
        errcode=45015,
        errmsg="response out of time limit or subscription is canceled",
    )
    row_id = queue(engine, openid="farmer-h")
    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) == 0
    assert load(engine, row_id).status == "held"
    assert "held until the user writes again" in caplog.text
    post(client, plain_wechat, plain_wechat.text("farmer-h", "在吗"))
    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) >= 1
    row = load(engine, row_id)
    assert row.status == "sent" and [a["errcode"] for a in row.attempts] == [45015, 0]


def test_outside_the_window_a_template_fallback_is_used(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    fake_api.fail_next("message/custom/send", errcode=45047, errmsg="out of response count")
    fallback = {"template_id": "TPL", "data": {"keyword1": {"value": "A1000"}}}
    row_id = queue(engine, fallback=fallback)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    row = load(engine, row_id)
    assert row.status == "sent" and row.kind == "template"
    assert fake_api.sent("message/template/send")[0]["template_id"] == "TPL"
    assert [a["kind"] for a in row.attempts] == ["custom", "template"]


def test_permanent_errors_fail_and_are_logged(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_api.fail_next("message/custom/send", errcode=43004, errmsg="require subscribe")
    row_id = queue(engine)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert load(engine, row_id).status == "failed"
    assert "failed for good" in caplog.text


# Every errcode WECHAT.md documents for sending, an HTTP 5xx and a timeout, with what
# the outbox must do: "sent" (the client refreshed the token and retried once),
# "pending" (tried again later with backoff), "held" (until the user writes again:
# the 48 h window), "failed" (for good, shown to staff).
DELIVERY_FAULTS = [
    ("errcode -1 system busy", {"errcode": -1, "errmsg": "system busy"}, "pending"),
    ("errcode 40001", {"errcode": 40001, "errmsg": "invalid credential"}, "sent"),
    ("errcode 40014", {"errcode": 40014, "errmsg": "invalid access_token"}, "sent"),
    ("errcode 42001", {"errcode": 42001, "errmsg": "access_token expired"}, "sent"),
    ("errcode 43004", {"errcode": 43004, "errmsg": "require subscribe"}, "failed"),
    ("errcode 45009", {"errcode": 45009, "errmsg": "api freq out of limit"}, "pending"),
    ("errcode 45015", {"errcode": 45015, "errmsg": "response out of time limit"}, "held"),
    ("errcode 45047", {"errcode": 45047, "errmsg": "out of response count"}, "held"),
    ("errcode 40164", {"errcode": 40164, "errmsg": "invalid ip, not in whitelist"}, "failed"),
    ("HTTP 502", {"http_status": 502}, "pending"),
]


@pytest.mark.parametrize(
    ("fault", "answer", "outcome"), DELIVERY_FAULTS, ids=[f for f, _, _ in DELIVERY_FAULTS]
)
def test_each_documented_fault_has_its_outcome_and_nothing_goes_twice(
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    fault: str,
    answer: dict[str, object],
    outcome: str,
) -> None:
    fake_api.fail_next("message/custom/send", **answer)
    row_id = queue(engine, openid="farmer-f")
    now = utcnow()
    deliver_outbox(engine=engine, sender=api, now=now)
    row = load(engine, row_id)
    assert row.status == outcome, (fault, row.status, row.attempts)
    assert deliver_outbox(engine=engine, sender=api, now=now) == 0  # nothing is sent twice
    calls = len(fake_api.sent())
    if outcome == "pending":
        assert row.next_try_at >= now + timedelta(seconds=5)  # backoff, not a hot loop
        assert deliver_outbox(engine=engine, sender=api, now=now + timedelta(minutes=1)) == 1
        assert load(engine, row_id).status == "sent"
    delivered = [a for a in load(engine, row_id).attempts if a["errcode"] == 0]
    print(f"{fault}: {outcome}, {calls} call(s) before any retry, {len(delivered)} delivered")
    assert len(delivered) == (0 if outcome in ("held", "failed") else 1)
    assert len(fake_api.texts_to("farmer-f")) == calls + (outcome == "pending")


def test_a_timed_out_call_is_tried_again_later(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.wechat.api.TIMEOUT", (1.0, 0.3))
    api.token()  # the token call itself is not the one that times out
    fake_api.delay = 0.6
    row_id = queue(engine)
    now = utcnow()
    assert deliver_outbox(engine=engine, sender=api, now=now) == 0
    row = load(engine, row_id)
    assert row.status == "pending" and "network" in (row.last_error or "")
    fake_api.delay = 0.0
    assert deliver_outbox(engine=engine, sender=api, now=now + timedelta(minutes=1)) == 1
    assert [a["errcode"] for a in load(engine, row_id).attempts] == [-1, 0]


def test_a_row_is_sent_once_even_by_two_deliverers(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    queue(engine)
    now = utcnow()
    assert deliver_outbox(engine=engine, sender=api, now=now) == 1
    assert deliver_outbox(engine=engine, sender=api, now=now) == 0
    assert len(fake_api.texts_to("user-1")) == 1


TOKEN_SCRIPT = """
import sys
from bot.wechat.api import WeChatAPI
from models.db import make_engine
engine = make_engine(sys.argv[1])
api = WeChatAPI(base_url=sys.argv[2], app_id="wx0123456789abcdef", app_secret="s", engine=engine)
print(api.token())
engine.dispose()
"""


def test_two_processes_share_one_token(
    database_url: str, fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    fake_api.delay = 0.5  # a slow token endpoint widens the race
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", TOKEN_SCRIPT, database_url, fake_api.base_url],
            stdout=subprocess.PIPE,
            cwd=root,
        )
        for _ in range(2)
    ]
    tokens = [process.communicate(timeout=60)[0].decode().strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert tokens[0] == tokens[1] == "token-1"
    assert fake_api.paths().count("stable_token") == 1


def test_a_connection_cut_during_the_call_does_not_send_twice(fake_api: FakeWeChatAPI) -> None:
    """PostgreSQL backends are terminated while WeChat is being called: the outcome is
    recorded on a fresh connection, and the row is not sent again when its lease ends."""
    with own_postgres_database("farmhelp_delivery") as (url, admin):
        engine = make_engine(url)
        try:
            api = WeChatAPI(
                base_url=fake_api.base_url, app_id=APP_ID, app_secret="s", engine=engine
            )
            name = url.rsplit("/", 1)[1]

            class CuttingSender:
                def send(self, kind: str, openid: str, payload: dict[str, Any]) -> dict[str, Any]:
                    answer = api.send(kind, openid, payload)
                    with admin.connect() as connection:
                        cut = connection.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = :name"
                            ),
                            {"name": name},
                        ).all()
                    assert cut  # the deliverer's pooled connection
                    return answer

            row_id = queue(engine)
            now = utcnow()
            assert deliver_outbox(engine=engine, sender=CuttingSender(), now=now) == 1
            assert load(engine, row_id).status == "sent"
            # After the lease, nothing is due again.
            assert deliver_outbox(engine=engine, sender=api, now=now + LEASE * 2) == 0
            assert fake_api.texts_to("user-1") == ["你好"]
        finally:
            engine.dispose()


def test_an_advisory_template_gets_the_farmers_own_link_as_it_is_sent(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    from handlers.config import Policy
    from handlers.notify import read_farmer_link, template_message
    from models.tables import Advisory, Farmer

    policy = Policy(link_secret="s" * 32, public_url="https://county.example")
    with session_scope(engine) as session:
        farmer = Farmer(openid="user-1", last_message_at=utcnow())
        advisory = Advisory(title="小麦条锈病预警", body="及早查看", everyone=True, created_by="c")
        session.add_all([farmer, advisory])
        session.flush()
        ids = (advisory.id, farmer.id)
        unlinked = template_message("TPL", keys=("thing1",), values=["预警"], url="")
        queued = queued_row(
            openid="user-1",
            kind="template",
            payload=unlinked,
            purpose="advisory",
            now=utcnow(),
            advisory_id=advisory.id,
        )
        enqueue_rows(session, [queued, queued])
        first, second = _newest_ids(session, 2)
    # Without the county's settings there is nothing to sign the link with: the row
    # fails with the reason and is not tried again (nothing reached WeChat).
    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) == 0
    assert {load(engine, first).status, load(engine, second).status} == {"failed"}
    assert load(engine, first).last_error == (
        "advisory link: no county settings or farmer to sign it for"
    )
    assert fake_api.sent("message/template/send") == []
    with session_scope(engine) as session:
        for row_id in (first, second):
            row = session.get(Outbox, row_id)
            assert row is not None
            row.status, row.attempts, row.next_try_at = "pending", [], utcnow()
    assert deliver_outbox(engine=engine, sender=api, now=utcnow(), config=policy) == 2
    links = [body["url"] for body in fake_api.sent("message/template/send")]
    assert len(links) == 2 and all(
        u.startswith("https://county.example/f/advisory/") for u in links
    )
    claims = read_farmer_link(policy, "advisory", links[0].rsplit("/", 1)[1], max_age=60)
    assert (claims["a"], claims["f"]) == ids
    assert load(engine, first).payload["url"] == ""  # the row keeps what was queued
