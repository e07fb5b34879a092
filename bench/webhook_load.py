"""The full webhook under load, against a bare Flask + wechatpy echo bot, same run.

Both run under gunicorn with the same settings (deploy/gunicorn.conf.py: the app
preloaded and its heap frozen before forking; --workers, default 4); farmhelp on
PostgreSQL + Redis with a small county on duty. A realistic text mix from 2,000
farmers (first messages, follow-ups and answers, WeChat-style retries of the same
MsgId, expert commands) is sent over --connections concurrent connections for
--seconds each; prints throughput, p50/p99 latency, error answers and the ratio.
With --api-delay N a `farmhelp scheduler` runs alongside, delivering the pages the
load causes to a fake WeChat API that answers after N seconds. With --floor a third
server runs in the same way: the floor bot (see FLOOR_BOT), for how far farmhelp's
own work is from the least its guarantees cost. With --cpu each server's line is
followed by the CPU time a push cost in its gunicorn processes, in PostgreSQL, in
Redis and in the load client, and how idle the machine was (Linux: read from /proc).

    uv run python bench/webhook_load.py [--seconds 20] [--connections 4] [--workers 4]
        [--database postgresql://postgres@127.0.0.1:5432/farmhelp_bench_load]
        [--redis redis://127.0.0.1:6379/14] [--api-delay 3] [--floor] [--cpu] [--rounds 3]

With --rounds N the servers take turns N times and each ratio is the median of the
rounds' ratios: a shared machine's speed drifts by tens of percent over minutes, which
one run of each server in sequence reads as a difference between them.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import fake_wechat_server
import requests
from push_mix import TOKEN, Mix, signed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ECHO_BOT = """
from flask import Flask, request
from wechatpy import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

app = Flask("echo")


@app.post("/wechat")
def wechat():
    args = request.args
    check_signature("{token}", args["signature"], args["timestamp"], args["nonce"])
    message = parse_message(request.get_data())
    words = getattr(message, "content", "") or ""
    return TextReply(content="收到：" + words, message=message).render()
"""
# With --floor: the least any webhook must do for farmhelp's guarantees (refuse a
# replayed nonce, lock the sender so their pushes are handled one at a time, find a
# retry's stored reply, store the message with its reply before answering), written
# as three plain SQL statements in one transaction on the same tables and driver.
# What farmhelp spends beyond it is understanding, routing, paging and the ORM.
FLOOR_BOT = """
import hashlib
import json

import redis
from flask import Flask, request
from sqlalchemy import create_engine, text
from wechatpy import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

app = Flask("floor")
engine = create_engine("{database}")
nonces = redis.Redis.from_url("{redis}")
LOCK = text(
    "INSERT INTO farmer (openid, advisories, subscribed, created_at, last_message_at)"
    " VALUES (:openid, true, true, now(), now()) ON CONFLICT (openid)"
    " DO UPDATE SET last_message_at = excluded.last_message_at RETURNING id"
)
STATE = text(
    "SELECT farmer.id, (SELECT reply_body FROM message WHERE dedupe_key = :key) AS stored,"
    " (SELECT id FROM help_request WHERE farmer_id = :farmer AND status <> 'closed'"
    " ORDER BY id DESC LIMIT 1) AS open_request FROM farmer WHERE id = :farmer"
)
STORE = text(
    "INSERT INTO message (direction, channel, openid, farmer_id, msg_type, content,"
    " wechat_msg_id, dedupe_key, payload, reply_body, status, created_at) VALUES"
    " ('in', 'push', :openid, :farmer, 'text', :content, :msg_id, :key, :payload, :body,"
    " 'handled', now()), ('out', 'passive', :openid, :farmer, 'text', :reply, NULL, NULL,"
    " '{{}}', NULL, 'replied', now())"
)


