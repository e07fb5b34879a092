"""How long a year's service records and scores take for every expert of a province.

Seeds the console benchmark's PostgreSQL database (200,000 requests, 2,000,000
messages; bench/console_queries.py), then gives it 500 experts and what their year
leaves behind: an accepted offer for every request an expert took, a declined one for
one in ten, the booking and the visit of every visited request, remote advice and
consultation notes, and a survey for every visit. Then it computes the seeded year's
service records and scores of all 500 experts (handlers/service_record.py), as the
report's ranking does, several times, and prints the time.

    uv run python bench/service_records.py [--requests 200000] [--messages 2000000]
        [--database postgresql://postgres@127.0.0.1:5432/farmhelp_bench] [--runs 5]
        [--no-seed]

The database named by --database is dropped and created again (unless --no-seed).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

EXPERTS = 500


def add_service(url: str) -> None:
    """500 experts and a year of offers, events and surveys on the seeded requests."""
    import psycopg

    rng = random.Random(2025)
    started = time.monotonic()
    with psycopg.connect(url) as db, db.cursor() as cursor:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        cursor.execute("SELECT max(id) FROM expert")
        seeded = cursor.fetchone()[0] or 0  # type: ignore[index]
        with cursor.copy(
            "COPY expert (id, openid, name, team, specialties, crops, regions, leader, active,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(seeded + 1, EXPERTS + 1):
                copy.write_row(
                    (n, f"e-bench-{n}", f"专家{n}", f"服务队{n % 40}", '["plant_protection"]',
                     "[]", "[]", False, True, start, start)
                )  # fmt: skip
        cursor.execute("SELECT id, status, farmer_id, created_at FROM help_request")
        requests = cursor.fetchall()
        taken = [
            (i, s, f, at) for i, s, f, at in requests if s in ("closed", "visited", "accepted")
        ]
        experts = {i: rng.randint(1, EXPERTS) for i, *_ in taken}
        cursor.executemany(
            "UPDATE help_request SET expert_id = %s WHERE id = %s",
            [(e, i) for i, e in experts.items()],
        )
        with cursor.copy(
            "COPY offer (request_id, expert_id, status, reason, offered_at, deadline_at,"
            " answered_at) FROM STDIN"
        ) as copy:
            for request_id, _status, _farmer, at in taken:
                if rng.random() < 0.1:
                    other = rng.randint(1, EXPERTS)
                    copy.write_row((request_id, other, "declined", "不在附近", at, at, at))
                answered = at + timedelta(minutes=rng.randint(1, 120))
                copy.write_row((request_id, experts[request_id], "accepted", "", at, at, answered))
        with cursor.copy(
            "COPY request_event (request_id, at, actor, from_status, to_status, note) FROM STDIN"
        ) as copy:
            for request_id, status, _farmer, at in taken:
                actor = f"expert:e-bench-{experts[request_id]}"
                if rng.random() < 0.1:
                    copy.write_row((request_id, at + timedelta(hours=2), actor, "accepted",
                                    "accepted", "电话指导"))  # fmt: skip
                if rng.random() < 0.05:
                    colleague = f"expert:e-bench-{rng.randint(1, EXPERTS)}"
                    copy.write_row((request_id, at + timedelta(hours=3), colleague, "accepted",
                                    "accepted", "会诊：同意"))  # fmt: skip
                if status in ("closed", "visited"):
                    copy.write_row((request_id, at + timedelta(hours=4), actor, "accepted",
                                    "visit_booked", "预约 01-02 09:00"))  # fmt: skip
                    copy.write_row((request_id, at + timedelta(days=1), actor, "visit_booked",
                                    "visited", "缺钾，追施钾肥"))  # fmt: skip
        with cursor.copy(
            "COPY survey (request_id, farmer_id, expert_id, state, step, due_at, unclear,"
            " solved, rating, created_at) FROM STDIN"
        ) as copy:
            for request_id, status, farmer_id, at in taken:
                if status not in ("closed", "visited"):
                    continue
                solved = rng.choice(["yes", "yes", "yes", "partly", "no", None])
                rating = rng.randint(1, 5) if solved else None
                visited = at + timedelta(days=1)
                copy.write_row((request_id, farmer_id, experts[request_id], "answered", "done",
                                visited, 0, solved, rating, visited))  # fmt: skip
        db.commit()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
    print(f"added {EXPERTS} experts and a year of service in {time.monotonic() - started:.0f} s")


def measure(url: str, runs: int) -> None:
    from zoneinfo import ZoneInfo

    from sqlmodel import Session

    from handlers.scores import ScoreRule, ranking
    from handlers.service_record import read_period
    from models.db import make_engine

    engine = make_engine(url)
    tz = ZoneInfo("Asia/Shanghai")
    # The seeded year: the 365 days up to today.
    today = datetime.now(tz).date()
    period = read_period(f"{today - timedelta(days=365)}..{today}", tz, today=today)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        with Session(engine) as session:
            ranked = ranking(session, period, ScoreRule())
        timings.append(time.perf_counter() - started)
    visits = sum(len(line.record.visits) for line in ranked)
    print(
        f"a year's service records and scores of {len(ranked)} experts"
        f" ({visits:,} visits): median {statistics.median(timings):.2f} s,"
        f" slowest {max(timings):.2f} s over {runs} runs (target < 5 s)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    if not args.no_seed:
        from console_queries import seed

        seed(args.database, args.requests, args.messages)
        add_service(args.database)
    measure(args.database, args.runs)


if __name__ == "__main__":
    main()
