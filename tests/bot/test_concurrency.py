"""Real concurrency: two `farmhelp serve` processes on one database, pushes at the same instant.

On SQLite writers are serialised by the database itself; on PostgreSQL (CI runs both)
these are true races between two servers, decided by row locks.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from models.db import make_engine
from models.tables import Expert, Farmer, HelpRequest, Message, Offer, Outbox, utcnow
from tests.fake_wechat_api import FakeWeChatAPI
from tests.roster import import_roster
from tests.servers import running_server, server_env
from tests.wechat_client import FakeWeChat

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"
ROUNDS = 20


@pytest.fixture
def two_servers(
    database_url: str, tmp_path: Path, fake_api: FakeWeChatAPI
) -> Iterator[tuple[str, str, dict[str, str]]]:
    env = server_env(
        database_url,
        tmp_path / "instance",
        WECHAT_API_BASE_URL=fake_api.base_url,
        WECHAT_ALLOW_PLAINTEXT="true",
    )
    import_roster(env, tmp_path, utcnow())
    with (
        running_server(env, tmp_path / "a.log") as server_a,
        running_server(env, tmp_path / "b.log") as server_b,
    ):
        yield server_a, server_b, env


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def post_at_once(
    wechat: FakeWeChat, jobs: list[tuple[str, dict[str, Any]]]
) -> list[requests.Response]:
    """POST every (server, push) at the same instant, one thread each."""
    responses: list[requests.Response | None] = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def deliver(index: int) -> None:
        server, fields = jobs[index]
        query, body = wechat.envelope(fields)
        start.wait()
        responses[index] = requests.post(f"{server}/wechat", params=query, data=body, timeout=30)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None and r.status_code == 200 for r in responses), [
        (r.status_code, r.text) for r in responses if r is not None
    ]
    return [r for r in responses if r is not None]


def reply_of(wechat: FakeWeChat, response: requests.Response) -> str:
    if response.content == b"success":
        return ""
    return wechat.open_reply(response.content)["Content"]


def say(server: str, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_of(wechat, post_at_once(wechat, [(server, wechat.text(openid, text))])[0])


def test_bursts_of_photos_and_text_from_new_farmers_are_all_stored(
    two_servers: tuple[str, str, dict[str, str]], db: Engine, plain_wechat: FakeWeChat
) -> None:
    server_a, server_b, _ = two_servers
    for burst in range(ROUNDS):
        openid = f"burst-farmer-{burst}"
        pushes = [
            plain_wechat.message(openid, "image", PicUrl="p", MediaId=f"photo-{burst}-{n}")
            for n in range(3)
        ] + [plain_wechat.text(openid, "辣椒叶子上全是斑点")]
        post_at_once(
            plain_wechat, [(server_a if n % 2 else server_b, p) for n, p in enumerate(pushes)]
        )
    with Session(db) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
        requests_made = session.exec(select(HelpRequest)).all()
        farmers = session.exec(select(Farmer)).all()
    burst_messages = [m for m in inbound if m.openid.startswith("burst-farmer-")]
    print(f"{len(burst_messages)} of {ROUNDS * 4} messages stored, {len(requests_made)} requests")
    assert len(burst_messages) == ROUNDS * 4
    assert all(m.status == "handled" for m in burst_messages)
    assert len([f for f in farmers if f.openid.startswith("burst-farmer-")]) == ROUNDS
    assert len(requests_made) == ROUNDS
    assert all(m.request_id is not None for m in burst_messages)


def test_parallel_texts_from_a_known_farmer_open_one_request(
    two_servers: tuple[str, str, dict[str, str]], db: Engine, plain_wechat: FakeWeChat
) -> None:
    server_a, server_b, _ = two_servers
    post_at_once(plain_wechat, [(server_a, plain_wechat.event("known-farmer", "subscribe"))])
    texts = [plain_wechat.text("known-farmer", f"玉米叶子发黄第{n}块地 石坝村") for n in range(20)]
    post_at_once(plain_wechat, [(server_a if n % 2 else server_b, t) for n, t in enumerate(texts)])
    with Session(db) as session:
        made = session.exec(select(HelpRequest)).all()
        pages = session.exec(select(Outbox).where(Outbox.purpose == "page")).all()
        stored = session.exec(select(Message).where(Message.openid == "known-farmer")).all()
    assert len([m for m in stored if m.direction == "in"]) == 21
    assert len(made) == 1, [r.code for r in made]
    assert len(pages) == 1


def test_open_board_race_has_one_winner(
    two_servers: tuple[str, str, dict[str, str]], db: Engine, plain_wechat: FakeWeChat
) -> None:
    server_a, server_b, env = two_servers
    result = CliRunner().invoke(main, ["teams", "set", "植保队", "--broadcast"], env=env)
    assert result.exit_code == 0, result.output
    for race in range(ROUNDS):
        farmer = f"board-farmer-{race}"
        code = CODE.search(say(server_a, plain_wechat, farmer, PROBLEM)).group()  # type: ignore[union-attr]
        replies = [
            reply_of(plain_wechat, r)
            for r in post_at_once(
                plain_wechat,
                [
                    (server_a, plain_wechat.text("exp-wang", f"接单 {code}")),
                    (server_b, plain_wechat.text("exp-zhao", f"接单 {code}")),
                ],
            )
        ]
        winners = [r for r in replies if r.startswith("已接单")]
        losers = [r for r in replies if "已被其他专家接走" in r]
        assert len(winners) == 1 and len(losers) == 1, replies
        with Session(db) as session:
            request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
            offers = session.exec(select(Offer).where(Offer.request_id == request.id)).all()
            told = session.exec(
                select(Outbox).where(Outbox.openid == farmer, Outbox.purpose == "notify")
            ).all()
        assert request.status == "accepted"
        assert sorted(o.status for o in offers) == ["accepted", "taken"]
        accepted_news = [r for r in told if "接了您的求助" in r.payload["text"]["content"]]
        assert len(accepted_news) == 1, [r.payload for r in told]


def test_cancel_racing_accept_ends_one_way(
    two_servers: tuple[str, str, dict[str, str]], db: Engine, plain_wechat: FakeWeChat
) -> None:
    server_a, server_b, _ = two_servers
    outcomes = {"expert first": 0, "farmer first": 0}
    for race in range(ROUNDS):
        farmer = f"cancel-farmer-{race}"
        code = CODE.search(say(server_a, plain_wechat, farmer, PROBLEM)).group()  # type: ignore[union-attr]
        with Session(db) as session:
            offered_to = session.exec(
                select(Expert)
                .join(Offer, Offer.expert_id == Expert.id)
                .join(HelpRequest, HelpRequest.id == Offer.request_id)
                .where(HelpRequest.code == code)
            ).one()
        farmer_reply, expert_reply = (
            reply_of(plain_wechat, r)
            for r in post_at_once(
                plain_wechat,
                [
                    (server_a, plain_wechat.text(farmer, "取消")),
                    (server_b, plain_wechat.text(offered_to.openid, f"接单 {code}")),
                ],
            )
        )
        assert farmer_reply.startswith(f"求助 {code} 已取消"), farmer_reply
        # A delivery in flight when 取消 came (claimed, not droppable) may end a moment later.
        deadline = time.monotonic() + 15
        while True:
            with Session(db) as session:
                request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
                to_farmer = session.exec(select(Outbox).where(Outbox.openid == farmer)).all()
                to_expert = session.exec(
                    select(Outbox).where(
                        Outbox.openid == offered_to.openid, Outbox.request_id == request.id
                    )
                ).all()
            if all(r.claimed_by is None for r in to_farmer) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # Whatever the order, the farmer was told 已取消 and the request stays cancelled.
        assert request.status == "cancelled"
        live_news = [
            r for r in to_farmer if r.status != "dropped" and "接了您的求助" in str(r.payload)
        ]
        if expert_reply.startswith("已接单"):
            outcomes["expert first"] += 1
            assert any("农户取消了求助" in str(r.payload) for r in to_expert)
            assert all(r.status == "sent" for r in live_news)  # at most delivered before 取消
        else:
            outcomes["farmer first"] += 1
            assert "取消" in expert_reply, expert_reply
            assert live_news == []
    print(f"cancel vs accept: {outcomes}")