@app.post("/wechat")
def wechat():
    args = request.args
    check_signature("{token}", args["signature"], args["timestamp"], args["nonce"])
    body = request.get_data()
    digest = hashlib.sha256(body).hexdigest()
    nonce = "floor:" + args["timestamp"] + ":" + args["nonce"]
    if not nonces.set(nonce, digest, nx=True, ex=660) and nonces.get(nonce) != digest.encode():
        return "replayed", 403
    message = parse_message(body)
    key = "msg:" + str(message.id)
    with engine.begin() as db:
        farmer = db.execute(LOCK, dict(openid=message.source)).scalar_one()
        state = db.execute(STATE, dict(key=key, farmer=farmer)).one()
        if state.stored is not None:
            return state.stored
        reply = "收到：" + message.content
        body = TextReply(content=reply, message=message).render()
        db.execute(STORE, dict(
            openid=message.source, farmer=farmer, content=message.content,
            msg_id=str(message.id), key=key, payload=json.dumps(dict(Content=message.content)),
            body=body, reply=reply,
        ))
    return body
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hammer(
    base: str, seconds: float, connections: int, seed: int, farmers: str = ""
) -> dict[str, float]:
    mix = Mix(seed, farmers)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        http = requests.Session()
        while time.monotonic() < deadline:
            content, openid, msg_id = mix.next()
            query, body = signed(content, openid, msg_id)
            started = time.perf_counter()
            try:
                response = http.post(f"{base}/wechat", params=query, data=body, timeout=10)
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors[0],
        "count": len(latencies),
    }


CPU_PARTS = ("server", "PostgreSQL", "Redis", "load client")


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU seconds used so far by the server's gunicorn processes, PostgreSQL, Redis,
    this load client, and the machine's idle time (per core), read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(CPU_PARTS, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if server in (int(entry.name), int(fields[1])):
            used["server"] += seconds
        elif name.startswith("postgres"):
            used["PostgreSQL"] += seconds
        elif name.startswith("redis-server"):
            used["Redis"] += seconds
    times = os.times()
    used["load client"] = times.user + times.system
    machine = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    used["idle"] = (int(machine[4]) + int(machine[5])) / ticks / (os.cpu_count() or 1)
    return used


def cpu_line(before: dict[str, float], after: dict[str, float], pushes: float) -> str:
    """What one push cost each part, in CPU milliseconds, and how idle the machine was."""
    spent = {part: (after[part] - before[part]) / pushes * 1000 for part in CPU_PARTS}
    wall = after["wall"] - before["wall"]
    idle = (after["idle"] - before["idle"]) / wall
    return (
        "          CPU a push: "
        + ", ".join(f"{part} {spent[part]:.2f} ms" for part in CPU_PARTS)
        + f" (total {sum(spent.values()):.2f} ms); machine idle {idle:.0%}"
    )


