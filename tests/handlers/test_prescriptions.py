"""Safe prescriptions: banned and barred pesticides are refused with the reason, through
the typed `完成` and the workbench alike; a sprayed crop needs its safety interval, and
the farmer is warned about the harvest; absurd doses come back to the expert."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.wechat.api import WeChatAPI
from handlers.prescriptions import (
    SHIPPED_RULES,
    RulesError,
    harvest_warning,
    interval_days,
    load_rules,
    missing_interval,
    refusal,
)
from models.tables import HelpRequest, Outbox, utcnow
from scheduler.outbox import deliver_outbox
from tests.bot.test_workbench import accept_form, ask
from tests.bot.test_workbench_uploads import prescription_form
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"
RICE = "水稻叶子上好多虫子 我是石坝村的"


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, words)))


def accepted(
    client: FlaskClient, wechat: FakeWeChat, farmer: str, words: str, expert: str = "exp-wang"
) -> str:
    """A request accepted by the expert it was paged to (王植保 covers peppers in 木鱼镇,
    赵植保 every crop in the county); its code."""
    found = re.search(r"[A-Z]\d{4}", say(client, wechat, farmer, words))
    assert found is not None
    code = found.group()
    assert "已接单" in say(client, wechat, expert, f"接单 {code}")
    return code


def told(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and r.payload.get("msgtype") == "text"
    ]


def status(engine: Engine, code: str) -> str:
    with Session(engine) as session:
        return session.exec(select(HelpRequest).where(HelpRequest.code == code)).one().status


def test_a_banned_pesticide_typed_in_a_visit_record_is_refused_with_its_reason(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    code = accepted(client, plain_wechat, "farmer-b", PEPPER)
    answer = say(client, plain_wechat, "exp-wang", f"完成 {code} 炭疽病，喷甲胺磷，安全间隔期 7 天")
    assert "不能开这个处方：甲胺磷是国家禁止使用的农药" in answer
    assert status(engine, code) == "accepted"  # nothing recorded
    assert not any("诊断和建议" in t for t in told(engine, "farmer-b"))
    answer = say(client, plain_wechat, "exp-wang", f"完成 {code} 叶斑病，喷百草枯")
    assert "百草枯是国家禁止使用的农药" in answer


def test_a_pesticide_barred_from_vegetables_is_refused_for_peppers_but_not_for_rice(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    pepper = accepted(client, plain_wechat, "farmer-v", PEPPER)
    answer = say(
        client, plain_wechat, "exp-wang", f"完成 {pepper} 蚜虫，喷毒死蜱 1000 倍，安全间隔期 7 天"
    )
    assert "毒死蜱禁止在蔬菜上使用" in answer and "这个求助是辣椒" in answer
    assert status(engine, pepper) == "accepted"
    rice = accepted(client, plain_wechat, "farmer-r", RICE, expert="exp-zhao")
    words = f"完成 {rice} 稻纵卷叶螟，喷毒死蜱 1000 倍，安全间隔期 15 天"
    answer = say(client, plain_wechat, "exp-zhao", words)
    assert "已记录" in answer
    assert status(engine, rice) == "visited"


def test_a_sprayed_crop_needs_its_safety_interval_and_the_farmer_is_warned(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine, county: None
) -> None:
    code = accepted(client, plain_wechat, "farmer-i", PEPPER)
    answer = say(client, plain_wechat, "exp-wang", f"完成 {code} 炭疽病，喷苯醚甲环唑 1500 倍液")
    assert "请写上安全间隔期" in answer
    assert status(engine, code) == "accepted"
    answer = say(
        client,
        plain_wechat,
        "exp-wang",
        f"完成 {code} 炭疽病，喷苯醚甲环唑 1500 倍液，安全间隔期 7 天",
    )
    assert "已记录" in answer
    (visited,) = [t for t in told(engine, "farmer-i") if "诊断和建议" in t]
    assert "最后一次打药后 7 天内不要采收、不要上市" in visited
    # Advice without any pesticide needs no interval.
    other = accepted(client, plain_wechat, "farmer-k", PEPPER)
    assert "已记录" in say(client, plain_wechat, "exp-wang", f"完成 {other} 缺钾，追施钾肥")


def test_the_workbench_refuses_banned_and_barred_products_and_absurd_doses_keeping_the_form(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    code = ask(client, plain_wechat, "farmer-w", PEPPER)
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    wang, form = accept_form(app, fake_api, code)
    assert "已接单" in wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True).get_data(
        as_text=True
    )
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    cases = [
        ({"product0": "40% 氧乐果乳油"}, "氧乐果禁止在蔬菜、瓜果、茶叶、菌类、中草药材上使用"),
        ({"product0": "20% 百草枯水剂"}, "百草枯是国家禁止使用的农药"),
        ({"dose0": "100 公斤", "unit0": "每亩"}, "用药1：每亩 100 公斤 太多了"),
        ({"dose0": "0 克"}, "用药1 的用量是 0"),
        ({"interval0": ""}, "请填写“安全间隔期”"),
    ]
    for change, reason in cases:
        form = prescription_form(page, "辣椒疫病") | change
        refused = wang.post(f"/w/r/{code}/act", data=form)
        shown = refused.get_data(as_text=True)
        assert refused.status_code == 400 and reason in shown, (change, shown[:300])
        assert "这次没有提交，填好的内容还在" in shown
        assert 'value="辣椒疫病"' in shown or ">辣椒疫病<" in shown  # what was typed stays
        assert status(engine, code) == "accepted"
    checked = wang.post(
        f"/w/r/{code}/act", data=prescription_form(page, "辣椒疫病") | {"dose0": "100 公斤"}
    )
    assert "用量我核对过" in checked.get_data(as_text=True)  # the expert may confirm it
    confirmed = prescription_form(page, "辣椒疫病") | {"dose0": "100 公斤", "dose_checked": "1"}
    done = wang.post(f"/w/r/{code}/act", data=confirmed, follow_redirects=True)
    assert "已记录" in done.get_data(as_text=True)
    assert status(engine, code) == "visited"


def test_a_county_installs_a_newer_list_and_prescriptions_follow_it(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    county: None,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    newer = tmp_path / "newer.toml"
    newer.write_text(
        SHIPPED_RULES.read_text(encoding="utf-8").replace(
            'names = ["甲拌磷", "甲基异柳磷", "水胺硫磷", "灭线磷"]',
            'names = ["甲拌磷", "甲基异柳磷", "水胺硫磷", "灭线磷", "吡虫啉"]',
        ),
        encoding="utf-8",
    )
    runner = CliRunner()
    broken = tmp_path / "broken.toml"
    broken.write_text('source = "x"\nas_of = "2026"\n[[banned]]\nreason = "r"\n', encoding="utf-8")
    refused = runner.invoke(main, ["pesticides", "update", str(broken)], env=cli_env)
    assert refused.exit_code != 0 and "has no `names`" in refused.output
    installed = runner.invoke(main, ["pesticides", "update", str(newer)], env=cli_env)
    assert installed.exit_code == 0 and "51 banned" in installed.output, installed.output
    shown = runner.invoke(main, ["pesticides", "show"], env=cli_env).output
    assert "禁限用农药名录" in shown and "as of: 2024-09-01" in shown
    code = accepted(client, plain_wechat, "farmer-n", PEPPER)
    answer = say(client, plain_wechat, "exp-wang", f"完成 {code} 蚜虫，喷吡虫啉，安全间隔期 7 天")
    assert "吡虫啉是自 2024 年 9 月 1 日起禁止销售和使用" in answer


def test_the_shipped_list_is_complete_and_dated(tmp_path: Path) -> None:
    rules = load_rules(SHIPPED_RULES)
    assert len(rules.banned) == 50  # 46 of the 2019 list, 4 of announcement 536
    assert rules.as_of == "2024-09-01" and "禁限用农药名录" in rules.source
    assert rules.find("乙酰甲胺磷和氧乐果") == ["乙酰甲胺磷", "氧乐果"]  # not 甲胺磷, not 乐果
    with pytest.raises(RulesError, match="not in \\[classes\\]"):
        bad = tmp_path / "bad.toml"
        bad.write_text(
            SHIPPED_RULES.read_text(encoding="utf-8").replace('"甘蔗" = ["甘蔗"]', ""),
            encoding="utf-8",
        )
        load_rules(bad)


def test_the_list_reads_names_as_experts_write_them() -> None:
    rules = load_rules(SHIPPED_RULES)
    plants = {"category": "plant_protection", "rules": rules}
    for crop in ("豇豆", "芸豆", "马铃薯"):  # vegetables that crops.toml files under grain
        assert "蔬菜" in (refusal("喷氧乐果", crop=crop, **plants) or ""), crop
    assert "克百威" in (refusal("撒呋喃丹", crop="辣椒", **plants) or "")  # a trade name
    assert "百草枯" in (refusal("打克无踪", crop="玉米", **plants) or "")
    assert refusal("喷丙硫克百威", crop="玉米", **plants) is None  # another, unlisted one
    assert refusal("百草枯飘移药害，多浇水", crop="玉米", **plants) is None  # only mentioned
    assert refusal("不要再用氧乐果了，改喷吡虫啉", crop="辣椒", **plants) is None
    assert "还不知道是什么作物" in (refusal("喷氧乐果", crop=None, **plants) or "")
    assert refusal("喷氧乐果", crop=None, category="livestock", rules=rules) is None


def test_safety_intervals_as_experts_write_them_and_only_for_food_crops() -> None:
    rules = load_rules(SHIPPED_RULES)
    plants = {"crop": "辣椒", "category": "plant_protection"}
    assert interval_days("喷苯醚甲环唑，安全间隔期为十五天") == 15
    assert interval_days("安全间隔期一周") == 7
    assert interval_days("采收前 10 天停药") == 10
    assert interval_days("甲，安全间隔期 3 天；乙，安全间隔期 21 天") == 21  # the longest
    assert interval_days("间隔期7-10天喷一次") is None  # a spraying interval, not the safety one
    assert "21 天内不要采收" in harvest_warning("…安全间隔期 3 天；…安全间隔期 21 天", **plants)
    assert missing_interval("喷72% 霜脲·锰锌", rules=rules, **plants)  # a mixture's short name
    assert missing_interval("不用打杀菌剂，多通风", rules=rules, **plants) is None
    assert (
        missing_interval("喷吡虫啉", crop="草坪", category="plant_protection", rules=rules) is None
    )
    pig = {"crop": None, "category": "livestock"}
    assert missing_interval("阿维菌素注射液，每公斤体重 0.02 毫升", rules=rules, **pig) is None
    assert harvest_warning("恩诺沙星，安全间隔期 7 天", **pig) == ""
