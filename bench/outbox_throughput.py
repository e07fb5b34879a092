"""Outbox delivery throughput: 20,000 queued messages (an advisory to a county) to a fake
WeChat API that answers in 100 ms, with 1, 4 and 16 deliverers.

For each count the outbox is filled afresh and the deliverers run for --seconds; the
rate is what reached the API in that time. With --drain the last count also sends
everything that is left. Every message carries its outbox id; the fake API counts
how often it saw each one, and a message seen twice is reported.

    uv run python bench/outbox_throughput.py [--database postgresql://…/farmhelp_bench_outbox]
        [--messages 20000] [--seconds 20] [--counts 1,4,16] [--drain]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAKE_API = r"""
import collections, logging, sys, threading, time
from flask import Flask, jsonify, request
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from werkzeug.serving import make_server
seen = collections.Counter()
lock = threading.Lock()
app = Flask("fake")
@app.post("/cgi-bin/stable_token")
def token():
    return jsonify(access_token="bench-token", expires_in=7200)
@app.post("/cgi-bin/message/custom/send")
def send():
    time.sleep(0.1)
    body = request.get_json()
    with lock:
        seen[body["text"]["content"]] += 1
    return jsonify(errcode=0, errmsg="ok")
@app.get("/counts")
def counts():
    with lock:
        return jsonify(total=sum(seen.values()), twice=sum(1 for n in seen.values() if n > 1))
@app.post("/reset")
def reset():
    with lock:
        seen.clear()
    return jsonify(ok=True)
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench_outbox"
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--counts", default="1,4,16")
    parser.add_argument("--drain", action="store_true", help="with the last count, send everything")
    args = parser.parse_args()

    import psycopg
    import requests
    from sqlalchemy import delete, insert

    from bot.wechat.api import WeChatAPI
    from handlers.config import Policy
    from models.db import make_engine, session_scope
    from models.migrate import upgrade_database
    from models.outbox import lane_of
    from models.tables import AccessToken, Outbox, utcnow
    from scheduler.delivery import DeliveryPool
    from scheduler.runtime import JobContext

    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    name = args.database.rsplit("/", 1)[1]
    with psycopg.connect(re.sub(r"/[^/]+$", "/postgres", args.database), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(args.database, pool_size=40, max_overflow=10)
    upgrade_database(engine)
    port = 18000 + os.getpid() % 1000
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE_API, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert fake.stdout is not None and fake.stdout.readline().strip() == "ready"
    base = f"http://127.0.0.1:{port}"
    api = WeChatAPI(
        base_url=f"{base}/cgi-bin/",
        app_id="wxbench",
        app_secret="bench-secret-000000",
        engine=engine,
    )
    context = JobContext(
        engine=engine,
        wechat=api,
        media_dir=Path(tempfile.mkdtemp()),
        config=Policy(),
        holder="bench",
    )
    results: dict[int, float] = {}
    try:
        counts = [int(c) for c in args.counts.split(",")]
        for index, count in enumerate(counts):
            requests.post(f"{base}/reset", timeout=5)
            now = utcnow()
            with session_scope(engine) as session:
                session.execute(delete(Outbox))
                session.execute(delete(AccessToken))
                rows = [
                    {
                        "openid": f"o-bench-{n % 2000:05d}",
                        "lane": lane_of(f"o-bench-{n % 2000:05d}"),
                        "kind": "custom",
                        "payload": {"msgtype": "text", "text": {"content": f"advisory #{n}"}},
                        "purpose": "advisory",
                        "status": "pending",
                        "attempts": [],
                        "next_try_at": now,
                        "created_at": now,
                    }
                    for n in range(args.messages)
                ]
                session.execute(insert(Outbox), rows)
            pool = DeliveryPool(context, count)
            started = time.monotonic()
            pool.start()
            drain = args.drain and index == len(counts) - 1
            while True:
                time.sleep(0.5)
                done = requests.get(f"{base}/counts", timeout=5).json()["total"]
                elapsed = time.monotonic() - started
                if (not drain and elapsed >= args.seconds) or done >= args.messages:
                    break
            pool.stop(timeout=5)
            seen = requests.get(f"{base}/counts", timeout=5).json()
            rate = seen["total"] / elapsed
            results[count] = rate
            print(
                f"{count:2d} deliverers: {seen['total']:6d} sent in {elapsed:5.1f} s"
                f" = {rate:6.1f}/s,"
                f" sent twice: {seen['twice']}"
            )
        if 1 in results and max(results) != 1:
            print(
                f"speed-up of {max(results)} deliverers over 1:"
                f" {results[max(results)] / results[1]:.1f}x"
            )
    finally:
        fake.terminate()
        fake.wait()
        engine.dispose()


if __name__ == "__main__":
    main()
