"""The follow-up survey: timing, the one-digit dialogue, closing the loop."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers import texts
from handlers.config import Policy
from handlers.survey import schedule_survey
from models.tables import Farmer, HelpRequest, Offer, Outbox, Survey, utcnow
from scheduler.outbox import deliver_outbox
from scheduler.surveys import follow_up_surveys, remind_experts, send_due_surveys
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.roster import import_roster
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
TZ = ZoneInfo("Asia/Shanghai")
PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "FARMHELP_DATABASE_URL": settings.database_url,
        "FARMHELP_INSTANCE_DIR": str(settings.instance_dir),
    }


@pytest.fixture
def fast(settings: Settings, make_app: Any, cli_env: dict[str, str], tmp_path: Path) -> Any:
    """An app with a 5 s survey delay and no quiet hours, and the county's experts."""
    settings.survey_delay, settings.quiet_hours = "5s", "off"
    settings.staff_openids = "staff-1"
    import_roster(cli_env, tmp_path, utcnow())
    return make_app(settings)


@pytest.fixture
def api(engine: Engine, fake_api: FakeWeChatAPI) -> WeChatAPI:
    return WeChatAPI(
        base_url=fake_api.base_url, app_id="wx0123456789abcdef", app_secret="s", engine=engine
    )


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


def visited(client: FlaskClient, wechat: FakeWeChat, farmer: str = "farmer-s") -> str:
    code = CODE.search(say(client, wechat, farmer, PROBLEM)).group()  # type: ignore[union-attr]
    say(client, wechat, "exp-wang", f"接单 {code}")
    assert "已记录" in say(client, wechat, "exp-wang", f"完成 {code} 叶斑病，喷药")
    return code


def load(engine: Engine, model: Any) -> list[Any]:
    return rows(engine, model)


def leave_the_window(engine: Engine, openid: str = "farmer-s") -> None:
    """Make the farmer's last message three days old: outside WeChat's 48 h window."""
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == openid)).one()
        farmer.last_message_at = utcnow() - timedelta(days=3)
        session.add(farmer)
        session.commit()


def test_survey_goes_out_after_the_delay_and_answers_close_the_request(
    fast: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
    cli_env: dict[str, str],
) -> None:
    client = fast.test_client()
    code = visited(client, plain_wechat)
    policy = settings.policy()
    assert send_due_surveys(engine=engine, policy=policy, now=utcnow()) == 0  # not yet due
    later = utcnow() + timedelta(seconds=6)
    assert send_due_surveys(engine=engine, policy=policy, now=later) == 1
    deliver_outbox(engine=engine, sender=api, now=later)
    question = [t for t in fake_api.texts_to("farmer-s") if "问题解决了吗" in t]
    assert len(question) == 1
    asked, link = question[0].split("\n")
    assert asked == texts.SURVEY_SOLVED.format(code=code, name="王植保专家")
    assert link.startswith("也可以点开链接") and "/f/survey/" in link  # the one-tap page

    assert say(client, plain_wechat, "farmer-s", "1") == texts.SURVEY_RATING
    assert say(client, plain_wechat, "farmer-s", "5") == texts.SURVEY_COMMENT
    assert say(client, plain_wechat, "farmer-s", "谢谢专家") == texts.SURVEY_THANKS_COMMENT
    survey = load(engine, Survey)[0]
    assert (survey.state, survey.solved, survey.rating, survey.comment) == (
        "answered",
        "yes",
        5,
        "谢谢专家",
    )
    result = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=cli_env)
    row = json.loads(result.stdout.splitlines()[0])
    assert (row["status"], row["survey_state"], row["solved"], row["rating"], row["comment"]) == (
        "closed",
        "answered",
        "yes",
        5,
        "谢谢专家",
    )
    assert len(load(engine, HelpRequest)) == 1  # the answers opened no new request


