"""Routing and paging: the right on-duty expert, escalation, expert commands, relay."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers.config import Policy
from models.tables import HelpRequest, Message, Offer, Outbox, RequestEvent, utcnow
from scheduler.outbox import deliver_outbox
from scheduler.routing import check_offer_timeouts
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

CODE = re.compile(r"[A-Z][0-9]{3,6}")
PROBLEM = "我家辣椒叶子发黄还有斑点 我是石坝村的"


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, text: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, text)))


def fresh(session: Session, model: Any) -> list[Any]:
    return rows(session.get_bind(), model)  # type: ignore[arg-type]


def offers_by_expert(session: Session) -> dict[str, str]:
    from models.tables import Expert

    with Session(session.get_bind()) as other:
        names = {e.id: e.openid for e in other.exec(select(Expert))}
        return {names[o.expert_id]: o.status for o in other.exec(select(Offer))}


@pytest.mark.usefixtures("county")
def test_paged_to_the_on_duty_specialist_of_the_township(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    reply = say(client, plain_wechat, "farmer-1", PROBLEM)
    code = CODE.search(reply).group()  # type: ignore[union-attr]
    assert offers_by_expert(session) == {"exp-wang": "pending"}
    request = fresh(session, HelpRequest)[0]
    assert request.status == "offered"
    decision = request.routing["history"][-1]
    assert decision["chosen"] == ["exp-wang"] and "同乡镇" in decision["reason"]
    ranked = [(a["openid"], a["on_duty"], a["region"]) for a in decision["alternatives"]]
    assert ranked[:2] == [("exp-wang", True, "township"), ("exp-zhao", True, "county")]
    assert ("exp-li", False, "township") in ranked  # off duty: recorded, not paged
    assert all(openid != "exp-zhang" for openid, *_ in ranked)  # wrong specialty

    assert deliver_outbox(engine=engine, sender=api, now=utcnow()) >= 1
    page = fake_api.texts_to("exp-wang")[0]
    for part in (code, "辣椒", "病虫害", "石坝村", "叶子发黄", f"接单 {code}"):
        assert part in page
    assert fake_api.texts_to("exp-li") == [] and fake_api.texts_to("exp-zhang") == []


@pytest.mark.usefixtures("county")
def test_accept_book_and_record_the_visit(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
) -> None:
    code = CODE.search(say(client, plain_wechat, "farmer-2", PROBLEM)).group()  # type: ignore[union-attr]
    assert code in say(client, plain_wechat, "exp-wang", "接单")
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    told = fake_api.texts_to("farmer-2")
    assert any("王植保" in text and "植保队" in text for text in told), told

    booked = say(client, plain_wechat, "exp-wang", f"预约 {code} 明天上午9点")
    assert "已预约" in booked and "09:00" in booked
    done = say(
        client,
        plain_wechat,
        "exp-wang",
        f"完成 {code} 叶斑病，喷苯醚甲环唑，七天一次，安全间隔期 7 天",
    )
    assert "已记录" in done
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any("09:00" in text for text in fake_api.texts_to("farmer-2"))

    result = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=cli_env)
    import json

    row = json.loads(result.stdout.splitlines()[0])
    assert row["status"] == "visited" and row["expert_openid"] == "exp-wang"
    assert row["accepted_at"] and row["visited_at"] and "叶斑病" in row["visit_record"]
    assert row["visit_booked_for"].endswith("01:00:00+00:00")  # 09:00 in Asia/Shanghai
    statuses = [e.to_status for e in fresh(session, RequestEvent)]
    assert statuses == ["new", "offered", "accepted", "visit_booked", "visited"]


@pytest.mark.usefixtures("county")
def test_no_answer_in_time_pages_the_second_candidate(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
) -> None:
    say(client, plain_wechat, "farmer-3", PROBLEM)
    config = Policy(accept_timeout=timedelta(seconds=1))
    assert check_offer_timeouts(engine=engine, config=config, now=utcnow()) == 0
    later = utcnow() + timedelta(minutes=31)  # the default timeout is 30 minutes
    assert check_offer_timeouts(engine=engine, config=config, now=later) == 1
    assert offers_by_expert(session) == {"exp-wang": "timed_out", "exp-zhao": "pending"}


@pytest.mark.usefixtures("county")
def test_urgent_requests_time_out_sooner(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
) -> None:
    say(client, plain_wechat, "farmer-u", "石坝村辣椒大面积死苗 一下子全死了")
    offer = fresh(session, Offer)[0]
    assert offer.deadline_at - offer.offered_at == timedelta(minutes=10)


@pytest.mark.usefixtures("county")
def test_decline_moves_on_at_once_and_nobody_left_alerts_leader_and_staff(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    settings: Settings,
    make_app: Any,
) -> None:
    settings.staff_openids = "staff-1,staff-2"
    client = make_app(settings).test_client()
    code = CODE.search(say(client, plain_wechat, "farmer-4", PROBLEM)).group()  # type: ignore[union-attr]
    assert "已拒绝" in say(client, plain_wechat, "exp-wang", f"拒绝 {code} 今天在外地")
    assert offers_by_expert(session) == {"exp-wang": "declined", "exp-zhao": "pending"}
    say(client, plain_wechat, "exp-zhao", f"拒绝 {code}")
    request = fresh(session, HelpRequest)[0]
    assert request.status == "unassigned"
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    for openid in ("exp-liu", "staff-1", "staff-2"):
        assert any(code in text and "需要协调" in text for text in fake_api.texts_to(openid))
    assert any("暂时没有能接单的专家" in text for text in fake_api.texts_to("farmer-4"))
    declined = [o for o in fresh(session, Offer) if o.status == "declined"]
    assert declined[0].answer_note == "今天在外地"


@pytest.mark.usefixtures("county")
def test_open_board_offers_all_and_first_accept_wins(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
) -> None:
    result = CliRunner().invoke(main, ["teams", "set", "植保队", "--broadcast"], env=cli_env)
    assert result.exit_code == 0, result.output
    code = CODE.search(say(client, plain_wechat, "farmer-5", PROBLEM)).group()  # type: ignore[union-attr]
    assert offers_by_expert(session) == {"exp-wang": "pending", "exp-zhao": "pending"}
    assert "已接单" in say(client, plain_wechat, "exp-zhao", f"接单 {code}")
    assert "已被其他专家接走" in say(client, plain_wechat, "exp-wang", f"接单 {code}")
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert any("已被其他专家接走" in text for text in fake_api.texts_to("exp-wang"))
    assert offers_by_expert(session) == {"exp-wang": "taken", "exp-zhao": "accepted"}


@pytest.mark.usefixtures("county")
def test_relay_both_ways_with_text_and_photos(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    code = CODE.search(say(client, plain_wechat, "farmer-6", PROBLEM)).group()  # type: ignore[union-attr]
    say(client, plain_wechat, "exp-wang", f"接单 {code}")
    assert say(client, plain_wechat, "farmer-6", "今天又多了几棵") == "已转给专家。"
    post(
        client,
        plain_wechat,
        plain_wechat.message("farmer-6", "image", PicUrl="p", MediaId="farmer-photo"),
    )
    relayed = say(client, plain_wechat, "exp-wang", "先别浇水，明天我去看")
    assert relayed == f"已转给 {code} 农户。"  # the expert is told where it went
    post(
        client,
        plain_wechat,
        plain_wechat.message("exp-wang", "image", PicUrl="p", MediaId="expert-photo"),
    )
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    to_expert = [b for b in fake_api.sent() if b["touser"] == "exp-wang"]
    to_farmer = [b for b in fake_api.sent() if b["touser"] == "farmer-6"]
    assert any(
        b["msgtype"] == "text" and b["text"]["content"] == f"【{code} 农户】\n｜今天又多了几棵"
        for b in to_expert
    )
    assert {"msgtype": "image", "image": {"media_id": "farmer-photo"}, "touser": "exp-wang"} in (
        to_expert
    )
    assert any(
        b["msgtype"] == "text" and b["text"]["content"] == "【王植保专家】\n｜先别浇水，明天我去看"
        for b in to_farmer
    )
    assert {"msgtype": "image", "image": {"media_id": "expert-photo"}, "touser": "farmer-6"} in (
        to_farmer
    )
    request = fresh(session, HelpRequest)[0]
    logged = [m for m in fresh(session, Message) if m.request_id == request.id]
    assert {m.media_id for m in logged if m.direction == "in"} >= {"farmer-photo", "expert-photo"}
    relayed_out = [m for m in logged if m.direction == "out" and m.channel == "custom"]
    assert {m.media_id for m in relayed_out} >= {"farmer-photo", "expert-photo"}
    assert any(m.content == "【王植保专家】\n｜先别浇水，明天我去看" for m in relayed_out)
    for openid in ("farmer-6", "exp-wang"):  # neither side sees the other's openid or phone
        for body in [b for b in fake_api.sent() if b["touser"] == openid]:
            text = str(body)
            assert "13800000001" not in text
            assert ("farmer-6" if openid == "exp-wang" else "exp-wang") not in text


@pytest.mark.usefixtures("county")
def test_expert_commands_help_duty_and_tasks(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
) -> None:
    assert "专家指令" in say(client, plain_wechat, "exp-li", "你好")
    assert "没有求助" in say(client, plain_wechat, "exp-li", "任务")
    assert "值班" in say(client, plain_wechat, "exp-li", "值班")
    say(client, plain_wechat, "exp-wang", "下班")
    code = CODE.search(say(client, plain_wechat, "farmer-7", PROBLEM)).group()  # type: ignore[union-attr]
    assert offers_by_expert(session) == {"exp-li": "pending"}
    assert code in say(client, plain_wechat, "exp-li", "任务")
    assert "已接单" in say(client, plain_wechat, "exp-li", f"接单 {code}")
    assert "没看懂时间" in say(client, plain_wechat, "exp-li", f"预约 {code} 改天吧")
    assert "不在您手上" in say(client, plain_wechat, "exp-zhao", f"完成 {code} 好了")


@pytest.mark.usefixtures("county")
def test_page_uses_the_template_with_a_signed_link_when_configured(
    settings: Settings,
    make_app: Any,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    settings.wechat_template_expert_page = "TPL-PAGE"
    client = make_app(settings).test_client()
    code = CODE.search(say(client, plain_wechat, "farmer-8", PROBLEM)).group()  # type: ignore[union-attr]
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    template = fake_api.sent("message/template/send")[0]
    assert template["touser"] == "exp-wang" and template["template_id"] == "TPL-PAGE"
    assert template["data"]["keyword1"]["value"] == code
    path = template["url"].removeprefix(settings.public_url)
    assert path.startswith("/w/")  # the expert's own workbench link
    page = client.get(path, follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert code in html and "辣椒" in html and "石坝村" in html and "叶子发黄" in html
    assert client.get(path[:-4] + "AAAA").status_code == 403  # tampered


def test_import_reports_bad_rows_and_updates_on_reimport(
    cli_env: dict[str, str], tmp_path: Path, session: Session
) -> None:
    from models.tables import DutyShift, Expert

    experts = tmp_path / "experts.csv"
    experts.write_text(
        "name,openid,phone,team,specialties,crops,regions,leader\n"
        "甲,e1,1,队,病虫害;畜牧兽医,苞谷、洋芋,木鱼镇,否\n"
        ",e2,1,队,病虫害,,,否\n"
        "丙,e3,1,队,修车,,,否\n"
        "丁,e4,1,队,农机,,,也许\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["experts", "import", str(experts)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "新增 1" in result.output and "有问题的行 3" in result.output
    assert "第 3 行：姓名是空的" in result.output
    assert "第 4 行：不认识的专业“修车”" in result.output
    assert "第 5 行：组长一栏写 是 或 否" in result.output
    expert = fresh(session, Expert)[0]
    assert expert.specialties == ["plant_protection", "livestock"]
    assert expert.crops == ["玉米", "马铃薯"]  # local names read as the canonical crops

    experts.write_text(
        "name,openid,phone,team,specialties,crops,regions\n甲,e1,2,队,农机,,城关镇\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["experts", "import", str(experts)], env=cli_env)
    assert "新增 0，更新 1" in result.output
    assert [(e.phone, e.specialties) for e in fresh(session, Expert)] == [("2", ["machinery"])]

    duty = tmp_path / "duty.csv"
    duty.write_text(
        "openid,start,end\ne1,2026-11-23T08:00,2026-11-23T18:00\n"
        "nobody,2026-11-23T08:00,2026-11-23T18:00\n"
        "e1,2026-11-23T18:00,2026-11-23T08:00\ne1,tomorrow,later\n",
        encoding="utf-8",
    )
    for expected in ("新增 1", "新增 0，更新 0，已有 1"):
        result = CliRunner().invoke(main, ["duty", "import", str(duty)], env=cli_env)
        assert expected in result.output and "有问题的行 3" in result.output, result.output
    assert "第 3 行：没有 openid 是“nobody”的专家" in result.output
    assert "第 4 行：结束" in result.output and "第 5 行：" in result.output
    shift = fresh(session, DutyShift)[0]
    assert shift.start.hour == 0  # 08:00 in Asia/Shanghai is 00:00 UTC


def test_import_from_xlsx(cli_env: dict[str, str], tmp_path: Path, session: Session) -> None:
    import xlsxwriter

    from models.tables import Place

    path = tmp_path / "places.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    for row, values in enumerate(
        [("county", "township", "village"), ("青川县", "木鱼镇", "石坝村"), ("", "x", "y")]
    ):
        sheet.write_row(row, 0, values)
    workbook.close()
    result = CliRunner().invoke(main, ["places", "import", str(path)], env=cli_env)
    assert "新增 1" in result.output and "第 3 行：县是空的" in result.output
    assert [(p.county, p.village) for p in fresh(session, Place)] == [("青川县", "石坝村")]


def test_import_of_an_unreadable_file_is_a_clear_error(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["experts", "import", str(tmp_path / "none.csv")], env=cli_env
    )
    assert result.exit_code == 1 and "找不到文件" in result.output
    bad = tmp_path / "experts.csv"
    bad.write_text("name,openid\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["experts", "import", str(bad)], env=cli_env)
    assert result.exit_code == 1 and "缺少这些列" in result.output


def test_outbox_rows_never_reach_unsubscribed_farmers(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    session: Session,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
) -> None:
    from models.outbox import queue

    say(client, plain_wechat, "farmer-9", PROBLEM)
    with Session(engine) as queued:  # news for the farmer, queued while they still follow
        queue(
            session=queued,
            openid="farmer-9",
            payload={"msgtype": "text", "text": {"content": "求助 A1000：…"}},
            now=utcnow(),
            purpose="notify",
        )
        queued.commit()
    post(client, plain_wechat, plain_wechat.event("farmer-9", "unsubscribe"))
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    assert fake_api.texts_to("farmer-9") == []
    assert {row.status for row in fresh(session, Outbox)} == {"dropped"}


@pytest.mark.usefixtures("county")
def test_tasks_lists_the_first_ten_offers_and_counts_the_rest(
    client: FlaskClient, plain_wechat: FakeWeChat, session: Session
) -> None:
    codes = [
        CODE.search(say(client, plain_wechat, f"farmer-t{n}", PROBLEM)).group()  # type: ignore[union-attr]
        for n in range(12)
    ]
    assert set(offers_by_expert(session)) == {"exp-wang"}
    tasks = say(client, plain_wechat, "exp-wang", "任务")
    listed = [line.split()[0] for line in tasks.splitlines() if "待接单" in line]
    assert listed == codes[:10]  # oldest offer first
    assert "另有 2 个没列出" in tasks and "全部任务：" in tasks
    assert codes[10] not in tasks and codes[11] not in tasks
