"""The webhook's work per push in one process and one thread: time and SQL statements.

Sends the same text mix as bench/webhook_load.py through Flask's test client (no
network, no gunicorn) against PostgreSQL, counts the SQL statements each push runs,
and prints the median time and the mean CPU time (of this process: the app and the
test client) per push and per kind of push; --profile adds the top of
a cProfile by cumulative time.

    uv run python bench/webhook_profile.py [--pushes 2000] [--profile]
        [--database postgresql://postgres@127.0.0.1:5432/farmhelp_bench_profile]
        [--redis redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push_mix import Mix, kind, signed  # noqa: E402
from bench.webhook_load import seed_county  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", help="with --profile: also write the raw profile to this file")
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench_profile"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="'' for none")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    folder = Path(tempfile.mkdtemp(prefix="farmhelp-profile-"))
    env = seed_county(args.database, args.redis or None, folder)
    os.environ.update(env)
    from bot import create_app
    from bot.database import get_engine

    app = create_app()
    gc.freeze()  # as deploy/gunicorn.conf.py does before forking the workers
    client = app.test_client()
    with app.app_context():
        engine = get_engine()
    statements, transactions = [0], [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: object) -> None:
        statements[0] += 1

    @event.listens_for(engine, "begin")
    def count_transaction(*_args: object) -> None:
        transactions[0] += 1

    redis_calls = redis_commands_counter(args.redis)

    mix = Mix(seed=3)

    def push() -> tuple[str, float, float, int]:
        content, openid, msg_id = mix.next()
        query, body = signed(content, openid, msg_id)
        before = statements[0]
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post("/wechat", query_string=query, data=body)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert response.status_code == 200, response.status_code
        return kind(content, openid), took, cpu, statements[0] - before

    for _ in range(200):  # warm up: compiled statements, caches, first farmers
        push()
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
    by_kind: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    before = (statements[0], transactions[0], redis_calls())
    if profiler:
        profiler.enable()
    for _ in range(args.pushes):
        label, took, cpu, count_ = push()
        by_kind[label].append((took, cpu, count_))
        by_kind["all"].append((took, cpu, count_))
    if profiler:
        profiler.disable()
    after = (statements[0], transactions[0], redis_calls())
    each = [(b - a) / args.pushes for a, b in zip(before, after, strict=True)]
    for label in ("all", "first words", "follow-up", "expert command"):
        rows = by_kind[label]
        took = statistics.median(t for t, _, _ in rows) * 1000
        cpu = statistics.mean(c for _, c, _ in rows) * 1000
        print(
            f"{label:15} {len(rows):5} pushes  median {took:5.1f} ms, CPU mean {cpu:5.2f} ms"
            f"  statements median {statistics.median(n for _, _, n in rows):4.0f}"
            f" mean {statistics.mean(n for _, _, n in rows):5.1f}"
        )
    print(
        f"round trips a push: {each[0] + 2 * each[1]:.2f} to the database"
        f" ({each[0]:.2f} statements, {each[1]:.2f} transactions begun and ended),"
        f" {each[2]:.2f} to Redis"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        if args.dump:
            profiler.dump_stats(args.dump)


def redis_commands_counter(url: str) -> Callable[[], int]:
    """Commands Redis has run so far (all clients; the counting call itself left out)."""
    if not url:
        return lambda: 0
    import redis

    client = redis.Redis.from_url(url)
    calls = [0]

    def count() -> int:
        stats = client.info("commandstats")
        calls[0] += 1
        return sum(int(entry["calls"]) for entry in stats.values()) - calls[0]

    return count


if __name__ == "__main__":
    sys.exit(main())
