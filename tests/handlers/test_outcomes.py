"""Treatments that worked: a set time after the visit the farmer is asked how it is now,
once, out of quiet hours, held while WeChat's window is closed; the answer is the
treatment's verified outcome and changes how similar cases rank."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers.outcomes import read_outcome, treatment_results
from models.similar import similar_solved
from models.tables import Farmer, HelpRequest, Outbox, Survey, TreatmentCheck, utcnow
from scheduler.outbox import deliver_outbox
from scheduler.outcomes import send_due_checks
from tests.bot.test_console_ahead import staff_client
from tests.bot.test_workbench import accept_form, ask
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, words)))


def treated(client: FlaskClient, wechat: FakeWeChat, farmer: str, record: str) -> str:
    """A pepper request, accepted and visited by 王植保; its code."""
    found = re.search(r"[A-Z]\d{4}", say(client, wechat, farmer, PEPPER))
    assert found is not None
    code = found.group()
    assert "已接单" in say(client, wechat, "exp-wang", f"接单 {code}")
    assert "已记录" in say(client, wechat, "exp-wang", f"完成 {code} {record}")
    return code


def settle_surveys(engine: Engine) -> None:
    """The visits' surveys answered "solved" (the question waits while one is open)."""
    with Session(engine) as session:
        session.execute(update(Survey).values(state="answered", solved="yes"))
        session.commit()


def check_of(engine: Engine, code: str) -> TreatmentCheck:
    with Session(engine) as session:
        request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        return session.exec(
            select(TreatmentCheck).where(TreatmentCheck.request_id == request.id)
        ).one()


def last_wrote(engine: Engine, openid: str, when: object) -> None:
    with Session(engine) as session:
        session.execute(
            update(Farmer).where(col(Farmer.openid) == openid).values(last_message_at=when)
        )
        session.commit()


def questions(engine: Engine, openid: str) -> list[Outbox]:
    return [r for r in rows(engine, Outbox) if r.openid == openid and r.purpose == "outcome"]


def test_the_question_goes_once_at_its_time_and_the_answer_is_kept(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, county: None
) -> None:
    policy = settings.policy()
    visited = utcnow()
    code = treated(client, plain_wechat, "farmer-o", "炭疽病，喷苯醚甲环唑，安全间隔期 7 天")
    settle_surveys(engine)
    check = check_of(engine, code)
    assert check.state == "scheduled"
    assert check.due_at >= visited + timedelta(days=7)
    assert policy.out_of_quiet_hours(check.due_at) == check.due_at  # never at night
    assert send_due_checks(engine=engine, policy=policy, now=check.due_at - timedelta(hours=1)) == 0
    last_wrote(engine, "farmer-o", check.due_at - timedelta(hours=2))  # window open
    assert send_due_checks(engine=engine, policy=policy, now=check.due_at) == 1
    assert send_due_checks(engine=engine, policy=policy, now=check.due_at) == 0  # once
    (asked,) = questions(engine, "farmer-o")
    assert asked.status == "pending" and "现在怎么样了" in asked.payload["text"]["content"]
    assert "王植保专家" in asked.payload["text"]["content"]
    assert check_of(engine, code).state == "sent"
    reply = say(client, plain_wechat, "farmer-o", "好多了，斑点少了")
    assert "好一些" in reply and code in reply
    answered = check_of(engine, code)
    assert (answered.state, answered.outcome, answered.words) == (
        "answered",
        "better",
        "好多了，斑点少了",
    )


