"""Faults injected into the production shape: gunicorn workers, one scheduler, a fake WeChat.

Each test sends farmers' messages the way WeChat does (a push that got no 200 is sent
again with the same MsgId), injects one fault while they flow, and then checks the
invariants: every message stored exactly once, no request without the message that
opened it, every page the outbox sent received by the WeChat API exactly once (a
scheduler killed during the very HTTP call excepted, as the README states), and the
outbox drained. Each prints what it injected and what it checked.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from models.db import make_engine
from models.tables import HelpRequest, Message, Outbox, utcnow
from tests.conftest import own_postgres_database
from tests.fake_wechat_api import FakeWeChatAPI
from tests.roster import import_roster
from tests.servers import ROOT, free_port, hung_listener, server_env, start_farmhelp, stop
from tests.wechat_client import FakeWeChat

FARMERS = 24
WORDS = ("我家辣椒叶子发黄还有斑点 我是石坝村的", "好的", "今天又多了几棵")


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, workers: int = 2) -> Iterator[tuple[str, int]]:
    """Run the web as in production (deploy/gunicorn.conf.py); yield (base URL, master pid)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    command += ["-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "bot:create_app()"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "gunicorn did not start"
            try:
                if requests.get(f"{base}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet, or workers booting
                time.sleep(0.2)
        yield base, process.pid
    finally:
        stop(process)


def worker_pids(master: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def send_like_wechat(
    base: str,
    wechat: FakeWeChat,
    pushes: list[dict[str, object]],
    threads: int = 4,
    answered: Callable[[], None] = lambda: None,
    took: list[float] | None = None,
) -> int:
    """Send every push until it gets a 200, as WeChat retries; return the failed tries.

    `answered` is called after each push that got its 200; `took` collects how long
    each try waited for its answer."""
    failed = [0]
    lock = threading.Lock()
    by_farmer: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for push in pushes:
        by_farmer[str(push["FromUserName"])].append(push)
    queues = [list(v) for v in by_farmer.values()]

    def run(mine: list[list[dict[str, object]]]) -> None:
        http = requests.Session()
        for farmer_pushes in mine:
            for push in farmer_pushes:  # one farmer's messages in order
                for _attempt in range(60):
                    query, body = wechat.envelope(push)
                    started = time.monotonic()
                    try:
                        ok = http.post(f"{base}/wechat", params=query, data=body, timeout=10).ok
                    except requests.RequestException:
                        http, ok = requests.Session(), False
                    if took is not None:
                        with lock:
                            took.append(time.monotonic() - started)
                    if ok:
                        answered()
                        break
                    with lock:
                        failed[0] += 1
                    time.sleep(0.2)
                else:
                    raise AssertionError(f"push {push['MsgId']} never answered 200")

    workers = [threading.Thread(target=run, args=(queues[n::threads],)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failed[0]


def while_sending(
    base: str,
    wechat: FakeWeChat,
    pushes: list[dict[str, object]],
    inject: Callable[[], int],
    times: int,
) -> tuple[int, int]:
    """Send the pushes like WeChat and inject a fault `times` times meanwhile, spread
    over the sending (once 1/(times+1), 2/(times+1) … of the pushes were answered,
    with the other sending threads' pushes in flight), however fast the server is;
    return (resends after no answer, faults injected)."""
    answered = [0]
    lock = threading.Lock()

    def one_more() -> None:
        with lock:
            answered[0] += 1

    resends: list[int] = []
    sending = threading.Thread(
        target=lambda: resends.append(send_like_wechat(base, wechat, pushes, answered=one_more))
    )
    sending.start()
    injected = 0
    for step in range(1, times + 1):
        while sending.is_alive() and answered[0] < len(pushes) * step // (times + 1):
            time.sleep(0.005)
        if not sending.is_alive():
            break
        injected += inject()
    sending.join()
    return resends[0], injected


def the_pushes(wechat: FakeWeChat, tag: str, written_ago: int = 0) -> list[dict[str, object]]:
    """`written_ago` seconds old: 10 or more, and the reply cache is asked and told."""
    return [
        wechat.text(f"fault-{tag}-{n}", words, CreateTime=int(time.time()) - written_ago)
        for n in range(FARMERS)
        for words in WORDS  # the first opens a request and pages; the rest join it
    ]


def wait_drained(engine: Engine, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            waiting = session.exec(
                select(Outbox).where(
                    (col(Outbox.status) == "pending") | col(Outbox.claimed_by).is_not(None)
                )
            ).all()
        if not waiting:
            return
        time.sleep(0.3)
    raise AssertionError(f"outbox not drained in {timeout} s: {len(waiting)} rows waiting")


def check_invariants(
    engine: Engine, pushes: list[dict[str, object]], fake_api: FakeWeChatAPI, twice_allowed: int = 0
) -> str:
    """Assert the invariants; return a line saying what was checked."""
    wait_drained(engine)
    with Session(engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
        requests_made = session.exec(select(HelpRequest)).all()
        rows = session.exec(select(Outbox)).all()
    stored = collections.Counter(m.wechat_msg_id for m in inbound)
    sent_ids = {str(p["MsgId"]) for p in pushes}
    assert {k for k in stored if k in sent_ids} == sent_ids, "a message was lost"
    assert all(stored[k] == 1 for k in sent_ids), "a message was stored twice"
    with_message = {m.request_id for m in inbound}
    assert all(r.id in with_message for r in requests_made), "a request without its message"
    farmers = {str(p["FromUserName"]) for p in pushes}
    assert len(requests_made) == len(farmers), "one request per farmer expected"
    assert all(r.status in ("intake", "offered", "open") or r.expert_id for r in requests_made)
    pages = [r for r in rows if r.purpose == "page"]
    assert pages and all(r.status == "sent" for r in pages), collections.Counter(
        r.status for r in rows
    )
    expected = collections.Counter(
        (r.openid, r.payload["text"]["content"]) for r in rows if r.status == "sent"
    )
    arrived = collections.Counter(
        (body["touser"], body["text"]["content"]) for body in fake_api.sent()
    )
    lost = sum((expected - arrived).values())
    twice = sum((arrived - expected).values())
    assert lost == 0, f"{lost} outbox messages marked sent never reached the API"
    assert twice <= twice_allowed, f"{twice} messages reached the API twice"
    return (
        f"checked: {len(sent_ids)} of {len(sent_ids)} messages stored once each,"
        f" {len(requests_made)} requests for {len(farmers)} farmers (none without its message),"
        f" {len(pages)} pages sent, {sum(arrived.values())} API sends for"
        f" {sum(expected.values())} sent rows ({twice} twice), outbox drained"
    )


@pytest.fixture
def stack_env(
    database_url: str, tmp_path: Path, fake_api: FakeWeChatAPI
) -> Iterator[tuple[dict[str, str], Engine]]:
    env = server_env(database_url, tmp_path / "instance", WECHAT_API_BASE_URL=fake_api.base_url)
    import_roster(env, tmp_path, utcnow())
    engine = make_engine(database_url)
    yield env, engine
    engine.dispose()


@contextmanager
def scheduler(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = start_farmhelp(env, log_path, "scheduler")
    try:
        yield process
    finally:
        stop(process)


def test_web_workers_killed_mid_request(
    stack_env: tuple[dict[str, str], Engine],
    tmp_path: Path,
    fake_api: FakeWeChatAPI,
    plain_wechat: FakeWeChat,
) -> None:
    env, engine = stack_env
    pushes = the_pushes(plain_wechat, "web")
    with (
        gunicorn(env, tmp_path / "web.log") as (base, master),
        scheduler(env, tmp_path / "scheduler.log"),
    ):

        def kill_a_worker() -> int:
            pids = worker_pids(master)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
            return len(pids[:1])

        resends, killed = while_sending(base, plain_wechat, pushes, kill_a_worker, times=4)
        print(f"\ninjected: SIGKILL of {killed} gunicorn workers while {len(pushes)} pushes flowed")
        print(f"WeChat-style resends after no answer: {resends}")
        print(check_invariants(engine, pushes, fake_api))
    assert killed >= 2


def test_a_killed_worker_is_replaced_at_once(
    stack_env: tuple[dict[str, str], Engine], tmp_path: Path
) -> None:
    """The app is built before the fork (preload), so a new worker serves within a second."""
    env, _engine = stack_env
    with gunicorn(env, tmp_path / "web.log", workers=1) as (base, master):
        waits = []
        for _kill in range(3):
            (old,) = worker_pids(master)
            os.kill(old, signal.SIGKILL)
            killed = time.monotonic()
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=5).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.01)
            waits.append(time.monotonic() - killed)
            assert worker_pids(master) != [old]
        shown = ", ".join(f"{wait * 1000:.0f} ms" for wait in waits)
        print(f"\na new worker answered {shown} after each kill")
    # Without preload each new worker imported and built everything: 3–7 s here.
    assert max(waits) < 1.5


def test_scheduler_killed_mid_delivery(
    stack_env: tuple[dict[str, str], Engine],
    tmp_path: Path,
    fake_api: FakeWeChatAPI,
    plain_wechat: FakeWeChat,
) -> None:
    env, engine = stack_env
    pushes = the_pushes(plain_wechat, "sched")
    fake_api.delay = 0.3  # deliveries are in flight when the kill comes
    with gunicorn(env, tmp_path / "web.log") as (base, _master):
        send_like_wechat(base, plain_wechat, pushes)
        first = start_farmhelp(env, tmp_path / "scheduler-a.log", "scheduler")
        fake_api.wait_for(lambda api: len(api.sent()) >= 3, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait()
        with Session(engine) as session:
            in_flight = len(
                session.exec(select(Outbox).where(col(Outbox.claimed_by).is_not(None))).all()
            )
        print(f"\ninjected: SIGKILL of the scheduler with {in_flight} deliveries claimed")
        fake_api.delay = 0.0
        with scheduler(env, tmp_path / "scheduler-b.log"):
            # The next scheduler takes the lease when it lapses and releases the claims.
            print(check_invariants(engine, pushes, fake_api, twice_allowed=in_flight))


def test_database_connections_cut_under_load(
    tmp_path: Path, fake_api: FakeWeChatAPI, plain_wechat: FakeWeChat
) -> None:
    with cuttable_stack("farmhelp_faults", tmp_path, fake_api) as (env, engine, cut):
        pushes = the_pushes(plain_wechat, "pg")
        with (
            gunicorn(env, tmp_path / "web.log") as (base, _master),
            scheduler(env, tmp_path / "scheduler.log"),
        ):
            resends, terminated = while_sending(base, plain_wechat, pushes, cut, times=8)
            terminated += cut()
            print(
                f"\ninjected: {terminated} PostgreSQL backends terminated while"
                f" {len(pushes)} pushes flowed; resends after no answer: {resends}"
            )
            print(check_invariants(engine, pushes, fake_api))
        assert terminated >= 3


@contextmanager
def cuttable_stack(
    prefix: str, tmp_path: Path, fake_api: FakeWeChatAPI
) -> Iterator[tuple[dict[str, str], Engine, Callable[[], int]]]:
    """A PostgreSQL database of its own with the test county: yield the servers'
    environment, the checker's engine and a function that terminates its backends."""
    with own_postgres_database(prefix) as (url, admin):
        # The checker's own connections are cut too: it pings each before use.
        engine = make_engine(url, pool_pre_ping=True)
        try:
            env = server_env(url, tmp_path / "instance", WECHAT_API_BASE_URL=fake_api.base_url)
            import_roster(env, tmp_path, utcnow())
            yield env, engine, cut_connections(admin, url.rsplit("/", 1)[1])
        finally:
            engine.dispose()


def cut_connections(admin: Engine, name: str) -> Callable[[], int]:
    def cut() -> int:
        with admin.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).all()
            )

    return cut


def test_redis_unavailable(
    stack_env: tuple[dict[str, str], Engine],
    tmp_path: Path,
    fake_api: FakeWeChatAPI,
    plain_wechat: FakeWeChat,
) -> None:
    env, engine = stack_env
    env = {**env, "FARMHELP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nobody there
    pushes = the_pushes(plain_wechat, "redis", written_ago=10)
    with (
        gunicorn(env, tmp_path / "web.log") as (base, _master),
        scheduler(env, tmp_path / "scheduler.log"),
    ):
        ready = requests.get(f"{base}/readyz", timeout=10)
        resends = send_like_wechat(base, plain_wechat, pushes + pushes[:10])  # with retries
        print(f"\ninjected: Redis unreachable; /readyz said {ready.status_code} {ready.text}")
        print(f"resends after no answer: {resends}")
        print(check_invariants(engine, pushes, fake_api))
    assert ready.status_code == 200 and "degraded" in ready.text
    assert resends == 0


def test_redis_hung(
    stack_env: tuple[dict[str, str], Engine],
    tmp_path: Path,
    fake_api: FakeWeChatAPI,
    plain_wechat: FakeWeChat,
) -> None:
    """Redis accepts connections and never answers: every push is answered within 1 s."""
    env, engine = stack_env
    pushes = the_pushes(plain_wechat, "hung", written_ago=10)
    took: list[float] = []
    with (
        hung_listener() as url,
        gunicorn({**env, "FARMHELP_REDIS_URL": url}, tmp_path / "web.log", workers=4) as (
            base,
            _master,
        ),
        scheduler(env, tmp_path / "scheduler.log"),
    ):
        # One push at a time: what is timed is the push and Redis, not SQLite's single
        # writer lock shared by four workers.
        resends = send_like_wechat(base, plain_wechat, pushes + pushes[:10], threads=1, took=took)
        ready = requests.get(f"{base}/readyz", timeout=10)
        print(f"\ninjected: Redis hung; /readyz said {ready.status_code} {ready.text.strip()}")
        print(
            f"{len(took)} tries, slowest answer {max(took) * 1000:.0f} ms,"
            f" resends after no answer: {resends}"
        )
        print(check_invariants(engine, pushes, fake_api))
    assert resends == 0
    assert max(took) < 1.0
    assert ready.status_code == 200 and ready.json()["redis"] == "timeout"


def test_database_connections_cut_during_delivery(
    tmp_path: Path, fake_api: FakeWeChatAPI, plain_wechat: FakeWeChat
) -> None:
    """Backends are terminated while the scheduler's calls to WeChat are in flight:
    each outcome is recorded on a fresh connection, so nothing is sent twice."""
    with cuttable_stack("farmhelp_delivery_cut", tmp_path, fake_api) as (env, engine, cut):
        pushes = the_pushes(plain_wechat, "deliver")
        with gunicorn(env, tmp_path / "web.log") as (base, _master):
            send_like_wechat(base, plain_wechat, pushes)
            fake_api.delay = 0.3  # every call is in flight for a while when the cut comes
            terminated = 0
            with scheduler(env, tmp_path / "scheduler.log"):
                for step in range(1, 7):
                    fake_api.wait_for(lambda api, n=step: len(api.sent()) >= 3 * n, timeout=60)
                    terminated += cut()
                fake_api.delay = 0.0
                print(
                    f"\ninjected: {terminated} PostgreSQL backends terminated while the"
                    " scheduler's calls to WeChat were in flight"
                )
                print(check_invariants(engine, pushes, fake_api))
        assert terminated >= 6
