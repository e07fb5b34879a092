"""End to end under load: farmers' messages in, WeChat-style retries, pages out.

farmhelp runs as in production: gunicorn (--workers) on PostgreSQL + Redis and one
`farmhelp scheduler` process delivering to a fake WeChat API (bench/fake_wechat_server.py,
answering after --api-delay seconds). --messages distinct messages from --farmers
farmers (each farmer's in order: the problem and village, an answer, more words…)
are sent over --connections connections; each message goes 1–3 times, the copies
close behind the first and often at the same moment, as WeChat retries do.

Then, once the outbox has drained, it checks and prints: every distinct message
stored exactly once, no request without the message that opened it (so at most one
request per message), every outbox message the scheduler sent received by the API
exactly once and nothing received that was not sent; and the reply latency
(p50/p99) and the end-to-end latency from the farmer's message to the expert's page
arriving at the API (p50/p99).

    uv run python bench/webhook_end_to_end.py [--messages 10000] [--farmers 2000]
        [--connections 4] [--workers 4] [--api-delay 0] [--deliverers 16]
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fake_wechat_server  # noqa: E402
from bench.push_mix import PLACES, WORDS, signed  # noqa: E402
from bench.webhook_load import free_port, seed_county, wait_up  # noqa: E402

ANSWERS = ["叶子背面有白点", "跳过", "今天更多了", "好的", "下午能来吗", "谢谢"]


def farmer_scripts(farmers: int, messages: int, rng: random.Random) -> list[tuple[str, str]]:
    """(openid, words) in sending order; each farmer's messages keep their order."""
    scripts = {
        f"o-e2e-{n:05d}": collections.deque(
            [f"{rng.choice(WORDS)} 我是{rng.choice(PLACES)}的"]
            + [rng.choice(ANSWERS) for _ in range(messages // farmers + 1)]
        )
        for n in range(farmers)
    }
    order: list[tuple[str, str]] = []
    openids = list(scripts)
    while len(order) < messages:
        openid = rng.choice(openids)
        if scripts[openid]:
            order.append((openid, scripts[openid].popleft()))
    return order


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def send_all(
    base: str, order: list[tuple[str, str]], connections: int, rng: random.Random
) -> tuple[dict[int, float], list[float], int, int]:
    """Send every message 1–3 times; return first-send times, latencies, pushes, errors."""
    work: queue.Queue[tuple[str, str, int] | None] = queue.Queue(maxsize=connections * 4)
    first_sent: dict[int, float] = {}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        http = requests.Session()
        while (item := work.get()) is not None:
            openid, words, msg_id = item
            query, body = signed(words, openid, msg_id)
            started = time.perf_counter()
            with lock:
                first_sent.setdefault(msg_id, time.time())
            try:
                ok = http.post(f"{base}/wechat", params=query, data=body, timeout=15).ok
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - started)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    pushes = 0
    for msg_id, (openid, words) in enumerate(order, start=10**12):
        for _ in range(rng.choice((1, 1, 2, 3))):  # WeChat sends a message up to 3 times
            work.put((openid, words, msg_id))
            pushes += 1
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    return first_sent, latencies, pushes, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--farmers", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--api-delay", type=float, default=0.0)
    parser.add_argument("--deliverers", type=int, default=16)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench_e2e"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; {args.messages} messages from {args.farmers}"
        f" farmers, {args.workers} workers, API answering after {args.api_delay} s"
    )
    folder = Path(tempfile.mkdtemp(prefix="farmhelp-e2e-"))
    env = seed_county(args.database, args.redis, folder)
    api_port, web_port = free_port(), free_port()
    env.update(
        WECHAT_API_BASE_URL=f"http://127.0.0.1:{api_port}/cgi-bin/",
        FARMHELP_DELIVERERS=str(args.deliverers),
        PYTHONPATH=str(ROOT),
    )
    logs = (folder / "processes.log").open("ab")
    api = fake_wechat_server.spawn(api_port, args.api_delay)
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", str(args.workers)]
    web = subprocess.Popen(
        [*gunicorn, "-b", f"127.0.0.1:{web_port}", "--log-level", "warning", "bot:create_app()"],
        env=env,
        cwd=ROOT,
        stderr=logs,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "scheduler"],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=logs,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        wait_up(base, web, "/healthz")
        for n in range(4):  # the county's experts go on duty, as they would by writing 值班
            query, body = signed("值班", f"e-load-{n}", 10**11 + n)
            assert requests.post(f"{base}/wechat", params=query, data=body, timeout=15).ok
        rng = random.Random(7)
        order = farmer_scripts(args.farmers, args.messages, rng)
        started = time.monotonic()
        first_sent, latencies, pushes, errors = send_all(base, order, args.connections, rng)
        took = time.monotonic() - started
        print(
            f"sent {pushes} pushes ({len(first_sent)} distinct messages) in {took:.0f} s:"
            f" {pushes / took:.1f} pushes/s, reply p50 {percentile(latencies, 0.5) * 1000:.1f} ms"
            f" p99 {percentile(latencies, 0.99) * 1000:.1f} ms, {errors} error answers"
        )
        drained = wait_for_drain(args.database, timeout=600)
        received = requests.get(f"http://127.0.0.1:{api_port}/received", timeout=30).json()
        check(args.database, first_sent, received, drained)
    finally:
        for process in (scheduler, web, api):
            process.terminate()
            process.wait(timeout=30)