def test_answer_3_reopens_for_a_different_expert_and_alerts_staff(
    fast: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
) -> None:
    client = fast.test_client()
    code = visited(client, plain_wechat)
    send_due_surveys(engine=engine, policy=settings.policy(), now=utcnow() + timedelta(seconds=6))
    reply = say(client, plain_wechat, "farmer-s", "3")
    assert reply.startswith(texts.SURVEY_REOPENED) and texts.SURVEY_RATING in reply
    request = load(engine, HelpRequest)[0]
    assert request.status == "offered" and request.expert_id is None
    pending = [o for o in load(engine, Offer) if o.status == "pending"]
    assert len(pending) == 1 and pending[0].expert_id != load(engine, Offer)[0].expert_id
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any(code in t for t in fake_api.texts_to("exp-zhao"))  # the next candidate
    assert any("没解决" in t and code in t for t in fake_api.texts_to("staff-1"))
    assert say(client, plain_wechat, "farmer-s", "2") == texts.SURVEY_COMMENT
    assert say(client, plain_wechat, "farmer-s", "没有") == texts.SURVEY_THANKS
    survey = load(engine, Survey)[0]
    assert (survey.solved, survey.rating, survey.comment) == ("no", 2, None)
    assert survey.reopened  # what the expert's service record counts