def test_outside_the_window_the_question_is_held_until_the_farmer_writes(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, county: None
) -> None:
    policy = settings.policy()
    code = treated(client, plain_wechat, "farmer-h", "缺钾，追施钾肥")
    settle_surveys(engine)
    due = check_of(engine, code).due_at
    last_wrote(engine, "farmer-h", due - timedelta(days=3))  # 48 h passed
    assert send_due_checks(engine=engine, policy=policy, now=due) == 1
    (held,) = questions(engine, "farmer-h")
    assert held.status == "held" and check_of(engine, code).state == "held"
    say(client, plain_wechat, "farmer-h", "在吗")  # the window opens: it goes out now
    (released,) = questions(engine, "farmer-h")
    assert released.status == "pending" and check_of(engine, code).state == "sent"
    assert "更重了" in say(client, plain_wechat, "farmer-h", "更重了，叶子全黄了")
    told = [
        r.payload["text"]["content"] for r in rows(engine, Outbox) if r.purpose == "outcome_told"
    ]
    assert any(t.startswith(f"【{code} 回访】农户说用药") and "更重了" in t for t in told)


def test_the_question_waits_for_the_survey_and_is_dropped_when_the_survey_reopened_it(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, county: None
) -> None:
    policy = settings.policy()
    code = treated(client, plain_wechat, "farmer-s", "缺钾，追施钾肥")
    due = check_of(engine, code).due_at
    last_wrote(engine, "farmer-s", due - timedelta(hours=1))
    assert send_due_checks(engine=engine, policy=policy, now=due) == 0  # survey still open
    waiting = check_of(engine, code)
    assert waiting.state == "scheduled" and waiting.due_at > due
    with Session(engine) as session:
        request = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        request.status = "reopened"  # the survey said "not solved"
        session.execute(update(Survey).values(state="answered", solved="no"))
        session.commit()
    assert send_due_checks(engine=engine, policy=policy, now=waiting.due_at) == 0
    assert check_of(engine, code).state == "cancelled"
    assert questions(engine, "farmer-s") == []


def test_a_verified_outcome_changes_how_similar_cases_rank_and_shows_in_the_report(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    cli_env: dict[str, str],
    county: None,
) -> None:
    policy = settings.policy()
    older = treated(client, plain_wechat, "farmer-1", "炭疽病，喷苯醚甲环唑，安全间隔期 7 天")
    newer = treated(client, plain_wechat, "farmer-2", "炭疽病，喷代森锰锌，安全间隔期 15 天")
    settle_surveys(engine)
    found = re.search(r"[A-Z]\d{4}", say(client, plain_wechat, "farmer-3", PEPPER))
    assert found is not None

    def ranking() -> list[str]:
        with Session(engine) as session:
            request = session.exec(
                select(HelpRequest).where(HelpRequest.code == found.group())
            ).one()
            return [str(c.request.code) for c in similar_solved(session, request)]

    assert ranking() == [newer, older]  # alike: the newer first
    due = max(check_of(engine, code).due_at for code in (older, newer))
    for openid in ("farmer-1", "farmer-2"):
        last_wrote(engine, openid, due - timedelta(hours=1))
    assert send_due_checks(engine=engine, policy=policy, now=due) == 2
    assert "好了" in say(client, plain_wechat, "farmer-1", "好了")
    assert "没变化" in say(client, plain_wechat, "farmer-2", "没变化")
    assert ranking() == [older, newer]  # the treatment that cured comes first
    with Session(engine) as session:
        answered = utcnow()  # the answers came now (the check's time was moved ahead)
        month = treatment_results(
            session, answered - timedelta(days=1), answered + timedelta(days=1)
        )
    assert [(t.crop, t.problem, t.treatment, t.counts) for t in month] == [
        ("辣椒", "炭疽病", "喷苯醚甲环唑", {"recovered": 1, "better": 0, "same": 0, "worse": 0}),
        ("辣椒", "炭疽病", "喷代森锰锌", {"recovered": 0, "better": 0, "same": 1, "worse": 0}),
    ]
    viewer = staff_client(app, cli_env, "v1", "viewer")
    report = viewer.get(f"/console/reports?month={answered.astimezone(policy.tz):%Y-%m}")
    shown = report.get_data(as_text=True)
    assert "用药效果" in shown and "<td>喷苯醚甲环唑</td><td>1</td>" in shown
    with Session(engine) as session:
        session.execute(update(TreatmentCheck).values(outcome="worse"))
        session.commit()
    assert ranking() == []  # treatments that made it worse are not offered