def wait_for_drain(database: str, timeout: float) -> bool:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(database, autocommit=True) as db:
        while time.monotonic() < deadline:
            (waiting,) = db.execute(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_try_at <= now()"
                " OR claimed_by IS NOT NULL"
            ).fetchone() or (0,)
            if waiting == 0:
                return True
            time.sleep(1)
    return False


def check(
    database: str, first_sent: dict[int, float], received: list[dict[str, object]], drained: bool
) -> None:
    import psycopg

    with psycopg.connect(database) as db:
        stored = collections.Counter(
            int(msg_id)
            for (msg_id,) in db.execute(
                "SELECT wechat_msg_id FROM message WHERE direction = 'in' AND channel = 'push'"
            )
        )
        (orphans,) = db.execute(
            "SELECT count(*) FROM help_request r WHERE NOT EXISTS (SELECT 1 FROM message m"
            " WHERE m.request_id = r.id AND m.direction = 'in')"
        ).fetchone() or (0,)
        (requests_,) = db.execute("SELECT count(*) FROM help_request").fetchone() or (0,)
        sent_rows = db.execute(
            "SELECT o.openid, o.payload, o.purpose, o.created_at, o.request_id FROM outbox o"
            " WHERE o.status = 'sent'"
        ).fetchall()
        statuses = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        page_origin = dict(
            db.execute(
                "SELECT o.id, min(m.wechat_msg_id) FROM outbox o JOIN message m"
                " ON m.request_id = o.request_id AND m.direction = 'in'"
                " AND m.created_at = o.created_at WHERE o.purpose = 'page' GROUP BY o.id"
            )
        )
        page_rows = dict(
            db.execute(
                "SELECT id, openid || ' ' || (payload->'text'->>'content') FROM outbox"
                " WHERE purpose = 'page' AND status = 'sent'"
            )
        )
    missing = [m for m in first_sent if stored[m] == 0]
    doubled = [m for m, n in stored.items() if n > 1]
    expected = collections.Counter(
        f"{openid} {payload.get('text', {}).get('content') or payload.get('data', '')}"
        for openid, payload, *_ in sent_rows
    )
    arrived = collections.Counter(f"{item['to']} {item['text']}" for item in received)
    twice = sum(n - 1 for key, n in arrived.items() if n > expected.get(key, 0))
    lost = sum(n - arrived.get(key, 0) for key, n in expected.items() if n > arrived.get(key, 0))
    arrival: dict[str, float] = {}
    for item in received:
        arrival.setdefault(f"{item['to']} {item['text']}", float(str(item["at"])))
    end_to_end = [
        arrival[key] - first_sent[int(page_origin[row_id])]
        for row_id, key in page_rows.items()
        if key in arrival and row_id in page_origin and int(page_origin[row_id]) in first_sent
    ]
    print(
        f"stored: {len(first_sent) - len(missing)} of {len(first_sent)} distinct messages,"
        f" {len(doubled)} stored twice; {requests_} requests, {orphans} without their message"
    )
    print(
        f"outbox {'drained' if drained else 'NOT drained'}: {dict(statuses)};"
        f" {sum(expected.values())} sent, {sum(arrived.values())} received by the API,"
        f" {twice} received twice, {lost} sent but not received"
    )
    if end_to_end:
        print(
            f"end to end (message -> page at the API) for {len(end_to_end)} pages:"
            f" p50 {statistics.median(end_to_end) * 1000:.0f} ms"
            f" p99 {percentile(end_to_end, 0.99) * 1000:.0f} ms"
        )
    ok = not missing and not doubled and not orphans and drained and not twice and not lost
    print("all checks passed" if ok else "CHECKS FAILED")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