def test_low_rating_reopens(
    fast: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    send_due_surveys(engine=engine, policy=settings.policy(), now=utcnow() + timedelta(seconds=6))
    say(client, plain_wechat, "farmer-s", "2")
    assert texts.SURVEY_REOPENED in say(client, plain_wechat, "farmer-s", "1")
    assert load(engine, HelpRequest)[0].status == "offered"
    assert load(engine, Survey)[0].reopened  # partly solved, 1 star: reopened too


def test_unclear_answers_repeat_the_question_once(
    fast: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    send_due_surveys(engine=engine, policy=settings.policy(), now=utcnow() + timedelta(seconds=6))
    assert say(client, plain_wechat, "farmer-s", "嗯嗯") == texts.SURVEY_SOLVED_AGAIN
    assert say(client, plain_wechat, "farmer-s", "已解决") == texts.SURVEY_RATING
    assert say(client, plain_wechat, "farmer-s", "嗯嗯") == texts.SURVEY_RATING_AGAIN
    # Asked twice: the farmer is talking about something else, which opens a request.
    assert "求助编号" in say(client, plain_wechat, "farmer-s", "玉米叶子卷了")
    assert len(load(engine, HelpRequest)) == 2


def test_quiet_hours_move_a_2300_survey_to_0800(
    fast: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    settings.quiet_hours = "21:00-08:00"
    policy = settings.policy()
    client = fast.test_client()
    visited(client, plain_wechat)
    at_2300 = datetime(2026, 11, 23, 23, 0, tzinfo=TZ)
    with Session(engine) as session:
        survey = session.exec(select(Survey)).one()
        survey.due_at = at_2300  # as if the visit was recorded 24 h before 23:00
        session.add(survey)
        session.commit()
    assert send_due_surveys(engine=engine, policy=policy, now=at_2300) == 0
    survey = load(engine, Survey)[0]
    assert survey.state == "scheduled"
    assert survey.due_at.astimezone(TZ) == datetime(2026, 11, 24, 8, 0, tzinfo=TZ)
    assert (
        send_due_surveys(engine=engine, policy=policy, now=at_2300 + timedelta(hours=8, minutes=59))
        == 0
    )
    assert send_due_surveys(engine=engine, policy=policy, now=at_2300 + timedelta(hours=9)) == 1

    with Session(engine) as session:
        request = session.exec(select(HelpRequest)).one()
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-s")).one()
        planned = schedule_survey(
            session,
            request=request,
            farmer=farmer,
            policy=Policy(survey_delay=timedelta(hours=24)),
            now=datetime(2026, 11, 22, 23, 0, tzinfo=TZ),
        )
        assert planned is not None
        assert planned.due_at.astimezone(TZ) == datetime(2026, 11, 24, 8, 0, tzinfo=TZ)
        session.rollback()


def test_outside_the_window_without_template_it_waits_for_the_next_message(
    fast: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    leave_the_window(engine)
    send_due_surveys(engine=engine, policy=settings.policy(), now=utcnow() + timedelta(seconds=6))
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert not any("问题解决了吗" in t for t in fake_api.texts_to("farmer-s"))
    assert load(engine, Survey)[0].state == "held"
    reply = say(client, plain_wechat, "farmer-s", "在吗")  # not taken as an answer
    assert reply == texts.GREETING  # a greeting opens no request
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any("问题解决了吗" in t for t in fake_api.texts_to("farmer-s"))
    assert load(engine, Survey)[0].state == "sent"
    assert say(client, plain_wechat, "farmer-s", "1") == texts.SURVEY_RATING


def test_outside_the_window_a_survey_template_is_used(
    fast: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    leave_the_window(engine)
    settings.wechat_template_survey = "TPL-SURVEY"
    later = utcnow() + timedelta(seconds=6)
    send_due_surveys(engine=engine, policy=settings.policy(), now=later)
    deliver_outbox(engine=engine, sender=api, now=later)
    sent = fake_api.sent("message/template/send")
    assert sent and sent[0]["template_id"] == "TPL-SURVEY" and sent[0]["touser"] == "farmer-s"


def test_unsubscribed_farmers_get_no_survey(
    fast: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    post(client, plain_wechat, plain_wechat.event("farmer-s", "unsubscribe"))
    assert (
        send_due_surveys(
            engine=engine, policy=settings.policy(), now=utcnow() + timedelta(seconds=6)
        )
        == 0
    )
    assert load(engine, Survey)[0].state == "cancelled"


def test_one_reminder_then_expiry_closes_without_feedback(
    fast: Any, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    client = fast.test_client()
    visited(client, plain_wechat)
    policy = settings.policy()
    sent_at = utcnow() + timedelta(seconds=6)
    send_due_surveys(engine=engine, policy=policy, now=sent_at)
    surveys_out = lambda: [r for r in load(engine, Outbox) if r.purpose == "survey"]  # noqa: E731
    assert follow_up_surveys(engine=engine, policy=policy, now=sent_at + timedelta(hours=23)) == 0
    assert follow_up_surveys(engine=engine, policy=policy, now=sent_at + timedelta(hours=25)) == 1
    assert follow_up_surveys(engine=engine, policy=policy, now=sent_at + timedelta(hours=26)) == 0
    assert "提醒" in surveys_out()[-1].payload["text"]["content"] and len(surveys_out()) == 2
    follow_up_surveys(engine=engine, policy=policy, now=sent_at + timedelta(days=7, seconds=1))
    assert load(engine, Survey)[0].state == "expired"
    assert load(engine, HelpRequest)[0].status == "closed"


def test_experts_are_reminded_of_visits_and_overdue_requests(
    fast: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
) -> None:
    client = fast.test_client()
    first = CODE.search(say(client, plain_wechat, "farmer-a", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, plain_wechat, "exp-wang", f"接单 {first}")
    soon = (utcnow() + timedelta(minutes=30)).astimezone(TZ)
    say(client, plain_wechat, "exp-wang", f"预约 {first} {soon:%Y-%m-%d %H:%M}")
    second = CODE.search(say(client, plain_wechat, "farmer-b", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, plain_wechat, "exp-wang", f"接单 {second}")
    policy = settings.policy()
    assert remind_experts(engine=engine, policy=policy, now=utcnow()) == 1
    assert remind_experts(engine=engine, policy=policy, now=utcnow()) == 0  # once only
    later = utcnow() + timedelta(days=3, minutes=1)
    assert remind_experts(engine=engine, policy=policy, now=later) == 2
    deliver_outbox(engine=engine, sender=api, now=later)
    to_expert = fake_api.texts_to("exp-wang")
    assert any(first in t and f"{soon:%H:%M}" in t and "上门" in t for t in to_expert)
    assert any(second in t and "超过 3 天" in t for t in to_expert)
    assert any(second in t and "未上门" in t for t in fake_api.texts_to("staff-1"))
