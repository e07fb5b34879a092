"""WeChat's retries reaching two server processes that share one database."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from sqlmodel import Session, select

from models.db import make_engine
from models.tables import HelpRequest, Message
from tests.servers import running_server, server_env
from tests.wechat_client import FakeWeChat


def test_three_retries_across_two_processes_store_one_message(
    database_url: str, tmp_path: Path, wechat: FakeWeChat
) -> None:
    env = server_env(database_url, tmp_path / "instance")
    with (
        running_server(env, tmp_path / "a.log") as server_a,
        running_server(env, tmp_path / "b.log") as server_b,
    ):
        fields = wechat.text("farmer-retry", "我家的猪拉稀 不吃食")
        targets = [server_a, server_b, server_a]
        responses: list[requests.Response] = [None] * 3  # type: ignore[list-item]
        start = threading.Barrier(3)

        def deliver(index: int) -> None:
            query, body = wechat.envelope(fields)
            start.wait()
            responses[index] = requests.post(
                f"{targets[index]}/wechat", params=query, data=body, timeout=10
            )

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert [r.status_code for r in responses] == [200, 200, 200]
    replies = [wechat.open_reply(r.content) for r in responses]
    assert replies[0]["Content"] and replies[0] == replies[1] == replies[2]
    engine = make_engine(database_url)
    with Session(engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
        assert len(inbound) == 1
        assert len(session.exec(select(HelpRequest)).all()) == 1
    engine.dispose()
