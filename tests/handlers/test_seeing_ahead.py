"""Seeing ahead (事前主动): outbreak alerts from clusters, advisories to the right farmers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers import advisories, texts
from handlers.advisories import (
    AdvisoryRefused,
    audience,
    audience_count,
    progress,
    send_advisory,
)
from handlers.outbreaks import find_outbreaks
from models.tables import Advisory, Farmer, HelpRequest, Outbox, OutbreakAlert, utcnow
from scheduler import advisories as scheduler_advisories
from scheduler.advisories import queue_advisories
from scheduler.outbox import deliver_outbox
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

RUST = [
    "小麦叶子上有黄锈",
    "麦子叶片出现条锈了",
    "小麦长锈病了",
    "小麦叶子上一条一条的黄锈",
    "麦子条锈病",
]


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, words)))


def sent_to(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and r.payload.get("msgtype") == "text"
    ]


def test_four_rust_requests_in_one_township_raise_one_alert_that_grows(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    settings.staff_openids = "staff-1"
    client = make_app(settings).test_client()
    policy = settings.policy()
    for n, words in enumerate(RUST[:4]):
        say(client, plain_wechat, f"wheat-{n}", f"{words} 木鱼镇石坝村")
    with Session(engine) as session:
        assert len(session.exec(select(HelpRequest)).all()) == 4
        # Raised when the third was confirmed; the job finds nothing more to raise.
        assert find_outbreaks(session, config=policy, now=utcnow()) == []
        session.commit()
    (alert,) = rows(engine, OutbreakAlert)
    assert (alert.crop, alert.township, len(alert.request_ids)) == ("小麦", "木鱼镇", 4)
    assert "锈病" in alert.symptoms
    for openid in ("staff-1", "exp-liu"):  # staff and the plant-protection leader
        assert len([t for t in sent_to(engine, openid) if "疫情预警" in t]) == 1
    say(client, plain_wechat, "wheat-4", f"{RUST[4]} 木鱼镇石坝村")
    with Session(engine) as session:
        assert find_outbreaks(session, config=policy, now=utcnow() + timedelta(hours=30)) == []
        session.commit()
    grown = rows(engine, OutbreakAlert)
    assert len(grown) == 1 and len(grown[0].request_ids) == 5  # joined, not fired again
    for openid in ("staff-1", "exp-liu"):
        assert len([t for t in sent_to(engine, openid) if "疫情预警" in t]) == 1


def test_spread_out_or_distant_requests_raise_nothing(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    client = make_app(settings).test_client()
    for n in range(3):  # one township, but over two weeks
        say(client, plain_wechat, f"slow-{n}", f"{RUST[n]} 城关镇东河村")
    now = utcnow()
    with Session(engine) as session:
        for n, request in enumerate(session.exec(select(HelpRequest)).all()):
            request.confirmed_at = now - timedelta(days=7 * (2 - n))
        session.commit()
    for n, place in enumerate(("木鱼镇石坝村", "城关镇东河村", "青川县")):  # three places
        say(client, plain_wechat, f"far-{n}", f"玉米叶子有锈病 {place}")
    with Session(engine) as session:
        assert find_outbreaks(session, config=settings.policy(), now=now) == []


def _places(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "more-places.csv"
    path.write_text(
        "county,township,village\n原州区,彭堡镇,申庄村\n原州区,彭堡镇,曹洼村\n原州区,三营镇,三营村\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["places", "import", str(path)], env=cli_env)
    assert result.exit_code == 0, result.output


def test_an_advisory_reaches_exactly_the_matching_farmers_by_the_right_way(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _places(cli_env, tmp_path)
    growers = {
        "in-window": "我家小麦叶子发黄 彭堡镇申庄村",
        "out-of-window": "小麦苗长得慢 彭堡镇曹洼村",
        "maize": "玉米叶子发黄 彭堡镇申庄村",
        "elsewhere": "小麦叶子发黄 三营镇三营村",
        "opted-out": "小麦叶子发黄 彭堡镇曹洼村",
        "unfollowed": "小麦叶子发黄 彭堡镇申庄村",
    }
    for openid, words in growers.items():
        say(client, plain_wechat, openid, words)
    assert say(client, plain_wechat, "opted-out", "退订") == texts.UNSUBSCRIBED_ADVISORIES
    post(client, plain_wechat, plain_wechat.event("unfollowed", "unsubscribe"))
    with Session(engine) as session:
        session.execute(
            update(Farmer)
            .where(Farmer.openid == "out-of-window")  # type: ignore[arg-type]
            .values(last_message_at=utcnow() - timedelta(days=3))
        )
        session.commit()
    policy = dataclasses.replace(settings.policy(), advisory_template="TPL-ADVISORY")
    with Session(engine) as session:
        reached = audience(session, crop="小麦", township="彭堡镇", village=None, everyone=False)
        assert sorted(f.openid for f in reached) == [
            "in-window",
            "out-of-window",
        ]  # the count shown
        advisory = Advisory(
            title="小麦条锈病预警",
            body="近期多地发现条锈病，发病初期每亩用 15% 三唑酮 60 克兑水 30 公斤喷雾。",
            crop="小麦",
            township="彭堡镇",
            created_by="coord1",
        )
        session.add(advisory)
        session.flush()
        ways = send_advisory(session, advisory=advisory, config=policy, now=utcnow())
        session.commit()
        advisory_id = advisory.id
    assert ways == {"custom": 1, "template": 1}
    queued = [r for r in rows(engine, Outbox) if r.advisory_id == advisory_id]
    assert len(queued) == len(reached) == 2  # the count shown equals the messages queued
    fake_api.fail_next("message/template/send", errcode=43004, errmsg="require subscribe")
    for _ in range(2):
        deliver_outbox(engine=engine, sender=api, now=utcnow(), config=policy)
    custom = [b for b in fake_api.sent() if b["touser"] == "in-window" and "条锈病" in str(b)]
    assert len(custom) == 1
    assert not [
        b
        for b in fake_api.calls
        if b[1].get("touser") in ("maize", "elsewhere", "opted-out", "unfollowed")
    ]
    with Session(engine) as session:
        seen = progress(session, advisory_id=advisory_id or 0)
        again = session.get(Advisory, advisory_id)
        assert again is not None
        with pytest.raises(AdvisoryRefused, match="已经发过"):  # never twice
            send_advisory(session, advisory=again, config=policy, now=utcnow())
    assert seen["states"] == {"sent": 1, "failed": 1}
    assert seen["failed"] == [("out-of-window", "43004: require subscribe")]  # visible per farmer


def test_without_a_template_outside_the_window_the_advisory_waits_for_the_farmer(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    _places(cli_env, tmp_path)
    say(client, plain_wechat, "quiet-farmer", "小麦苗长得慢 彭堡镇曹洼村")
    with Session(engine) as session:
        session.execute(
            update(Farmer)
            .where(Farmer.openid == "quiet-farmer")  # type: ignore[arg-type]
            .values(last_message_at=utcnow() - timedelta(days=3))
        )
        advisory = Advisory(title="冬前管理", body="浇好冻水。", township="彭堡镇", created_by="c")
        session.add(advisory)
        session.flush()
        assert send_advisory(
            session, advisory=advisory, config=settings.policy(), now=utcnow()
        ) == {"held": 1}
        session.commit()
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert fake_api.texts_to("quiet-farmer") == []
    say(client, plain_wechat, "quiet-farmer", "麦子还是黄")  # the window opens again
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any("冬前管理" in t for t in fake_api.texts_to("quiet-farmer"))
    assert say(client, plain_wechat, "quiet-farmer", "订阅") == texts.SUBSCRIBED_ADVISORIES


def test_a_large_advisory_is_queued_in_batches_each_farmer_once(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send counts everyone and writes the first batch; the scheduler's job writes
    the rest by farmer id, and a farmer who follows meanwhile is reached too."""
    monkeypatch.setattr(advisories, "QUEUE_BATCH", 3)
    now = utcnow()
    with Session(engine) as session:
        session.add_all(
            Farmer(openid=f"county-{n}", last_message_at=now - timedelta(hours=n)) for n in range(8)
        )
        session.add(Farmer(openid="opted-out", last_message_at=now, advisories=False))
        advisory = Advisory(
            title="寒潮预警", body="今夜降温，大棚加盖草帘。", everyone=True, created_by="c"
        )
        session.add(advisory)
        session.flush()
        assert audience_count(session, crop=None, township=None, village=None, everyone=True) == 8
        first = send_advisory(session, advisory=advisory, config=settings.policy(), now=now)
        session.commit()
        advisory_id = advisory.id
    assert sum(first.values()) == 3
    with Session(engine) as session:
        session.add(Farmer(openid="county-late", last_message_at=now))
        session.commit()
    written = queue_advisories(
        engine=engine, config=settings.policy(), clock=utcnow, pause=0, budget=10
    )
    assert written == 6  # the other five, and the farmer who wrote meanwhile
    queued = [r.openid for r in rows(engine, Outbox) if r.advisory_id == advisory_id]
    assert sorted(queued) == sorted([f"county-{n}" for n in range(8)] + ["county-late"])
    with Session(engine) as session:
        done = session.get(Advisory, advisory_id)
        assert done is not None and done.queued_at is not None
        assert (done.recipients, done.queued) == (8, 9)
        assert progress(session, advisory_id=advisory_id or 0)["total"] == 9
    # Nothing is left to queue: another run writes nothing.
    assert queue_advisories(engine=engine, config=settings.policy(), clock=utcnow, pause=0) == 0


