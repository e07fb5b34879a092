"""Outbreaks as farmers describe them: one problem in many wordings, from neighbouring
townships, raises one alert as soon as the report that completes its cluster is
confirmed; the same number of unrelated or far-apart reports raises none."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from handlers.outbreaks import check_request, find_outbreaks
from handlers.understanding import Parser, default_parser
from models.experts import place_book
from models.tables import Farmer, HelpRequest, Outbox, OutbreakAlert, utcnow
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

# Five and more ways farmers word each problem (none of them shares a word with all
# the others): stripe rust on wheat, aphids on peppers, pigs off their feed and scouring.
RUST = [
    "小麦叶子上有一行一行的黄色粉末",
    "麦子叶片上黄色条纹，像铁锈一样",
    "黄锈病，麦地里到处是黄粉",
    "麦叶发黄，上面有一层像锈一样的粉",
    "麥子葉片上長了黃色的粉，一摸一手",
    "小麦条锈病又来了",
]
APHIDS = [
    "辣椒叶子背面密密麻麻的小绿虫",
    "辣椒嫩头上爬满了小黑虫",
    "海椒长腻虫了，叶子都卷了",
    "辣子上好多蚜虫 咋打药",
    "辣椒叶子黏糊糊的，背面一堆小虫",
]
PIGS = [
    "猪不吃食还拉稀",
    "母猪这两天不吃料，拉黄水",
    "小猪吃得少，拉的屎很稀",
    "猪仔厌食，腹泻",
    "我家的猪不想吃东西，一直窜稀",
]
PROBLEMS = {"小麦": ("锈病", RUST), "辣椒": ("蚜虫", APHIDS), "生猪": ("拉稀", PIGS)}

# 木鱼镇 and 城关镇 border each other; 乔庄镇, 姚渡镇 and 关庄镇 lie apart.
PLACES = """county,township,village,neighbours
青川县,木鱼镇,,城关镇
青川县,木鱼镇,马园村,
青川县,城关镇,西河村,
青川县,乔庄镇,,
青川县,乔庄镇,新华村,
青川县,姚渡镇,,
青川县,姚渡镇,光明村,
青川县,关庄镇,,
青川县,关庄镇,王坝村,
"""
NEAR = ("木鱼镇石坝村", "城关镇东河村", "木鱼镇马园村", "城关镇西河村", "木鱼镇石坝村")
FAR = ("乔庄镇新华村", "姚渡镇光明村", "关庄镇王坝村")


@pytest.fixture
def parser() -> Parser:
    return default_parser()


@pytest.fixture
def places(cli_env: dict[str, str], tmp_path: Path, county: None) -> None:
    path = tmp_path / "neighbours.csv"
    path.write_text(PLACES, encoding="utf-8")
    result = CliRunner().invoke(main, ["places", "import", str(path)], env=cli_env)
    assert result.exit_code == 0 and "有问题的行 0" in result.output, result.output


def say(client: FlaskClient, wechat: FakeWeChat, openid: str, words: str) -> str:
    return reply_text(wechat, post(client, wechat, wechat.text(openid, words)))


def alert_texts(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and "疫情预警" in r.payload.get("text", {}).get("content", "")
    ]


@pytest.mark.parametrize(
    ("crop", "sign", "words"),
    [(crop, sign, words) for crop, (sign, wordings) in PROBLEMS.items() for words in wordings],
)
def test_every_wording_reads_as_its_problems_sign(
    parser: Parser, crop: str, sign: str, words: str
) -> None:
    understood = parser.parse(words)
    assert understood.crop == crop
    assert sign in understood.symptoms
    assert understood.symptom_words[sign]  # the farmer's own words are kept


def test_signs_depend_on_what_is_kept(parser: Parser) -> None:
    assert parser.parse("鲫鱼身上有红斑 死了几条").symptoms == ["烂身", "死鱼"]
    assert parser.parse("猪身上起红斑").symptoms == ["皮肤病"]
    assert "黄叶" not in parser.parse("小龙虾头上发黄 不爱动").symptoms
    assert "锈病" not in parser.parse("小麦叶子发黄，有白粉").symptoms  # mildew, not rust
    assert "锈病" not in parser.parse("黄板诱杀粉虱").symptoms


def test_three_problems_in_many_wordings_raise_one_alert_each_on_the_third_report(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, places: None
) -> None:
    settings.staff_openids = "staff-1"
    client = make_app(settings).test_client()
    for n in range(5):
        for crop, (_sign, wordings) in PROBLEMS.items():
            sent = utcnow()
            say(client, plain_wechat, f"{crop}-{n}", f"{wordings[n]} {NEAR[n]}")
            alerts = [a for a in rows(engine, OutbreakAlert) if a.crop == crop]
            if n < 2:
                assert alerts == [], (crop, n)
                continue
            assert len(alerts) == 1, (crop, n)
            alert = alerts[0]
            assert len(alert.request_ids) == n + 1  # it grows rather than repeating
            if n == 2:  # raised by the report that completed the cluster, within seconds
                assert (alert.created_at - sent).total_seconds() < 5
    alerts = {a.crop: a for a in rows(engine, OutbreakAlert)}
    assert sorted(alerts) == sorted(PROBLEMS)
    for crop, (sign, _wordings) in PROBLEMS.items():
        alert = alerts[crop]
        assert sign in alert.symptoms and alert.words[sign]
        assert set(alert.townships) == {"木鱼镇", "城关镇"}
        assert {"石坝村", "东河村", "马园村", "西河村"} == set(alert.villages)
    messages = alert_texts(engine, "staff-1")
    assert len(messages) == 3  # one per problem, never again as it grew
    rust = next(m for m in messages if "小麦" in m)
    assert "木鱼镇、城关镇" in rust and "锈病（" in rust
    assert len(alert_texts(engine, "exp-liu")) == 2  # the crop leader: rust and aphids
    with Session(engine) as session:
        assert find_outbreaks(session, config=settings.policy(), now=utcnow()) == []
        session.commit()
    assert len(rows(engine, OutbreakAlert)) == 3  # the job agrees and adds nothing


def test_unrelated_or_far_apart_reports_raise_nothing(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, places: None
) -> None:
    client = make_app(settings).test_client()
    unrelated = [
        "小麦叶子发黄 木鱼镇石坝村",  # yellow leaves alone: a weak sign
        "小麦长得慢 城关镇东河村",
        "小麦叶片干枯 木鱼镇马园村",
        "辣椒烂根 木鱼镇石坝村",
        "辣椒果子上有黑斑 城关镇西河村",
        "辣椒落花 木鱼镇马园村",
        "猪咳嗽 木鱼镇石坝村",
        "猪身上起红斑 城关镇东河村",
        "猪不吃食 木鱼镇马园村",  # off feed alone, with a cough and a rash above
    ]
    spread = [f"{wordings[n]} {FAR[n]}" for _sign, wordings in PROBLEMS.values() for n in range(3)]
    for n, words in enumerate([*unrelated, *spread]):
        say(client, plain_wechat, f"farmer-{n}", words)
    with Session(engine) as session:
        confirmed = session.exec(select(HelpRequest).where(HelpRequest.confirmed_at != None))  # noqa: E711
        assert len(confirmed.all()) == len(unrelated) + len(spread)
        assert find_outbreaks(session, config=settings.policy(), now=utcnow()) == []
    assert rows(engine, OutbreakAlert) == []


def test_two_urgent_reports_are_enough(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, places: None
) -> None:
    client = make_app(settings).test_client()
    say(client, plain_wechat, "pig-a", "猪拉稀 一晚上死了三头 木鱼镇石坝村")
    assert rows(engine, OutbreakAlert) == []
    started = time.monotonic()
    say(client, plain_wechat, "pig-b", "我家猪也窜稀，昨天死了两头 城关镇东河村")
    assert time.monotonic() - started < 5
    (alert,) = rows(engine, OutbreakAlert)
    assert (alert.crop, len(alert.request_ids)) == ("生猪", 2)


@pytest.mark.parametrize(("committed", "raised_first"), [(2, 1), (1, 0)])
def test_two_checks_at_once_wait_for_each_other_and_raise_one_alert(
    settings: Settings, engine: Engine, places: None, committed: int, raised_first: int
) -> None:
    """Two transactions confirm reports of one cluster at once. The second waits for the
    first (PostgreSQL: the county's advisory lock, taken before reading; SQLite: the
    writer's lock) and then sees its report: with two reports already committed the
    first raises the alert and the second joins it; with one, neither alone sees three
    until the second, which raises it."""
    policy = settings.policy()
    now = utcnow()

    def report(session: Session, number: int) -> HelpRequest:
        farmer = Farmer(openid=f"race-{number}", last_message_at=now)
        session.add(farmer)
        session.flush()
        request = HelpRequest(
            code=f"R{9100 + number}",
            farmer_id=farmer.id or 0,
            status="new",
            text=RUST[number],
            crop="小麦",
            category="plant_protection",
            symptoms=["锈病"],
            township="木鱼镇" if number % 2 else "城关镇",
            village="石坝村" if number % 2 else "东河村",
            confirmed_at=now,
        )
        session.add(request)
        session.flush()
        return request

    with Session(engine) as session:
        for number in range(committed):
            report(session, number)
        session.commit()
    outcome: list[list[OutbreakAlert]] = []

    def second() -> None:
        with Session(engine) as other:
            request = report(other, committed + 1)
            outcome.append(check_request(other, request=request, config=policy, now=now))
            other.commit()

    with Session(engine) as first:
        raised = check_request(first, request=report(first, committed), config=policy, now=now)
        assert len(raised) == raised_first
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive()  # waiting for the first transaction
        first.commit()
    racer.join(timeout=30)
    assert [len(found) for found in outcome] == [1 - raised_first]
    (alert,) = rows(engine, OutbreakAlert)
    assert len(alert.request_ids) == committed + 2


def test_everyday_words_carry_no_sign(parser: Parser) -> None:
    for words in (
        "小麦叶子发黄，有白色的粉",  # powdery mildew, not rust
        "麦子黄了，地里撒了石灰粉",
        "小麦叶子黄，打了多菌灵粉",
        "用粉锈宁打小麦可以吗",  # a fungicide asked about, no rust seen
        "黄瓜粉粉的",
        "急死人了，怎么还没人回",
        "今天40度",
        "测了体温正常",
        "不包邮吗",
        "不坐车了",
        "还缺什么",
        "稀释粪水浇菜",
        "苗太稀了，顺便问下",
        "用三轮车拉水浇玉米",
        "黄瓜打蔫了",
    ):
        assert not {"锈病", "死亡", "发烧", "拉稀", "不开花", "落花", "缺素", "精神差"} & set(
            parser.parse(words).symptoms
        ), words


def test_an_alert_does_not_swallow_the_next_problem_and_local_problems_raise_none(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, places: None
) -> None:
    client = make_app(settings).test_client()
    for n in range(3):
        say(client, plain_wechat, f"rust-{n}", f"{RUST[n]} 叶子枯黄 {NEAR[n]}")
    for n, words in enumerate(
        ["麦子上好多腻虫，叶子发黄", "小麦穗上爬满了蚜虫，叶子枯黄", "麦蚜多得很"]
    ):
        say(client, plain_wechat, f"aphid-{n}", f"{words} {NEAR[n + 1]}")
    for n in range(3):  # weeds and a lacking nutrient do not spread from farm to farm
        say(client, plain_wechat, f"weed-{n}", f"小麦地里杂草多，缺肥 {NEAR[n]}")
    alerts = sorted(rows(engine, OutbreakAlert), key=lambda a: a.id or 0)
    assert [set(a.symptoms) & {"锈病", "蚜虫"} for a in alerts] == [{"锈病"}, {"蚜虫"}]
    assert [len(a.request_ids) for a in alerts] == [3, 3]


def test_urgent_reports_paged_before_their_place_is_known_are_checked_when_it_is(
    settings: Settings, make_app: Any, plain_wechat: FakeWeChat, engine: Engine, places: None
) -> None:
    client = make_app(settings).test_client()
    for n, township in enumerate(("木鱼镇石坝村", "城关镇东河村")):
        first = say(client, plain_wechat, f"dying-{n}", "猪拉稀，一晚上死了三头，急")
        assert "哪个村" in first or "村" in first, first  # paged at once, asked where
        assert rows(engine, OutbreakAlert) == []
        say(client, plain_wechat, f"dying-{n}", township)
    (alert,) = rows(engine, OutbreakAlert)
    assert (alert.crop, len(alert.request_ids)) == ("生猪", 2)
    # 急 alone is no death: two hurried reports of aphids are not enough.
    for n in range(2):
        say(client, plain_wechat, f"hurry-{n}", f"辣椒长蚜虫了 急 {NEAR[n]}")
    assert len(rows(engine, OutbreakAlert)) == 1


def test_neighbours_are_read_both_ways_and_only_from_a_townships_row(
    cli_env: dict[str, str], tmp_path: Path, engine: Engine, places: None
) -> None:
    with Session(engine) as session:
        book = place_book(session=session)
        assert book.neighbours_of("青川县", "城关镇") == {"木鱼镇"}  # listed on 木鱼镇's row
        assert book.neighbours_of("青川县", "乔庄镇") == frozenset()
    path = tmp_path / "more.csv"
    path.write_text(
        "county,township,village,neighbours\n"
        "青川县,乔庄镇,新华村,姚渡镇\n"  # a village's row cannot list neighbours
        "青川县,乔庄镇,,姚渡镇、关庄镇\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["places", "import", str(path)], env=cli_env)
    assert "更新 1" in result.output and "有问题的行 1" in result.output, result.output
    assert "第 2 行：只有乡镇那一行（村空着）才写相邻乡镇" in result.output
    with Session(engine) as session:
        assert place_book(session=session).neighbours_of("青川县", "关庄镇") == {"乔庄镇"}
