"""The first real day: what a county hits in its first hours, as conversations through
the real webhook (farmers, experts and a recording fake WeChat API)."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from handlers import texts
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Offer,
    Outbox,
    Survey,
    utcnow,
)
from scheduler.intake import move_on_unanswered
from scheduler.routing import check_offer_timeouts
from scheduler.surveys import send_due_surveys
from tests.queries import rows
from tests.wechat_client import FakeWeChat, first_contact, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


def code_of(reply: str) -> str:
    found = CODE.search(reply)
    assert found is not None, reply
    return found.group()


def request_of(engine: Engine, code: str) -> HelpRequest:
    with Session(engine) as session:
        return session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()


def queued_texts(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and r.payload.get("msgtype") == "text" and r.status != "dropped"
    ]


def set_duty(engine: Engine, openid: str, state: str | None) -> None:
    with Session(engine) as session:
        expert = session.exec(select(Expert).where(Expert.openid == openid)).one()
        expert.duty_override, expert.duty_override_until = state, utcnow() + timedelta(hours=12)
        session.commit()


# 1. A relayed message goes to the farmer of the request it names.
@pytest.mark.usefixtures("county")
def test_expert_with_two_requests_relays_to_the_one_named(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    first = code_of(say(client, plain_wechat, "farmer-a", PEPPER))
    second = code_of(say(client, plain_wechat, "farmer-b", "玉米叶子上有虫子 石坝村"))
    assert "已接单" in say(client, plain_wechat, "exp-wang", f"接单 {first}")
    assert "已接单" in say(client, plain_wechat, "exp-wang", f"接单 {second}")
    named = say(client, plain_wechat, "exp-wang", f"{first} 你家辣椒是什么时候种的？")
    assert named == f"已转给 {first} 农户。"
    assert queued_texts(engine, "farmer-a")[-1] == "【王植保专家】\n｜你家辣椒是什么时候种的？"
    assert not any("什么时候种" in t for t in queued_texts(engine, "farmer-b"))
    unnamed = say(client, plain_wechat, "exp-wang", "明天上午我过去")
    assert unnamed.startswith(f"已转给 {second} 农户。") and first in unnamed  # says how
    assert queued_texts(engine, "farmer-b")[-1].endswith("｜明天上午我过去")
    assert "不在您手上" in say(client, plain_wechat, "exp-wang", "A9999 你好")


# 2. A request nobody accepted in time can still be taken.
@pytest.mark.usefixtures("county")
def test_late_accept_leader_and_coming_on_duty_take_unassigned_requests(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    for openid in ("exp-zhao",):
        set_duty(engine, openid, "off")
    code = code_of(say(client, plain_wechat, "farmer-late", PEPPER))  # offered to 王 only
    policy = settings.policy()
    check_offer_timeouts(engine=engine, config=policy, now=utcnow() + timedelta(hours=1))
    assert request_of(engine, code).status == "unassigned"
    accepted = say(client, plain_wechat, "exp-wang", f"接单 {code}")  # the late answer
    assert accepted.startswith(f"已接单 {code}")
    assert any("王植保专家接了您的求助" in t for t in queued_texts(engine, "farmer-late"))

    second = code_of(say(client, plain_wechat, "farmer-late-2", "玉米叶子上有虫子 东河村"))
    check_offer_timeouts(engine=engine, config=policy, now=utcnow() + timedelta(hours=1))
    assert request_of(engine, second).status == "unassigned"
    assert say(client, plain_wechat, "exp-liu", f"接单 {second}").startswith("已接单")  # leader

    third = code_of(say(client, plain_wechat, "farmer-late-3", "辣椒叶子有斑点 东河村"))
    check_offer_timeouts(engine=engine, config=policy, now=utcnow() + timedelta(hours=1))
    on_duty = say(client, plain_wechat, "exp-li", "值班")
    assert on_duty.startswith("已开始值班") and third in on_duty
    assert say(client, plain_wechat, "exp-li", "接单").startswith(f"已接单 {third}")
    assert any("接了您的求助" in t for t in queued_texts(engine, "farmer-late-3"))


# 3. Photos sent before anyone accepted reach the expert who accepts.
@pytest.mark.usefixtures("county")
def test_photos_before_acceptance_go_to_the_accepting_expert(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    code = code_of(say(client, plain_wechat, "farmer-photo", PEPPER))
    for n in range(2):
        post(
            client,
            plain_wechat,
            plain_wechat.message("farmer-photo", "image", PicUrl="p", MediaId=f"early-{n}"),
        )
    accepted = say(client, plain_wechat, "exp-wang", f"接单 {code}")
    assert "2 个照片/语音随后发给您" in accepted and "/w/" in accepted
    to_expert = [r.payload for r in rows(engine, Outbox) if r.openid == "exp-wang"]
    assert {"msgtype": "image", "image": {"media_id": "early-0"}} in to_expert
    assert {"msgtype": "image", "image": {"media_id": "early-1"}} in to_expert


# 4. A farmer who does not answer a question is still helped; the late answer counts.
@pytest.mark.usefixtures("county")
def test_unanswered_question_moves_on_and_the_late_answer_is_added(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings
) -> None:
    first = say(client, plain_wechat, "farmer-quiet", "辣椒叶子发黄有斑点")
    code = code_of(first)
    assert texts.QUESTIONS["place"] in first
    policy = settings.policy()
    assert move_on_unanswered(engine=engine, policy=policy, now=utcnow()) == 0  # not yet
    later = utcnow() + policy.intake_timeout + timedelta(seconds=1)
    assert move_on_unanswered(engine=engine, policy=policy, now=later) == 1
    request = request_of(engine, code)
    assert request.status == "offered"
    assert any("先按您已经说的情况联系专家" in t for t in queued_texts(engine, "farmer-quiet"))
    assert say(client, plain_wechat, "farmer-quiet", "石坝村") == f"已补充到求助 {code}。"
    assert request_of(engine, code).place == "石坝村"


# 5. Place names are not crops or animals.
@pytest.mark.usefixtures("county")
@pytest.mark.parametrize(
    ("words", "crop"),
    [("頭營鎮馬園村，我家辣交葉子上長了好多小蟲子", "辣椒"), ("牛家村的羊不吃草了", "羊")],
)
def test_place_names_are_not_read_as_crops(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, words: str, crop: str
) -> None:
    code = code_of(say(client, plain_wechat, "farmer-place", words))
    assert request_of(engine, code).crop == crop


# 6. Answers are checked against the question; greetings open nothing.
def test_answers_fill_what_they_are_about_and_greetings_open_nothing(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    assert first_contact(say(client, plain_wechat, "farmer-hi", "你好")) == texts.GREETING
    assert say(client, plain_wechat, "farmer-hi", "在吗？") == texts.GREETING
    assert rows(engine, HelpRequest) == []
    first = say(client, plain_wechat, "farmer-hi", "叶子上长了好多小虫子")
    code = code_of(first)
    assert texts.QUESTIONS["crop"] in first
    assert texts.QUESTIONS["place"] in say(client, plain_wechat, "farmer-hi", "番茄")
    say(client, plain_wechat, "farmer-hi", "我孙子的低保怎么还没下来")
    request = request_of(engine, code)
    assert request.crop == "番茄" and request.place is None

    asked = say(client, plain_wechat, "farmer-hi2", "叶子发黄有斑点 是辣椒")
    assert texts.QUESTIONS["place"] in asked
    say(client, plain_wechat, "farmer-hi2", "番茄")  # a crop, not a village
    request = request_of(engine, code_of(asked))
    assert request.place is None and request.crop == "辣椒"


# 7. Every voice note without recognised text is treated the same and kept.
def test_every_unheard_voice_note_is_asked_about_and_kept(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    replies = [
        reply_text(
            plain_wechat,
            post(
                client,
                plain_wechat,
                plain_wechat.message("farmer-voice", "voice", MediaId=f"v{n}", Format="amr"),
            ),
        )
        for n in range(3)
    ]
    for reply in replies:
        assert texts.QUESTIONS["crop_voice"] in reply
    assert "没有对口的专家" not in "".join(replies)
    assert [m.media_id for m in rows(engine, MediaFile)] == ["v0", "v1", "v2"]
    assert len({m.request_id for m in rows(engine, MediaFile)}) == 1
    assert request_of(engine, code_of(replies[0])).status == "intake"


# 8 and 9. Survey answers in words; a reopened case keeps every round.
@pytest.mark.usefixtures("county")
def test_survey_in_words_reopens_and_every_round_is_kept(
    make_app: Any,
    plain_wechat: FakeWeChat,
    engine: Engine,
    settings: Settings,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    settings.survey_delay, settings.quiet_hours = "1s", "off"
    policy = settings.policy()
    client = make_app(settings).test_client()
    code = code_of(say(client, plain_wechat, "farmer-s", PEPPER))
    say(client, plain_wechat, "exp-wang", f"接单 {code}")
    assert "已记录" in say(client, plain_wechat, "exp-wang", f"完成 {code} 诊断：缺钾，追施钾肥")
    assert any(
        "诊断和建议：缺钾，追施钾肥" in t for t in queued_texts(engine, "farmer-s")
    )  # not 诊断和建议：诊断：
    send_due_surveys(engine=engine, policy=policy, now=utcnow() + timedelta(minutes=5))
    reply = say(client, plain_wechat, "farmer-s", "没解决，叶子还在黄")
    assert reply.startswith(texts.SURVEY_REOPENED)
    assert "已记录" not in reply
    assert say(client, plain_wechat, "farmer-s", "不满意").startswith(texts.SURVEY_COMMENT)
    request = request_of(engine, code)
    assert request.status == "offered"
    told = queued_texts(engine, "exp-wang")
    assert any("回访结果：没解决" in t and "叶子还在黄" in t for t in told)
    page = [t for t in queued_texts(engine, "exp-zhao") if "【重新派单】" in t]
    assert page and "缺钾，追施钾肥" in page[0] and "叶子还在黄" in page[0]

    assert "已接单" in say(client, plain_wechat, "exp-zhao", f"接单 {code}")
    say(client, plain_wechat, "exp-zhao", f"完成 {code} 叶斑病，喷代森锰锌，安全间隔期 15 天")
    send_due_surveys(engine=engine, policy=policy, now=utcnow() + timedelta(minutes=10))
    assert say(client, plain_wechat, "farmer-s", "好多了，谢谢") == texts.SURVEY_RATING
    assert say(client, plain_wechat, "farmer-s", "很满意") == texts.SURVEY_COMMENT
    surveys = rows(engine, Survey)
    assert [(s.solved, s.rating) for s in surveys] == [("no", 2), ("partly", 5)]
    assert surveys[0].comment == "没解决，叶子还在黄" and surveys[1].comment == "好多了，谢谢"

    ledger = tmp_path / "ledger.xlsx"
    result = CliRunner().invoke(
        main, ["requests", "export", "--format", "xlsx", "--output", str(ledger)], env=cli_env
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(ledger).active
    assert sheet is not None
    header, row = (
        next(sheet.iter_rows(values_only=True)),
        list(sheet.iter_rows(values_only=True))[1],
    )
    by_name = dict(zip(header, row, strict=True))
    assert by_name["上门次数"] == 2
    assert (
        "第1次 王植保" in by_name["历次服务"]
        and "没解决 2分「没解决，叶子还在黄」" in by_name["历次服务"]
    )
    assert "第2次 赵植保" in by_name["历次服务"] and "部分解决 5分" in by_name["历次服务"]
    month = utcnow().astimezone(policy.tz).strftime("%Y-%m")
    report = CliRunner().invoke(main, ["report", "--month", month, "--format", "json"], env=cli_env)
    total = json.loads(report.stdout)["rows"][0]
    assert total["visits"] == 2 and total["expert_visits"] == 2 and total["experts"] == 2


def test_survey_words_are_understood() -> None:
    from handlers.survey import read_rating, read_solved

    assert [read_solved(w) for w in ("没解决叶子还在黄", "好多了谢谢", "解决了", "3", "嗯")] == [
        "no",
        "partly",
        "yes",
        "no",
        None,
    ]
    assert [read_rating(w) for w in ("很满意", "满意", "一般", "不满意", "很不满意", "4分")] == [
        5,
        4,
        3,
        2,
        1,
        4,
    ]


# 10. With nobody on duty the farmer hears one consistent message.
def test_nobody_on_duty_is_said_once_and_consistently(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    reply = say(client, plain_wechat, "farmer-alone", PEPPER)
    assert "现在没有在值班的对口专家" in reply and "正在联系专家" not in reply
    assert queued_texts(engine, "farmer-alone") == []


# 11. Urgent: page at once, ask afterwards; the farmer may leave a phone number.
@pytest.mark.usefixtures("county")
def test_urgent_pages_first_and_a_phone_number_reaches_the_expert(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, make_app: Any
) -> None:
    settings.staff_openids = "staff-1"
    client = make_app(settings).test_client()
    reply = say(client, plain_wechat, "farmer-pig", "猪突然死了好几头")
    code = code_of(reply)
    assert "已优先通知专家" in reply and "请保持手机畅通" not in reply
    assert "回复您的手机号" in reply and texts.QUESTIONS["place"] in reply
    assert any(o.status == "pending" for o in rows(engine, Offer))  # paged before the village
    assert say(client, plain_wechat, "farmer-pig", "李家村 电话13912345678") == (
        f"已补充到求助 {code}。"
    )
    assert request_of(engine, code).place == "李家村"
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-pig")).one()
    assert farmer.phone == "13912345678"
    accepted = say(client, plain_wechat, "exp-zhang", f"接单 {code}")
    assert "农户电话：13912345678" in accepted


@pytest.mark.usefixtures("county")
def test_staff_alerts_say_how_to_reach_the_farmer(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, settings: Settings, make_app: Any
) -> None:
    settings.staff_openids = "staff-1"
    client = make_app(settings).test_client()
    say(client, plain_wechat, "farmer-fish", "鱼塘的鱼浮头了 电话13700001111 石坝村")
    alerts = queued_texts(engine, "staff-1")
    assert alerts and "农户电话：13700001111" in alerts[0]


# 14. Template fields are cut at a character with …; what to do is behind the link.
@pytest.mark.usefixtures("county")
def test_template_fields_are_clipped_and_the_link_opens_the_workbench(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    settings.wechat_template_expert_page = "TPL"
    client = make_app(settings).test_client()
    say(client, plain_wechat, "farmer-long", "辣椒叶子烂了好多\n大片大片的发黄 石坝村 " + "很" * 40)
    page = next(r.payload for r in rows(engine, Outbox) if r.kind == "template")
    assert set(page["data"]) == {"keyword1", "keyword2", "keyword3", "keyword4"}
    for field in page["data"].values():
        assert 0 < len(field["value"]) <= 20 and "\n" not in field["value"]
    assert page["data"]["keyword4"]["value"].endswith("…")
    assert page["url"].startswith(settings.public_url + "/w/")


# 15. The small words people read.
@pytest.mark.usefixtures("county")
def test_the_small_words(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    assert say(client, plain_wechat, "exp-li", "值班").startswith("已开始值班")
    boss = tmp_path / "boss.csv"
    boss.write_text(
        "name,openid,phone,team,specialties,crops,regions,leader\n"
        "钱团长,exp-qian,13800000009,植保队,病虫害,,青川县,是\n",
        encoding="utf-8",
    )
    assert CliRunner().invoke(main, ["experts", "import", str(boss)], env=cli_env).exit_code == 0
    code = code_of(say(client, plain_wechat, "farmer-qian", PEPPER))
    say(client, plain_wechat, "exp-qian", f"接单 {code}")
    assert any("的钱团长接了" in t for t in queued_texts(engine, "farmer-qian"))
    assert not any("钱团长专家" in t for t in queued_texts(engine, "farmer-qian"))
    voice = plain_wechat.message(
        "farmer-qian", "voice", MediaId="v-r", Format="amr", Recognition="叶子背面有白粉"
    )
    post(client, plain_wechat, voice)
    assert any("语音识别：叶子背面有白粉" in t for t in queued_texts(engine, "exp-qian"))
    post(client, plain_wechat, plain_wechat.event("farmer-qian", "unsubscribe"))
    booked = say(client, plain_wechat, "exp-qian", f"预约 {code} 明天下午3点")
    assert "无法通知" in booked and "已告诉农户" not in booked


def test_report_rates_show_as_percentages(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str], tmp_path: Path
) -> None:
    from bot.files.report_export import shown

    assert shown("share_solved", 0.6667) == "67%" and shown("visits", 3) == 3
    path = tmp_path / "r.csv"
    month = utcnow().strftime("%Y-%m")
    result = CliRunner().invoke(
        main, ["report", "--month", month, "--format", "csv", "--output", str(path)], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert "0.6667" not in path.read_text(encoding="utf-8-sig")


# 16 and 17. Setting up from the README: the sample files import cleanly.
def test_the_sample_files_import_cleanly(cli_env: dict[str, str], engine: Engine) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    for kind in ("places", "experts", "duty"):
        for suffix in ("csv", "xlsx"):
            result = CliRunner().invoke(
                main, [kind, "import", str(examples / f"{kind}.{suffix}")], env=cli_env
            )
            assert result.exit_code == 0, result.output
            assert "有问题的行 0" in result.output, result.output
    assert len(rows(engine, Expert)) == 4


def test_farmers_list_shows_who_wrote_with_their_openid(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str]
) -> None:
    say(client, plain_wechat, "o-new-expert", "我是专家 王植保")
    say(client, plain_wechat, "o-farmer", "玉米叶子发黄")
    result = CliRunner().invoke(main, ["farmers", "list", "--search", "我是专家"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "o-new-expert" in result.output and "o-farmer" not in result.output


def test_ledger_csv_is_readable(
    client: FlaskClient, plain_wechat: FakeWeChat, cli_env: dict[str, str]
) -> None:
    say(client, plain_wechat, "farmer-csv", PEPPER)
    result = CliRunner().invoke(main, ["requests", "export", "--format", "csv"], env=cli_env)
    header = io.StringIO(result.stdout).readline()
    assert header.lstrip("\ufeff").startswith("编号,登记时间,状态")