def test_answers_read_as_farmers_say_them() -> None:
    cases = {
        "好了": "recovered",
        "全好了，谢谢专家": "recovered",
        "好一些了": "better",
        "好多了": "better",
        "2": "better",
        "没变化": "same",
        "还没好": "same",
        "还是老样子": "same",
        "更重了": "worse",
        "现在好多了，斑点少了": "better",
        "不见效": "same",
        "没那么严重了": "better",
        "快好了": "better",
        "专家啥时候来": None,
        "你好": None,
        "好的": None,
        "一样的问题又来了": None,
        "玉米叶子发黄好些天了": None,
        "鸡死了三只怎么办": None,
        "虫子都死了": None,
        "23": None,
    }
    for words, outcome in cases.items():
        assert read_outcome(words) == outcome, words


def test_the_expert_sees_the_verified_outcome_on_the_case(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    code = ask(client, plain_wechat, "farmer-w", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang, form = accept_form(app, fake_api, code)
    wang.post(f"/w/r/{code}/act", data=form)
    assert "已记录" in say(client, plain_wechat, "exp-wang", f"完成 {code} 缺钾，追施钾肥")
    settle_surveys(engine)
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    assert "用药后回访" in page and "会问农户现在怎么样" in page
    due = check_of(engine, code).due_at
    last_wrote(engine, "farmer-w", due - timedelta(hours=1))
    send_due_checks(engine=engine, policy=settings.policy(), now=due)
    say(client, plain_wechat, "farmer-w", "好了，叶子不黄了")
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    assert "农户说：<b>好了</b>，“好了，叶子不黄了”" in page


def test_a_farmer_busy_with_something_else_is_not_asked_and_a_new_report_is_never_an_answer(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, county: None
) -> None:
    policy = settings.policy()
    code = treated(client, plain_wechat, "farmer-b", "缺钾，追施钾肥")
    settle_surveys(engine)
    due = check_of(engine, code).due_at
    say(client, plain_wechat, "farmer-b", "玉米叶子上有黄色的斑 石坝村")  # a new request, open
    last_wrote(engine, "farmer-b", due - timedelta(hours=1))
    assert send_due_checks(engine=engine, policy=policy, now=due) == 0  # waits
    waiting = check_of(engine, code)
    assert waiting.state == "scheduled" and waiting.due_at > due
    with Session(engine) as session:  # the new request ends
        session.execute(
            update(HelpRequest).where(col(HelpRequest.code) != code).values(status="closed")
        )
        session.commit()
    assert send_due_checks(engine=engine, policy=policy, now=waiting.due_at) == 1
    reply = say(client, plain_wechat, "farmer-b", "鸡死了三只怎么办")  # not an answer
    assert check_of(engine, code).state == "sent" and "已记下" not in reply
    with Session(engine) as session:
        assert len(session.exec(select(HelpRequest)).all()) == 3  # a request of its own


def test_a_question_held_too_long_expires_and_never_goes_out(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, county: None
) -> None:
    policy = settings.policy()
    code = treated(client, plain_wechat, "farmer-x", "缺钾，追施钾肥")
    settle_surveys(engine)
    due = check_of(engine, code).due_at
    last_wrote(engine, "farmer-x", due - timedelta(days=3))
    assert send_due_checks(engine=engine, policy=policy, now=due) == 1
    assert check_of(engine, code).state == "held"
    later = due + policy.outcome_expiry + timedelta(minutes=1)
    send_due_checks(engine=engine, policy=policy, now=later)
    assert check_of(engine, code).state == "expired"
    assert [r.status for r in questions(engine, "farmer-x")] == ["dropped"]
    say(client, plain_wechat, "farmer-x", "在吗")
    assert [r.status for r in questions(engine, "farmer-x")] == ["dropped"]  # stays unsent
