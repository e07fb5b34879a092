"""How fast the staff console answers on a county's or a province's data (PostgreSQL).

Seeds a throwaway PostgreSQL database with a year of requests ending now (200,000 by
default; a province of ~15 counties: --requests 1000000 --messages 10000000), their
messages, the search index, farmers (one for every three requests, half with a phone,
a fifth with a name), an expert for every 2,000 requests (at least 20), and the
offers, visits and surveys of the handled requests. Then times the real console
pages through the app, signed in as a coordinator: the filtered request list,
searches by code (with and without its letter), by part of a phone and by a Chinese
phrase, a request's page, the farmer list, the experts page with each expert's load,
the dashboard, a farmer's conversation, the monthly report (last month's, from the
snapshot the nightly job stores; the job is run and timed first), an expert's service
record, and an expert's workbench page, each run many times; prints the median and
the 95th percentile.

    uv run python bench/console_queries.py [--requests 200000] [--messages 2000000]
        [--database postgresql://postgres@127.0.0.1:5432/farmhelp_bench] [--runs 30]

The database named by --database is dropped and created again.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CROPS = [
    "玉米",
    "小麦",
    "水稻",
    "辣椒",
    "番茄",
    "黄瓜",
    "苹果",
    "柑橘",
    "生猪",
    "牛",
    "羊",
    "鸡",
    "草鱼",
]
SYMPTOMS = [
    "叶子发黄",
    "有斑点",
    "卷叶",
    "烂根",
    "长虫子",
    "不吃食",
    "拉稀",
    "发烧",
    "掉果",
    "枯萎",
    "白粉",
]
PLACES = [
    "木鱼镇石坝村",
    "木鱼镇马园村",
    "城关镇东河村",
    "乔庄镇新华村",
    "竹园镇太平村",
    "沙州镇青龙村",
]
DIAGNOSES = [
    "炭疽病，喷苯醚甲环唑",
    "缺钾，追施钾肥",
    "蚜虫，喷吡虫啉",
    "根腐病，灌根",
    "霜霉病，喷烯酰吗啉",
]
FILLERS = ["怎么办", "咋回事", "急", "请专家看看", "去年也这样", "打了药没用", "麻烦了", "好多棵"]
CATEGORIES = ["plant_protection", "cultivation", "soil_fertilizer", "livestock", "aquaculture"]
LIST = "/console/requests"
STATUSES = ["closed"] * 6 + ["visited", "accepted", "offered", "unassigned", "cancelled"]


def words(rng: random.Random) -> str:
    return "".join(
        [
            rng.choice(PLACES),
            "我家",
            rng.choice(CROPS),
            rng.choice(SYMPTOMS),
            rng.choice(SYMPTOMS),
            rng.choice(FILLERS),
        ]
    )


def seed(url: str, requests: int, messages: int, *, search_index: bool = True) -> None:
    import psycopg

    from models.db import make_engine
    from models.migrate import upgrade_database
    from models.search import terms_of

    admin_url = re.sub(r"/[^/]+$", "/postgres", url)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(url)
    upgrade_database(engine)
    engine.dispose()
    rng = random.Random(2026)
    # A year's requests, evenly spread, the last of them now; a province's experts
    # (about one for every 2,000 requests a year).
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    step = timedelta(days=365) / requests
    farmers = max(requests // 3, 1)
    experts = max(20, requests // 2000)
    with psycopg.connect(url) as db, db.cursor() as cursor:
        started = time.monotonic()
        with cursor.copy(
            "COPY farmer (id, openid, subscribed, created_at, phone, name, last_message_at)"
            " FROM STDIN"
        ) as copy:
            for n in range(1, farmers + 1):
                phone = f"13{rng.randint(0, 999_999_999):09d}" if n % 2 else None
                name = (
                    f"{rng.choice('张王李赵刘陈杨黄')}{rng.choice('大爷大姐叔婶')}"
                    if n % 5 == 0
                    else None
                )
                last = now - timedelta(minutes=rng.randint(0, 400 * 24 * 60))
                copy.write_row((n, f"o-bench-{n:07d}", True, start, phone, name, last))
        with cursor.copy(
            "COPY expert (id, openid, name, team, specialties, crops, regions, leader, active,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, experts + 1):
                copy.write_row(
                    (
                        n,
                        f"e-bench-{n}",
                        f"专家{n}",
                        f"服务队{n % 4}",
                        f'["{CATEGORIES[n % 5]}"]',
                        "[]",
                        "[]",
                        False,
                        True,
                        start,
                        start,
                    )
                )
        texts: list[str] = []
        handled: list[tuple[int, int, str]] = []  # (request, expert, status)
        with cursor.copy(
            "COPY help_request (id, code, farmer_id, status, text, crop, category, symptoms,"
            " urgency, place, questions_asked, created_at, updated_at, confirmed_at, expert_id,"
            " routing, indexed_at, visit_record, visited_at) FROM STDIN"
        ) as copy:
            for n in range(1, requests + 1):
                text = words(rng)
                texts.append(text)
                at = start + step * n
                status = rng.choice(STATUSES)
                served = status in ("closed", "visited", "accepted")
                expert = rng.randint(1, experts) if served else None
                if expert is not None:
                    handled.append((n, expert, status))
                copy.write_row(
                    (
                        n,
                        f"B{n:06d}",
                        rng.randint(1, farmers),
                        status,
                        text,
                        rng.choice(CROPS),
                        rng.choice(CATEGORIES),
                        "[]",
                        rng.choice(["normal"] * 8 + ["urgent", "low"]),
                        rng.choice(PLACES),
                        "[]",
                        at,
                        at,
                        at,
                        expert,
                        "{}",
                        at + timedelta(seconds=1),
                        rng.choice(DIAGNOSES) if status in ("closed", "visited") else None,
                        at + timedelta(days=1) if status in ("closed", "visited") else None,
                    )
                )
        if search_index:
            with cursor.copy("COPY search_term (term, request_id) FROM STDIN") as copy:
                for n, text in enumerate(texts, start=1):
                    for term in terms_of(text):
                        copy.write_row((term, n))
        with cursor.copy(
            "COPY message (direction, channel, openid, farmer_id, request_id, msg_type, content,"
            " payload, status, created_at)"
            " FROM STDIN"
        ) as copy:
            for n in range(messages):
                request_id = n % requests + 1
                at = start + step * request_id + timedelta(seconds=n // requests)
                inbound = n % 2 == 0
                copy.write_row(
                    (
                        "in" if inbound else "out",
                        "push" if inbound else "passive",
                        f"o-bench-{request_id % farmers + 1:07d}",
                        request_id % farmers + 1,
                        request_id,
                        "text",
                        texts[request_id - 1] if inbound else "已补充到求助。",
                        "{}",
                        "handled" if inbound else "replied",
                        at,
                    )
                )
        # The offers, visits and surveys of the handled requests, their latest ending now
        # (the experts page reads this week's and this month's).
        with cursor.copy(
            "COPY offer (request_id, expert_id, status, reason, offered_at, deadline_at,"
            " answered_at) FROM STDIN"
        ) as copy:
            for request_id, expert, _status in handled:
                at = start + step * request_id
                answered = at + timedelta(minutes=rng.randint(1, 90))
                copy.write_row(
                    (request_id, expert, "accepted", "bench", at, at + timedelta(hours=2), answered)
                )
        with cursor.copy(
            "COPY request_event (request_id, at, actor, from_status, to_status, note) FROM STDIN"
        ) as copy:
            for request_id, expert, status in handled:
                if status == "accepted":
                    continue
                at = start + step * request_id + timedelta(days=1)
                copy.write_row(
                    (request_id, at, f"expert:e-bench-{expert}", "accepted", "visited", "")
                )
        with cursor.copy(
            "COPY survey (request_id, farmer_id, expert_id, state, step, due_at, unclear,"
            " solved, rating, created_at, reopened) FROM STDIN"
        ) as copy:
            for request_id, expert, status in handled:
                if status != "closed":
                    continue
                at = start + step * request_id + timedelta(days=2)
                solved = rng.choice(["yes", "yes", "yes", "partly", "no"])
                copy.write_row(
                    (request_id, request_id % farmers + 1, expert, "answered", "done", at, 0,
                     solved, rng.randint(2, 5), at, False)
                )  # fmt: skip
        # One open request offered to an expert, whose workbench page is timed.
        assert requests >= 123457, "the benchmark times request 123457's pages"
        cursor.execute(
            "INSERT INTO offer (request_id, expert_id, status, reason, offered_at, deadline_at)"
            " VALUES (123457, 1, 'pending', 'bench', now(), now() + interval '1 day')"
        )
        cursor.execute("UPDATE help_request SET status = 'offered' WHERE id = 123457")
        for table in ("farmer", "expert", "help_request", "message"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        db.commit()
    # Freshly copied tables have no visibility map yet; autovacuum builds it in
    # production, and index-only scans of the search index depend on it.
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
        print(
            f"seeded {requests:,} requests, {messages:,} messages"
            f" in {time.monotonic() - started:.0f} s"
        )


def measure(url: str, runs: int) -> None:
    from click.testing import CliRunner

    from bot import create_app
    from bot.cli import main
    from bot.settings import load_settings

    os.environ["FARMHELP_DATABASE_URL"] = url
    result = CliRunner().invoke(
        main,
        ["staff", "add", "bench", "--role", "coordinator", "--password-stdin"],
        input="bench-password-0\n",
    )
    assert result.exit_code == 0 or "exists already" in result.output, result.output
    instance = Path(tempfile.mkdtemp())
    app = create_app(load_settings(database_url=url, instance_dir=instance))
    gc.freeze()  # as deploy/gunicorn.conf.py does before forking the workers
    client = app.test_client()
    login = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    client.post(
        "/console/login",
        data={"username": "bench", "password": "bench-password-0", "csrf_token": token},
    )
    from sqlalchemy import text
    from sqlmodel import Session

    from handlers.notify import workbench_link
    from models.tables import Expert, HelpRequest

    with Session(app.extensions["farmhelp.engine"]) as db:
        expert, offered = db.get(Expert, 1), db.get(HelpRequest, 123457)
        assert expert is not None and offered is not None
        link = workbench_link(app.extensions["farmhelp.policy"], expert=expert, request=offered)
        phones = db.exec(  # type: ignore[call-overload]
            text("SELECT phone FROM farmer WHERE phone IS NOT NULL ORDER BY id LIMIT 1 OFFSET 777")
        ).one()
        whole_phone = phones[0]
        phone_part = whole_phone[-6:]
    today = datetime.now(UTC)
    last_month = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    from scheduler.report import store_last_month

    started = time.perf_counter()
    engine, county = app.extensions["farmhelp.engine"], app.extensions["farmhelp.policy"]
    store_last_month(engine=engine, policy=county, now=today)
    print(
        f"the nightly monthly_report job (last month's report and page snapshot):"
        f" {time.perf_counter() - started:.1f} s"
    )
    workbench = app.test_client()
    workbench.get(link.removeprefix(app.extensions["farmhelp.policy"].public_url.rstrip("/")))
    pages = {
        "filtered list (status + category)": f"{LIST}?status=closed&category=plant_protection",
        "filtered list, page 40": f"{LIST}?status=closed&category=plant_protection&page=40",
        "Chinese search 叶子发黄": "/console/requests?q=叶子发黄",
        "Chinese search 马园村 + 生猪 filter": "/console/requests?q=马园村&crop=生猪",
        "a request's page": "/console/requests/B123457",
        "search by code B123457": "/console/requests?q=B123457",
        "search by code without letter 123457": "/console/requests?q=123457",
        "search by part of a phone": f"/console/requests?q={phone_part}",
        "search by a whole phone": f"/console/requests?q={whole_phone}",
        "farmer list": "/console/farmers",
        "farmer list, search by phone": f"/console/farmers?q={phone_part}",
        "experts page with load": "/console/experts",
        "dashboard (busiest and idle)": "/console/",
        "a farmer's conversation": "/console/farmers/778",
        "monthly report (last month)": f"/console/reports?month={last_month}",
        "an expert's service record (quarter)": "/console/experts/1/record",
    }
    clients = {name: client for name in pages}
    pages["workbench page with similar cases"] = "/w/r/B123457"
    clients["workbench page with similar cases"] = workbench
    print(f"{'page':40} {'median':>9} {'p95':>9}  (ms, {runs} runs each)")
    for name, path in pages.items():
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            response = clients[name].get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        timings.sort()
        p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
        print(f"{name:40} {statistics.median(timings):9.1f} {p95:9.1f}")
    app.extensions["farmhelp.engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    if not args.no_seed:
        seed(args.database, args.requests, args.messages)
    measure(args.database, args.runs)


if __name__ == "__main__":
    main()
