"""Sessions that end on the server, sign-in limits that hold across workers, audited
reads of personal data, and phone numbers masked however they are written."""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers.notify import request_link, workbench_link
from models.tables import (
    AuditEvent,
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Message,
    StaffSession,
    StaffUser,
    utcnow,
)
from scheduler.outbox import deliver_outbox
from tests.bot.test_console import PASSWORD, add_staff, csrf_of, sign_in
from tests.bot.test_faults import gunicorn
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.servers import server_env
from tests.wechat_client import FakeWeChat, post, reply_text

SIGNED_OUT = "/console/login"


def signed_out(client: FlaskClient) -> bool:
    answer = client.get("/console/")
    return answer.status_code == 302 and answer.headers["Location"].startswith(SIGNED_OUT)


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie("farmhelp_session")
    assert cookie is not None
    return cookie.value


def copy_with_cookie(app: Flask, cookie: str) -> FlaskClient:
    thief = app.test_client()
    thief.set_cookie("farmhelp_session", cookie)
    return thief


def actions(engine: Engine, username: str | None = None) -> list[str]:
    return [a.action for a in rows(engine, AuditEvent) if username in (None, a.username)]


def test_a_cookie_copied_before_sign_out_stops_working(
    app: Flask, cli_env: dict[str, str], engine: Engine
) -> None:
    add_staff(cli_env, "coord1", "coordinator")
    browser = app.test_client()
    assert sign_in(browser, "coord1").status_code == 302
    thief = copy_with_cookie(app, cookie_of(browser))
    assert not signed_out(thief)  # the copy works while the session lives
    token = csrf_of(browser.get("/console/requests").get_data(as_text=True))
    browser.post("/console/logout", data={"csrf_token": token})
    assert signed_out(thief) and signed_out(browser)
    assert "logout" in actions(engine, "coord1")


def test_disabling_an_account_or_a_new_password_ends_its_sessions(
    app: Flask, cli_env: dict[str, str], engine: Engine
) -> None:
    for name, role in (("admin1", "admin"), ("coord1", "coordinator"), ("viewer1", "viewer")):
        add_staff(cli_env, name, role)
    admin, coordinator, viewer = app.test_client(), app.test_client(), app.test_client()
    for client, name in ((admin, "admin1"), (coordinator, "coord1"), (viewer, "viewer1")):
        assert sign_in(client, name).status_code == 302
    with Session(engine) as session:
        staff_id = session.exec(select(StaffUser.id).where(StaffUser.username == "coord1")).one()
    token = csrf_of(admin.get("/console/staff").get_data(as_text=True))
    admin.post(f"/console/staff/{staff_id}/disable", data={"csrf_token": token})
    assert signed_out(coordinator)
    result = CliRunner().invoke(
        main, ["staff", "password", "viewer1", "--password-stdin"], env=cli_env,
        input="another-long-password\n",
    )  # fmt: skip
    assert result.exit_code == 0 and "1 open session(s) ended" in result.output
    assert signed_out(viewer)
    assert sign_in(app.test_client(), "viewer1").status_code == 200  # the old password fails
    assert sign_in(app.test_client(), "viewer1", "another-long-password").status_code == 302
    assert not signed_out(admin)


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(
    app: Flask, cli_env: dict[str, str], engine: Engine
) -> None:
    add_staff(cli_env, "viewer1", "viewer")
    viewer = app.test_client()
    assert sign_in(viewer, "viewer1").status_code == 302
    with Session(engine) as session:
        session.execute(
            update(StaffSession).values(
                created_at=utcnow() - timedelta(hours=12, minutes=1), last_seen_at=utcnow()
            )
        )
        session.commit()
    assert signed_out(viewer)


def test_reads_of_personal_data_are_audited_and_revealing_is_a_post(
    app: Flask,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    cli_env: dict[str, str],
    engine: Engine,
    settings: Settings,
    county: None,
) -> None:
    reply = reply_text(
        plain_wechat,
        post(
            client, plain_wechat, plain_wechat.text("farmer-a", "辣椒叶子发黄 石坝村 13912345678")
        ),
    )
    code = re.search(r"[A-Z]\d{4}", reply).group()  # type: ignore[union-attr]
    with Session(engine) as session:
        found = session.exec(select(HelpRequest)).one()
        farmer_id = found.farmer_id
        photo = Path(settings.media_dir) / "leaf.jpg"
        photo.parent.mkdir(parents=True, exist_ok=True)
        photo.write_bytes(b"\xff\xd8fake")
        message = session.exec(select(Message).where(Message.direction == "in")).first()
        assert message is not None
        media = MediaFile(
            media_id="m1", kind="image", request_id=found.id, status="stored",
            message_id=message.id,
            path=str(photo), content_type="image/jpeg", created_at=utcnow(),
        )  # fmt: skip
        session.add(media)
        session.commit()
        media_id = media.id
    add_staff(cli_env, "coord1", "coordinator")
    coordinator = app.test_client()
    assert sign_in(app.test_client(), "coord1", "wrong-password").status_code == 200
    assert sign_in(coordinator, "coord1").status_code == 302
    linked = coordinator.get(f"/console/requests/{code}?reveal=1").get_data(as_text=True)
    assert "13912345678" not in linked and "139****5678" in linked  # a link reveals nothing
    token = csrf_of(linked)
    revealed = coordinator.post(f"/console/requests/{code}/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200 and "13912345678" in revealed.get_data(as_text=True)
    coordinator.get(f"/console/farmers/{farmer_id}")
    coordinator.get(f"/console/media/{media_id}").close()
    coordinator.get("/console/requests/export.csv")
    done = actions(engine)
    for action in ("login_failed", "login", "read_request", "unmask", "read_farmer", "read_media",
                   "export_requests"):  # fmt: skip
        assert action in done, (action, done)
    failed = next(a for a in rows(engine, AuditEvent) if a.action == "login_failed")
    assert failed.after == {"reason": "wrong username or password"}
    ledger = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=cli_env)
    assert ledger.exit_code == 0
    assert "export_ledger" in actions(engine)