def wait_up(base: str, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            requests.get(base + path, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or the workers still booting
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def seed_county(database: str, redis_url: str | None, folder: Path) -> dict[str, str]:
    """A fresh database with four experts on duty; returns the server's environment."""
    import psycopg
    import redis
    from click.testing import CliRunner

    from bot.cli import main as cli

    name = database.rsplit("/", 1)[1]
    with psycopg.connect(re.sub(r"/[^/]+$", "/postgres", database), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARMHELP_", "WECHAT_"))}
    env.update(
        FARMHELP_DATABASE_URL=database,
        FARMHELP_INSTANCE_DIR=str(folder),
        FARMHELP_SECRET_KEY="bench-secret-key-0123456789",
        WECHAT_TOKEN=TOKEN,
        WECHAT_APP_ID="wxbench",
        WECHAT_APP_SECRET="bench-app-secret-000",
        WECHAT_API_BASE_URL="http://127.0.0.1:9/cgi-bin/",  # a scheduler runs only with --api-delay
    )
    if redis_url:
        redis.Redis.from_url(redis_url).flushdb()
        env["FARMHELP_REDIS_URL"] = redis_url
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    experts = folder / "experts.csv"
    experts.write_text(
        "name,openid,phone,team,specialties,crops,regions\n"
        + "".join(
            f"专家{n},e-load-{n},1380000000{n},植保队,病虫害;栽培管理;畜牧兽医;水产,,青川县\n"
            for n in range(4)
        ),
        encoding="utf-8",
    )
    assert CliRunner().invoke(cli, ["experts", "import", str(experts)], env=env).exit_code == 0
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--rounds",
        type=lambda text: max(1, int(text)),
        default=1,
        help="run every server this many times in turn and print each round's ratios and"
        " their median (a shared machine's speed drifts over minutes)",
    )
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench_load"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--api-delay",
        type=float,
        default=None,
        help="also run `farmhelp scheduler` against a fake WeChat API answering after this"
        " many seconds (the pages and replies the load causes go out meanwhile)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the floor bot: the least a webhook with farmhelp's guarantees"
        " must do (nonce, sender lock, retry look-up, message and reply stored), as three"
        " plain SQL statements",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also print the CPU time a push cost in the server, PostgreSQL, Redis and"
        " the load client (Linux)",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    folder = Path(tempfile.mkdtemp(prefix="farmhelp-load-"))
    env = seed_county(args.database, args.redis, folder)
    helpers: list[subprocess.Popen[bytes]] = []
    if args.api_delay is not None:
        api_port = free_port()
        env["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{api_port}/cgi-bin/"
        helpers.append(fake_wechat_server.spawn(api_port, args.api_delay))
        helpers.append(
            subprocess.Popen(
                [sys.executable, "-c", "from bot.cli import main; main()", "scheduler"],
                env={**env, "PYTHONPATH": str(ROOT)},
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        print(f"farmhelp scheduler running; the WeChat API answers after {args.api_delay} s")
    (folder / "echo.py").write_text(ECHO_BOT.replace("{token}", TOKEN), encoding="utf-8")
    servers = [("farmhelp", "bot:create_app()", "/healthz"), ("echo bot", "echo:app", "/")]
    if args.floor:
        floor = FLOOR_BOT.format(
            token=TOKEN,
            redis=args.redis,
            database=re.sub(r"^postgresql:", "postgresql+psycopg:", args.database),
        )
        (folder / "floor.py").write_text(floor, encoding="utf-8")
        servers.append(("floor bot", "floor:app", "/"))
    rounds: list[dict[str, dict[str, float]]] = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {number} of {args.rounds}")
        rounds.append(run_round(servers, args, env, folder, number))
    for helper in helpers:
        helper.terminate()
        helper.wait(timeout=30)
    pairs = [("farmhelp", "echo bot")]
    if args.floor:
        pairs += [("floor bot", "echo bot"), ("farmhelp", "floor bot")]
    for top, bottom in pairs:
        ratios = [r[top]["rate"] / r[bottom]["rate"] for r in rounds]
        line = f"{top} / {bottom}: {statistics.median(ratios):.0%}"
        if len(ratios) > 1:
            line += " (median of rounds: " + ", ".join(f"{x:.0%}" for x in ratios) + ")"
        print(line)


def run_round(
    servers: list[tuple[str, str, str]],
    args: argparse.Namespace,
    env: dict[str, str],
    folder: Path,
    number: int,
) -> dict[str, dict[str, float]]:
    """Start each server in turn, load it for --seconds, print its line; return them.

    Each server in each round sends new messages (its own MsgIds, from its own farmers):
    repeating another's would be WeChat retrying them, answered from what was stored."""
    results = {}
    for index, (label, app, check) in enumerate(servers):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",  # preload, and the heap frozen before forking, for every server
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--chdir",
                str(ROOT if label == "farmhelp" else folder),
                app,
            ],
            env={**env, "PYTHONPATH": str(ROOT)},
        )
        try:
            wait_up(f"http://127.0.0.1:{port}", process, check)
            # Every server its own messages and farmers (the warm-up's farmers go on
            # writing): they share the database, and the floor bot would otherwise find
            # farmhelp's stored replies and answer them as retries.
            warm_up, measured = 1000 * number + 10 * index + 1, 1000 * number + 10 * index + 2
            farmers = f"{number}-{index}-"
            hammer(f"http://127.0.0.1:{port}", 3, args.connections, warm_up, farmers)
            before = {**cpu_seconds(process.pid), "wall": time.monotonic()} if args.cpu else {}
            results[label] = hammer(
                f"http://127.0.0.1:{port}", args.seconds, args.connections, measured, farmers
            )
            after = {**cpu_seconds(process.pid), "wall": time.monotonic()} if args.cpu else {}
        finally:
            process.terminate()
            process.wait(timeout=30)
        r = results[label]
        print(
            f"{label:9} {r['rate']:7.1f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms"
            f"  errors {r['errors']:.0f} of {r['count']:.0f}"
        )
        if args.cpu:
            print(cpu_line(before, after, r["count"]))
    return results


if __name__ == "__main__":
    main()
