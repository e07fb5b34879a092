"""The scheduler as processes: surveys survive kill -9, and two schedulers send once."""

from __future__ import annotations

import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.db import make_engine
from models.lease import hold_lease
from models.tables import Farmer, HelpRequest, SchedulerLease, Survey, utcnow
from tests.fake_wechat_api import FakeWeChatAPI
from tests.roster import import_roster
from tests.servers import serve_process, server_env, start_farmhelp, stop
from tests.wechat_client import FakeWeChat

CODE = re.compile(r"[A-Z][0-9]{3,6}")
QUESTION = "问题解决了吗"


def send(base: str, wechat: FakeWeChat, openid: str, text: str) -> str:
    query, body = wechat.envelope(wechat.text(openid, text))
    response = requests.post(f"{base}/wechat", params=query, data=body, timeout=10)
    assert response.status_code == 200, response.text
    return wechat.open_reply(response.content)["Content"] if response.content != b"success" else ""


def questions_to(fake: FakeWeChatAPI, openid: str) -> list[str]:
    return [t for t in fake.texts_to(openid) if QUESTION in t]


def test_lease_has_one_holder_and_passes_on_when_it_expires(engine: Engine) -> None:
    now = utcnow()
    ttl = timedelta(seconds=15)
    assert hold_lease(engine, name="s", holder="a", now=now, ttl=ttl)
    assert not hold_lease(engine, name="s", holder="b", now=now + timedelta(seconds=5), ttl=ttl)
    assert hold_lease(engine, name="s", holder="a", now=now + timedelta(seconds=5), ttl=ttl)
    assert not hold_lease(engine, name="s", holder="b", now=now + timedelta(seconds=19), ttl=ttl)
    assert hold_lease(engine, name="s", holder="b", now=now + timedelta(seconds=21), ttl=ttl)
    assert not hold_lease(engine, name="s", holder="a", now=now + timedelta(seconds=22), ttl=ttl)


def test_survey_loop_and_kill_minus_nine_before_it_is_due(
    database_url: str, tmp_path: Path, fake_api: FakeWeChatAPI, plain_wechat: FakeWeChat
) -> None:
    env = server_env(
        database_url,
        tmp_path / "instance",
        WECHAT_API_BASE_URL=fake_api.base_url,
        FARMHELP_SURVEY_DELAY="5s",
        FARMHELP_QUIET_HOURS="off",
    )
    import_roster(env, tmp_path, utcnow())
    port_log = tmp_path / "serve.log"
    # 1. The whole loop: visit recorded → survey within ~10 s → answers close the request.
    with serve_process(env, port_log) as (base, _process):
        code = CODE.search(send(base, plain_wechat, "farmer-1", "我家辣椒叶子发黄 石坝村")).group()  # type: ignore[union-attr]
        send(base, plain_wechat, "exp-wang", f"接单 {code}")
        send(base, plain_wechat, "exp-wang", f"完成 {code} 叶斑病")
        waited = fake_api.wait_for(lambda api: questions_to(api, "farmer-1"), timeout=20)
        print(f"survey reached the fake API {waited:.1f} s after 完成 (delay 5 s)")
        assert waited < 12
        send(base, plain_wechat, "farmer-1", "1")
        send(base, plain_wechat, "farmer-1", "5")
        send(base, plain_wechat, "farmer-1", "谢谢专家")

        # 2. Another visit, then kill -9 before its survey is due.
        code2 = CODE.search(send(base, plain_wechat, "farmer-2", "玉米叶子卷了 石坝村")).group()  # type: ignore[union-attr]
        send(base, plain_wechat, "exp-wang", f"接单 {code2}")
        send(base, plain_wechat, "exp-wang", f"完成 {code2} 缺水")
        _process.send_signal(signal.SIGKILL)
        _process.wait()
    assert questions_to(fake_api, "farmer-2") == []
    with serve_process(env, tmp_path / "serve2.log"):
        waited = fake_api.wait_for(lambda api: questions_to(api, "farmer-2"), timeout=45)
        print(f"after kill -9 and restart the survey went out {waited:.1f} s later")
        time.sleep(4)  # a double send would show up by now
    assert len(questions_to(fake_api, "farmer-2")) == 1
    assert len(questions_to(fake_api, "farmer-1")) == 1

    engine = make_engine(database_url)
    with Session(engine) as session:
        first = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        survey = session.exec(select(Survey).where(Survey.request_id == first.id)).one()
        assert first.status == "closed"
        assert (survey.solved, survey.rating, survey.comment) == ("yes", 5, "谢谢专家")
    engine.dispose()


def _seed_due_surveys(engine: Engine, openids: list[str]) -> None:
    now = utcnow()
    with Session(engine) as session:
        for openid in openids:
            farmer = Farmer(openid=openid, last_message_at=now)
            session.add(farmer)
            session.flush()
            request = HelpRequest(
                farmer_id=farmer.id, status="visited", visited_at=now, text="x", confirmed_at=now
            )
            session.add(request)
            session.flush()
            request.code = f"S{request.id:04d}"
            session.add(Survey(request_id=request.id, farmer_id=farmer.id, due_at=now))
        session.commit()


def test_two_scheduler_processes_send_every_survey_once(
    database_url: str, tmp_path: Path, fake_api: FakeWeChatAPI
) -> None:
    env = server_env(
        database_url,
        tmp_path / "instance",
        WECHAT_API_BASE_URL=fake_api.base_url,
        FARMHELP_QUIET_HOURS="off",
    )
    engine = make_engine(database_url)
    first_batch = [f"farmer-a{i}" for i in range(15)]
    _seed_due_surveys(engine, first_batch)
    schedulers = [
        start_farmhelp(env, tmp_path / f"scheduler{i}.log", "scheduler") for i in range(2)
    ]
    try:
        fake_api.wait_for(lambda api: all(questions_to(api, o) for o in first_batch), timeout=30)
        time.sleep(3)
        with Session(engine) as session:
            holder = session.exec(select(SchedulerLease)).one().holder
        active = next(p for p in schedulers if f":{p.pid}:" in holder)
        standby = next(p for p in schedulers if p is not active)
        active.send_signal(signal.SIGKILL)  # the standby must take over
        active.wait()
        second_batch = [f"farmer-b{i}" for i in range(5)]
        _seed_due_surveys(engine, second_batch)
        waited = fake_api.wait_for(
            lambda api: all(questions_to(api, o) for o in second_batch), timeout=45
        )
        print(f"standby scheduler took over and sent the next surveys {waited:.1f} s later")
        time.sleep(3)
        assert standby.poll() is None
    finally:
        for process in schedulers:
            stop(process)
        engine.dispose()
    for openid in first_batch + second_batch:
        assert len(questions_to(fake_api, openid)) == 1, openid