PHONES = {
    "full-width": "１３９８７６５４３２１",
    "spaced": "139 8765 4322",
    "dashed": "139-8765-4323",
    "+86": "+86 139 8765 4324",
    "dotted": "139.8765.4325",
    "landline": "0931-8123456",
    "numerals": "一三九八七六五四三二六",
}
RAW = {
    "13987654321", "13987654322", "13987654323", "13987654324", "13987654325",
    "09318123456", "13987654326",
}  # fmt: skip


def shows_a_phone(text: str) -> list[str]:
    digits = re.sub(r"[\s\-.+＋]", "", text)
    return [p for p in [*RAW, *PHONES.values()] if p in text or p in digits]


def test_phones_written_any_way_are_masked_for_those_who_may_not_see_them(
    app: Flask,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    cli_env: dict[str, str],
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
    county: None,
) -> None:
    words = "辣椒叶子发黄 石坝村 电话" + "，".join(PHONES.values())
    reply = reply_text(
        plain_wechat, post(client, plain_wechat, plain_wechat.text("farmer-m", words))
    )
    code = re.search(r"[A-Z]\d{4}", reply).group()  # type: ignore[union-attr]
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-m")).one()
        found = session.exec(select(HelpRequest)).one()
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        link = workbench_link(settings.policy(), expert=wang, request=found)
        shared = request_link(settings.policy(), found, utcnow())
    assert farmer.phone == "13987654321"  # stored as digits
    add_staff(cli_env, "viewer1", "viewer")
    viewer = app.test_client()
    assert sign_in(viewer, "viewer1").status_code == 302
    seen = {
        "request page": viewer.get(f"/console/requests/{code}").get_data(as_text=True),
        "list": viewer.get("/console/requests").get_data(as_text=True),
        "csv": viewer.get("/console/requests/export.csv").data.decode("utf-8-sig"),
        "request link": app.test_client()
        .get(shared.removeprefix(settings.public_url), follow_redirects=True)
        .get_data(as_text=True),
    }
    expert = app.test_client()
    expert.get(link.removeprefix(settings.public_url))
    seen["workbench before accepting"] = expert.get(f"/w/r/{code}").get_data(as_text=True)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    seen["page to the offered expert"] = "\n".join(fake_api.texts_to("exp-wang"))
    for where, text in seen.items():
        assert not shows_a_phone(text), (where, shows_a_phone(text))
    assert "139****4321" in seen["request page"]


def test_parallel_guesses_in_two_workers_check_five_passwords_at_most(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path / "instance")
    result = CliRunner().invoke(
        main, ["staff", "add", "coord1", "--role", "coordinator", "--password-stdin"],
        env=env, input=PASSWORD + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answers: list[str] = []
    lock = threading.Lock()
    with gunicorn(env, tmp_path / "web.log", workers=2) as (base, _master):

        def guess(number: int) -> None:
            http = requests.Session()
            token = csrf_of(http.get(f"{base}/console/login", timeout=30).text)
            page = http.post(
                f"{base}/console/login",
                data={"username": "coord1", "password": f"guess-{number}", "csrf_token": token},
                timeout=30,
            ).text
            with lock:
                answers.append("checked" if "用户名或密码不对" in page else "refused")

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    from models.db import make_engine

    engine = make_engine(database_url)
    try:
        reasons = [
            a.after["reason"] for a in rows(engine, AuditEvent) if a.action == "login_failed"
        ]  # type: ignore[index]
    finally:
        engine.dispose()
    checked, refused = answers.count("checked"), answers.count("refused")
    print(f"\n40 parallel guesses: {checked} checked, {refused} refused")
    assert answers.count("checked") == 5 and answers.count("refused") == 35
    assert reasons.count("wrong username or password") == 5


def test_a_rotated_forwarded_for_neither_escapes_the_limit_nor_spoofs_the_audit(
    settings: Settings, make_app: Any, cli_env: dict[str, str]
) -> None:
    settings.trust_proxy = True
    app = make_app(settings)
    add_staff(cli_env, "coord1", "coordinator")
    answers = []
    for number in range(22):
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"10.9.8.{number}, 203.0.113.9"
        page = sign_in(client, f"nobody-{number}", "x").get_data(as_text=True)
        answers.append("尝试次数太多" in page)
    assert answers[:20] == [False] * 20 and answers[20:] == [True, True]
    engine = app.extensions["farmhelp.engine"]
    addresses = {a.address for a in rows(engine, AuditEvent) if a.action == "login_failed"}
    assert addresses == {"203.0.113.9"}


def test_an_unknown_username_costs_the_same_check_as_a_known_one(
    app: Flask, cli_env: dict[str, str]
) -> None:
    add_staff(cli_env, "coord1", "coordinator")

    def took(username: str) -> float:
        times = []
        for attempt in range(3):
            client = app.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.1.{len(username)}.{attempt}"
            started = time.perf_counter()
            sign_in(client, username, "wrong-password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known, unknown = took("coord1"), took("no-such-person")
    print(
        f"\nwrong password: known username {known * 1000:.0f} ms, unknown {unknown * 1000:.0f} ms"
    )
    # Without the decoy check an unknown name answered ten times faster.
    assert unknown > known / 2
