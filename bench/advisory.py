"""A county-wide advisory to 100,000 farmers: the preview, the send, and delivery.

Seeds a throwaway PostgreSQL database with one county (15 townships of 20 villages),
four experts on duty, 100,000 farmers who follow the account and wrote (two in five
inside the 48 h window), 10,000 who unfollowed or replied 退订, and 250,000 earlier
requests. Then runs the production shape: farmhelp under gunicorn (4 workers) with
Redis, one `farmhelp scheduler` (its deliverers), and a fake WeChat API answering
every send after --api-delay seconds. A steady stream of farmers' messages
(--rate a second: first messages that page an expert, follow-ups, retries, expert
commands) goes to the webhook throughout, and its reply times are kept per phase.

Signed in to the console as a coordinator, the benchmark times the preview (the count
of farmers reached: everyone, and one township's wheat growers), then sends the
advisory to everyone and times the send (all 100,000 outbox rows written). Then it
watches delivery for --watch seconds: advisories sent a second, and how long each
page to an expert waited in the outbox meanwhile (urgent pages go first).

    uv run python bench/advisory.py [--farmers 100000] [--rate 20] [--api-delay 0.05]
        [--watch 60] [--database postgresql://postgres@127.0.0.1:5432/farmhelp_bench_advisory]
        [--redis redis://127.0.0.1:6379/14]

The database named by --database is dropped and created again.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fake_wechat_server  # noqa: E402
from push_mix import Mix, signed  # noqa: E402
from webhook_load import free_port, seed_county, wait_up  # noqa: E402

TOWNSHIPS = [f"{name}镇" for name in "东西南北中上下前后左右新老大小"]
VILLAGES = [f"{name}村" for name in "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"]
CROPS = ["小麦", "玉米", "水稻", "辣椒", "苹果", "生猪"]


def seed_farmers(env: dict[str, str], folder: Path, farmers: int) -> None:
    """The county's places, its farmers and their earlier requests (COPY)."""
    import psycopg
    from click.testing import CliRunner

    from bot.cli import main as cli

    places = folder / "places.csv"
    places.write_text(
        "county,township,village\n"
        + "".join(f"青川县,{t},{t[:-1]}{v}\n" for t in TOWNSHIPS for v in VILLAGES),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["places", "import", str(places)], env=env)
    assert result.exit_code == 0, result.output
    rng = random.Random(7)
    now = datetime.now(UTC)
    started = time.monotonic()
    with psycopg.connect(env["FARMHELP_DATABASE_URL"]) as db, db.cursor() as cursor:
        where: list[str] = []
        with cursor.copy(
            "COPY farmer (id, openid, subscribed, advisories, created_at, last_message_at,"
            " place) FROM STDIN"
        ) as copy:
            for n in range(1, farmers + farmers // 10 + 1):
                township = rng.choice(TOWNSHIPS)
                place = f"{township}{township[:-1]}{rng.choice(VILLAGES)}"
                where.append(place)
                inside = rng.random() < 0.4  # wrote in the last 48 hours
                wrote = now - (
                    timedelta(hours=rng.uniform(0, 40))
                    if inside
                    else timedelta(days=rng.uniform(3, 300))
                )
                gone = n > farmers  # the last tenth unfollowed or replied 退订
                subscribed, advisories = (not gone or n % 2 == 0), not gone
                copy.write_row((n, f"o-adv-{n:07d}", subscribed, advisories, wrote, wrote, place))
        with cursor.copy(
            "COPY help_request (code, farmer_id, status, text, crop, category, symptoms,"
            " urgency, place, questions_asked, created_at, updated_at, routing) FROM STDIN"
        ) as copy:
            for n in range(1, int(farmers * 2.5) + 1):
                farmer = rng.randint(1, len(where))
                crop = rng.choice(CROPS)
                at = now - timedelta(days=rng.uniform(1, 365))
                copy.write_row(
                    (f"Z{n:07d}", farmer, "closed", f"{crop}叶子发黄", crop, "plant_protection",
                     "[]", "normal", where[farmer - 1], "[]", at, at, "{}")
                )  # fmt: skip
        for table in ("farmer", "help_request"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        db.commit()
    with psycopg.connect(env["FARMHELP_DATABASE_URL"], autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
    print(
        f"seeded {farmers:,} farmers who follow, {farmers // 10:,} who do not,"
        f" {int(farmers * 2.5):,} requests in {time.monotonic() - started:.0f} s"
    )


class Stream:
    """Farmers' messages to the webhook at a steady rate, reply times kept per phase."""

    def __init__(self, base: str, rate: float) -> None:
        self.base, self.rate = base, rate
        self.phase = "before"
        self.times: dict[str, list[float]] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        mix = Mix(seed=11)
        http = requests.Session()
        due = time.monotonic()
        while not self._stop.is_set():
            due += 1 / self.rate
            content, openid, msg_id = mix.next()
            query, body = signed(content, openid, msg_id)
            phase = self.phase
            started = time.perf_counter()
            try:
                answer = http.post(f"{self.base}/wechat", params=query, data=body, timeout=10)
                ok = answer.status_code == 200
            except requests.RequestException:
                ok = False
            took = (time.perf_counter() - started) * 1000
            with self._lock:
                self.times.setdefault(phase, []).append(took)
                self.errors += not ok
            self._stop.wait(max(0.0, due - time.monotonic()))

    def line(self, phase: str) -> str:
        with self._lock:
            times = sorted(self.times.get(phase, []))
        if not times:
            return f"webhook {phase:32} no pushes"
        p99 = times[max(0, int(len(times) * 0.99) - 1)]
        return (
            f"webhook {phase:32} {len(times):5} pushes  p50 {statistics.median(times):6.1f} ms"
            f"  p99 {p99:6.1f} ms  max {times[-1]:6.1f} ms"
        )


def signed_in(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The app as the console's coordinator sees it, and a test client signed in."""
    from click.testing import CliRunner

    from bot import create_app
    from bot.cli import main as cli

    result = CliRunner().invoke(
        cli,
        ["staff", "add", "bench", "--role", "coordinator", "--password-stdin"],
        input="bench-password-0\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    os.environ.update(env)
    app = create_app()
    client = app.test_client()
    client.get("/console/login")
    token = re.search(  # type: ignore[union-attr]
        r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True)
    ).group(1)
    client.post(
        "/console/login",
        data={"username": "bench", "password": "bench-password-0", "csrf_token": token},
    )
    return app, client


def preview(client, form: dict[str, str]) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    page = client.get("/console/advisories").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    started = time.perf_counter()
    response = client.post("/console/advisories/preview", data={**form, "csrf_token": token})
    took = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return took, response.get_data(as_text=True)


def outbox_counts(url: str) -> dict[tuple[str, str], int]:
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute("SELECT purpose, status, count(*) FROM outbox GROUP BY 1, 2").fetchall()
    return {(purpose, status): count for purpose, status, count in rows}


def queued_at(url: str) -> bool:
    """Whether every advisory sent has all its outbox rows written."""
    import psycopg

    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT count(*) FROM advisory WHERE sent_at IS NOT NULL AND queued_at IS NULL"
        ).fetchone()
    return row is not None and row[0] == 0


def page_waits(url: str, since: datetime, until: datetime | None = None) -> list[float]:
    """Seconds each page to an expert queued in that time waited until it was sent."""
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT extract(epoch FROM sent_at - created_at) FROM outbox"
            " WHERE purpose = 'page' AND created_at >= %s AND created_at < %s"
            " AND sent_at IS NOT NULL",
            (since, until or datetime.now(UTC)),
        ).fetchall()
    return sorted(float(wait) for (wait,) in rows)


def waits_line(label: str, waits: list[float]) -> str:
    if not waits:
        return f"pages to experts {label}: none sent"
    return (
        f"pages to experts {label}: {len(waits)} sent, waited median"
        f" {statistics.median(waits):.2f} s, p95 {waits[max(0, int(len(waits) * 0.95) - 1)]:.2f} s,"
        f" max {waits[-1]:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--farmers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20, help="webhook pushes a second")
    parser.add_argument("--api-delay", type=float, default=0.05)
    parser.add_argument("--watch", type=float, default=60)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/farmhelp_bench_advisory"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    folder = Path(tempfile.mkdtemp(prefix="farmhelp-advisory-"))
    env = seed_county(args.database, args.redis, folder)
    env.update(WECHAT_TEMPLATE_ADVISORY="TPL-BENCH-ADVISORY", FARMHELP_LOG_LEVEL="WARNING")
    seed_farmers(env, folder, args.farmers)
    api_port, web_port = free_port(), free_port()
    env["WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{api_port}/cgi-bin/"
    run_env = {**env, "PYTHONPATH": str(ROOT)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    api = fake_wechat_server.spawn(api_port, args.api_delay)
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py")]
    web = subprocess.Popen(
        [
            *gunicorn,
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{web_port}",
            "--log-level",
            "warning",
            "bot:create_app()",
        ],
        env=run_env,
        cwd=ROOT,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "scheduler"],
        env=run_env,
        cwd=ROOT,
        **quiet,  # type: ignore[arg-type]
    )
    stream = Stream(f"http://127.0.0.1:{web_port}", args.rate)
    try:
        wait_up(f"http://127.0.0.1:{web_port}", web, "/healthz")
        print(f"gunicorn (4 workers), one scheduler, a WeChat API answering in {args.api_delay} s")
        _app, client = signed_in(env)
        streamed = datetime.now(UTC)
        stream.start()
        time.sleep(15)
        print(stream.line("before"))

        advisory = {
            "title": "小麦条锈病预警",
            "body": "近期多地发现条锈病，发病初期每亩用 15% 三唑酮 60 克兑水 30 公斤喷雾。",
        }
        everyone = {**advisory, "everyone": "on"}
        for label, form in (
            ("everyone", everyone),
            ("东镇's wheat growers", {**advisory, "crop": "小麦", "township": "东镇"}),
        ):
            timings = []
            for _ in range(5):
                took, page = preview(client, form)
                timings.append(took)
            count = re.search(r"将发给\D*([\d,]+)", page)
            print(
                f"preview ({label}): {count.group(1) if count else '?'} farmers,"
                f" median {statistics.median(timings) * 1000:.0f} ms,"
                f" slowest {max(timings) * 1000:.0f} ms of 5"
            )

        _took, page = preview(client, everyone)
        form = {
            name: value
            for name, value in re.findall(r'name="([a-z_]+)" value="([^"]*)"', page)
            if name in ("csrf_token", "submission", "title", "body", "everyone")
        }
        form.update(everyone)
        stream.phase = "while it is queued"
        started = time.perf_counter()
        sent_at = datetime.now(UTC)
        response = client.post("/console/advisories/send", data=form)
        answered = time.perf_counter() - started
        assert response.status_code == 302, response.status_code
        while not queued_at(env["FARMHELP_DATABASE_URL"]):
            time.sleep(0.1)
        enqueue_seconds = time.perf_counter() - started
        stream.phase = "while the advisory goes out"
        counts = outbox_counts(env["FARMHELP_DATABASE_URL"])
        queued = sum(n for (purpose, _status), n in counts.items() if purpose == "advisory")
        print(
            f"send: the page answered in {answered:.2f} s; all {queued:,} outbox rows"
            f" written {enqueue_seconds:.1f} s after the click"
        )
        print(stream.line("while it is queued"))

        watched = time.monotonic()
        delivered_before = counts.get(("advisory", "sent"), 0)
        time.sleep(args.watch)
        counts = outbox_counts(env["FARMHELP_DATABASE_URL"])
        delivered = counts.get(("advisory", "sent"), 0) - delivered_before
        rate = delivered / (time.monotonic() - watched)
        print(
            f"delivery: {delivered:,} advisories sent in {args.watch:.0f} s ({rate:.1f} a second;"
            f" {counts.get(('advisory', 'held'), 0):,} held for the farmer's next message)"
        )
        print(stream.line("while the advisory goes out"))
        url = env["FARMHELP_DATABASE_URL"]
        print(waits_line("before the send", page_waits(url, streamed, sent_at)))
        print(waits_line("after it", page_waits(url, sent_at)))
        print(f"pages to experts not sent yet: {counts.get(('page', 'pending'), 0)}")
        print(f"webhook errors: {stream.errors}")
    finally:
        stream.stop()
        for process in (scheduler, web, api):
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
