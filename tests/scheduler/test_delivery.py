"""The deliverer pool: more deliverers, the same guarantees."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import Engine
from sqlmodel import Session

from bot.wechat.api import WeChatAPI
from models.outbox import queue
from models.tables import Outbox, utcnow
from scheduler.delivery import DeliveryPool, lanes_of
from scheduler.runtime import JobContext
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows


def test_lanes_split_every_recipient_to_exactly_one_deliverer() -> None:
    for count in (1, 4, 16):
        owners = Counter(lane for n in range(count) for lane in lanes_of(n, count))
        assert set(owners.values()) == {1} and len(owners) == 64


def test_four_deliverers_send_every_row_once_and_in_order_per_recipient(
    engine: Engine, api: WeChatAPI, fake_api: FakeWeChatAPI, tmp_path: object, settings: object
) -> None:
    with Session(engine) as session:
        for n in range(5):
            for person in range(8):
                queue(
                    session=session,
                    openid=f"person-{person}",
                    payload={"msgtype": "text", "text": {"content": f"{person}:{n}"}},
                    now=utcnow(),
                    purpose="notify",
                )
        session.commit()
    context = JobContext(
        engine=engine,
        wechat=api,
        media_dir=tmp_path,
        config=settings.policy(),
        holder="test",  # type: ignore[arg-type, attr-defined]
    )
    pool = DeliveryPool(context, 4)
    pool.start()
    deadline = time.monotonic() + 20
    while len(fake_api.sent()) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    pool.stop()
    texts = [body["text"]["content"] for body in fake_api.sent()]
    assert sorted(texts) == sorted(f"{p}:{n}" for p in range(8) for n in range(5))  # each once
    for person in range(8):
        mine = [t for t in texts if t.startswith(f"{person}:")]
        assert mine == [f"{person}:{n}" for n in range(5)]  # in the order queued
    assert all(row.status == "sent" and row.claimed_by is None for row in rows(engine, Outbox))
