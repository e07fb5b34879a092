"""Fuzzing every page of the console, the workbench and the request link: whatever the
path, query and form carry, the answer is never a 500 (nor an unhandled exception).
Bounded (a few hundred requests) so CI stays quick."""

from __future__ import annotations

import collections
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from bot.settings import Settings
from handlers.notify import request_link, workbench_link
from models.tables import Expert, HelpRequest, utcnow
from tests.bot.test_console import PEPPER, sign_in
from tests.wechat_client import FakeWeChat, post

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same 400 requests in every run: CI never depends on luck
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Every name a page reads from its query or form (see bot/web/params.py for their types).
NAMES = [
    "page", "expert", "from", "to", "status", "urgency", "category", "sort", "crop", "place",
    "team", "q", "reveal", "play", "expert_id", "reason", "text", "specialties", "crops",
    "regions", "name", "phone", "leader", "active", "broadcast", "week", "start", "end",
    "month", "last", "alert", "title", "body", "township", "village", "everyone",
    "submission", "username", "password", "role", "kind", "x", "sig", "action", "action_id",
    "other", "mode", "when", "diagnosis", "advice", "product0", "dose0", "interval0",
]  # fmt: skip
ACTIONS = ["accept", "decline", "book", "message", "prescribe", "invite", "consult_note", "??"]
HOSTILE = [
    "a\x00b", "²", "١٢", "99999999999999999999", "9223372036854775808", "2147483648", "-1",
    "0", "abc", "0001-01-01", "9999-12-31", "2026-13-45", "0001-01-01T00:00",
    "9999-12-31T23:59", "2026-02-30 09:00", "13月1日 9点", "0000-01", "9999-12", "x" * 5000,
    "辣" * 300, "", " ", "<script>", "=1+1", "%s%n", "{0}", "1", "A1000",
]  # fmt: skip
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
)
path_values = st.one_of(st.sampled_from(["1", "2", "A1000", "A1001"]), values)


def pages(app: Flask) -> list[tuple[str, str, list[str]]]:
    """(method, rule, its path parameters) for every page but sign-in and sign-out."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/console", "/w/", "/r/")):
            continue
        if rule.endpoint in ("console.static", "console.login", "console.logout"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            found.append((method, rule.rule, list(rule.arguments)))
    return found


def fill(rule: str, chosen: dict[str, str]) -> str:
    path = rule
    for name, value in chosen.items():
        for converter in ("", "int:"):
            path = path.replace(f"<{converter}{name}>", quote(value, safe=""))
    return path


@pytest.fixture
def visitors(
    settings: Settings,
    make_app: Any,
    plain_wechat: FakeWeChat,
    cli_env: dict[str, str],
    county: None,
) -> tuple[Flask, FlaskClient, FlaskClient, str]:
    """The app without CSRF (to reach the views), an admin, an expert on the workbench,
    and a request's signed link."""
    from tests.bot.test_console import add_staff

    app = make_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    farmer = app.test_client()
    post(farmer, plain_wechat, plain_wechat.text("farmer-f", PEPPER))
    add_staff(cli_env, "admin1", "admin")
    admin = app.test_client()
    assert sign_in(admin, "admin1").status_code == 302
    with Session(app.extensions["farmhelp.engine"]) as db:
        wang = db.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        found = db.exec(select(HelpRequest)).one()
        link = workbench_link(settings.policy(), expert=wang, request=found)
        shared = request_link(settings.policy(), found, utcnow())
    expert = app.test_client()
    expert.get(link.removeprefix(settings.public_url))
    return app, admin, expert, shared.removeprefix(settings.public_url)


def test_no_page_answers_500_to_hostile_input(
    visitors: tuple[Flask, FlaskClient, FlaskClient, str],
) -> None:
    app, admin, expert, shared = visitors
    routes = pages(app)
    assert len(routes) > 30
    answers: collections.Counter[int | str] = collections.Counter()

    @FUZZ
    @given(
        route=st.sampled_from(routes),
        path=st.dictionaries(st.sampled_from(["code", "farmer_id", "media_id", "expert_id",
                                              "team_id", "shift_id", "staff_id", "fmt", "month",
                                              "advisory_id", "token"]), path_values),
        fields=st.dictionaries(st.sampled_from(NAMES), values, max_size=6),
        action=st.sampled_from(ACTIONS),
        anonymous=st.booleans(),
    )  # fmt: skip
    def one_request(
        route: tuple[str, str, list[str]],
        path: dict[str, str],
        fields: dict[str, str],
        action: str,
        anonymous: bool,
    ) -> None:
        method, rule, arguments = route
        url = fill(rule, {name: path.get(name, "1") for name in arguments})
        who = app.test_client() if anonymous else (expert if rule.startswith("/w/") else admin)
        if rule.startswith("/w/r/") and method == "POST":
            fields = {**fields, "action": action}
        if rule.startswith("/r/") and not fields:
            url = shared
        if method == "GET":
            response = who.get(url, query_string=fields or None)
        else:
            response = who.post(url, data=fields)
        signed_out = response.status_code == 302 and "/login" in response.headers["Location"]
        answers["sign-in" if signed_out else response.status_code] += 1
        assert response.status_code < 500, (method, url, fields, response.status_code)

    one_request()
    print(f"\nanswers by status: {dict(answers)}")
    # Most requests reached a view, not only the sign-in page or the workbench's gate.
    reached = sum(answers.values()) - answers["sign-in"] - answers[403]
    assert reached >= sum(answers.values()) // 2, answers


def test_three_hostile_requests_without_signing_in_get_clear_answers(app: Flask) -> None:
    client = app.test_client()
    token = client.get("/console/login").get_data(as_text=True)
    csrf = token.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    login = client.post(
        "/console/login", data={"username": "a\x00b", "password": "x", "csrf_token": csrf}
    )
    assert login.status_code == 400 and "无效字符" in login.get_data(as_text=True)
    assert client.get("/r/A1000?x=%C2%B2&sig=00").status_code in (403, 404)
    assert client.get("/w/media/99999999999999999999").status_code == 404


def test_a_nul_in_a_filter_is_refused_not_sent_to_the_database(
    visitors: tuple[Flask, FlaskClient, FlaskClient, str],
) -> None:
    _app, admin, _expert, _shared = visitors
    for url in ("/console/requests?crop=a%00b", "/console/requests/export.csv?q=%00"):
        answer = admin.get(url)
        assert answer.status_code == 400 and "无效字符" in answer.get_data(as_text=True)
    assert admin.get("/console/requests?from=0001-01-01&to=9999-12-31").status_code == 200
    assert admin.get("/console/reports?month=9999-12").status_code == 200
    assert admin.get("/console/rota?week=9999-12-31").status_code == 200