def test_an_advisory_whose_batch_fails_does_not_hold_up_the_next(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(advisories, "QUEUE_BATCH", 1)
    now = utcnow()
    with Session(engine) as session:
        session.add_all(Farmer(openid=f"f-{n}", last_message_at=now) for n in range(3))
        ids = []
        for title in ("甲", "乙"):
            advisory = Advisory(title=title, body="正文", everyone=True, created_by="c")
            session.add(advisory)
            session.flush()
            send_advisory(session, advisory=advisory, config=settings.policy(), now=now)
            ids.append(advisory.id)
        session.commit()
    real = scheduler_advisories.queue_batch

    def broken_for_the_first(session: Session, *, advisory: Advisory, **kw: Any) -> Any:
        if advisory.id == ids[0]:
            raise RuntimeError("template misconfigured")
        return real(session, advisory=advisory, **kw)

    monkeypatch.setattr(scheduler_advisories, "queue_batch", broken_for_the_first)
    queue_advisories(engine=engine, config=settings.policy(), clock=utcnow, pause=0, budget=10)
    with Session(engine) as session:
        first, second = (session.get(Advisory, i) for i in ids)
        assert first is not None and second is not None
        assert first.queued_at is None and first.queued == 1  # tried again next run
        assert second.queued_at is not None and second.queued == 3
