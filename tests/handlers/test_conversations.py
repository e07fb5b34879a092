"""Conversations as people really have them, through the real webhook: social turns at
every stage, answers that do not fit, status and cancelling in words, a second problem.

Each conversation is a script of turns — who speaks, what they write, and words the
reply must (or must not) contain — followed by what must be true of the requests the
farmer opened and of what each person was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.cli import main
from models.tables import Farmer, HelpRequest, Outbox
from tests.queries import rows
from tests.wechat_client import FakeWeChat, post, reply_text

FARMER = "farmer-c"
WHO = {"farmer": FARMER, "wang": "exp-wang", "zhang": "exp-zhang"}
PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"
PIG = "我家的猪不吃食还拉稀 石坝村"


@dataclass
class Turn:
    who: str
    words: str
    says: tuple[str, ...] = ()  # the reply contains each of these
    not_says: tuple[str, ...] = ()  # … and none of these


@dataclass
class Script:
    name: str
    turns: list[Turn]
    requests: int  # opened by the farmer, cancelled ones included
    open_requests: int | None = None
    crops: list[str | None] | None = None  # of the farmer's requests, oldest first
    categories: list[str] | None = None
    places: list[str | None] | None = None
    statuses: list[str] | None = None
    villages: list[str | None] | None = None
    townships: list[str | None] | None = None
    more_places: str = ""  # county,township,village lines imported before the turns
    farmer_never_told: tuple[str, ...] = ()
    expert_told: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expert_not_told: dict[str, tuple[str, ...]] = field(default_factory=dict)


def F(words: str, *says: str, not_says: tuple[str, ...] = ()) -> Turn:
    return Turn("farmer", words, says, not_says)


def E(who: str, words: str, *says: str) -> Turn:
    return Turn(who, words, says)


OPENS = "求助编号"
CONFIRMS = "已登记"
SOCIAL_SAYINGS = [
    "谢谢", "谢谢专家", "多谢了", "感谢感谢", "谢谢你们", "晓得了，谢谢哈", "嗯嗯", "好的",
    "好的好的", "👍", "[抱拳]", "[强][强]", "🙏🙏", "收到", "知道了", "明白了", "ok",
    "辛苦了", "再见", "拜拜", "麻烦你们了", "谢謝", "好嘞", "。。。", "哦哦",
]  # fmt: skip

SCRIPTS = [
    *(
        Script(
            f"social turn with nothing open: {saying}",
            [F(saying, not_says=(OPENS, "哪个村"))],
            requests=0,
        )
        for saying in SOCIAL_SAYINGS
    ),
    Script(
        "a thank-you is not the village",
        [
            F("玉米叶子上有虫子", OPENS, "哪个村"),
            F("多谢了", "不客气", "哪个村"),
            F("石坝村", CONFIRMS),
        ],
        requests=1,
        crops=["玉米"],
        places=["石坝村"],
    ),
    Script(
        "an emoji while the crop is asked",
        [F("叶子上全是斑点 石坝村", OPENS), F("👍"), F("辣椒", CONFIRMS)],
        requests=1,
        crops=["辣椒"],
    ),
    Script(
        "thanks after confirming, before anyone accepts",
        [F(PEPPER, CONFIRMS), F("谢谢你们", "不客气", not_says=(OPENS,))],
        requests=1,
        open_requests=1,
    ),
    Script(
        "thanks to the expert who holds the case is relayed",
        [F(PEPPER, CONFIRMS), E("wang", "接单 A1000", "已接单"), F("谢谢专家", "已转给专家")],
        requests=1,
        expert_told={"exp-wang": ("谢谢专家",)},
    ),
    Script(
        "a status question while looking for an expert",
        [F(PEPPER, CONFIRMS), F("专家啥时候来", "正在联系专家", not_says=(OPENS,))],
        requests=1,
    ),
    Script(
        "a status question after acceptance names the expert and tells them",
        [
            F(PEPPER, CONFIRMS),
            E("wang", "接单 A1000", "已接单"),
            F("咋还没人来", "王植保", "转给了专家"),
        ],
        requests=1,
        expert_told={"exp-wang": ("咋还没人来",)},
    ),
    Script(
        "a status question after booking gives the time",
        [
            F(PEPPER, CONFIRMS),
            E("wang", "接单 A1000", "已接单"),
            E("wang", "预约 A1000 明天下午3点", "已预约"),
            F("专家什么时候到", "预约", "15:00"),
        ],
        requests=1,
    ),
    Script(
        "a status question with nothing open",
        [F("专家啥时候来", "没有进行中的求助")],
        requests=0,
    ),
    Script(
        "a status question during intake asks the pending question again",
        [F("玉米叶子上有虫子", OPENS, "哪个村"), F("还没人回吗", "还差一点", "哪个村")],
        requests=1,
    ),
    Script(
        "cancelling in words is confirmed once, then cancels",
        [F(PEPPER, CONFIRMS), F("不用了 已经好了", "要取消求助 A1000 吗"), F("是", "已取消")],
        requests=1,
        statuses=["cancelled"],
    ),
    Script(
        "cancelling in words, then changing one's mind",
        [
            F(PEPPER, CONFIRMS),
            F("不需要了", "要取消"),
            F("算了 还是要人来看看", not_says=("已取消",)),
        ],
        requests=1,
        statuses=["offered"],
    ),
    Script(
        "cancelling in words after acceptance tells the expert",
        [
            F(PEPPER, CONFIRMS),
            E("wang", "接单 A1000", "已接单"),
            F("问题已经解决了", "要取消"),
            F("确定", "已取消"),
        ],
        requests=1,
        statuses=["cancelled"],
        expert_told={"exp-wang": ("农户取消了求助 A1000",)},
        expert_not_told={"exp-wang": ("问题已经解决了",)},
    ),
    Script(
        "the command 取消 cancels at once",
        [F(PEPPER, CONFIRMS), F("取消", "已取消")],
        requests=1,
        statuses=["cancelled"],
    ),
    Script(
        "words that only look like cancelling are a problem report",
        [F(PEPPER, CONFIRMS), F("打了药还是没好", "已补充到求助 A1000")],
        requests=1,
        statuses=["offered"],
    ),
    Script(
        "asking for a person",
        [F("转人工", "遇到了什么问题", not_says=(OPENS,))],
        requests=0,
    ),
    Script(
        "no farming words at all opens nothing",
        [F("你们是干什么的", "遇到了什么问题", not_says=(OPENS,))],
        requests=0,
    ),
    Script(
        "a second problem about plants while a pig case is open",
        [F(PIG, CONFIRMS), F("叶子全黄了 咋办", "另一个问题", "A1000", OPENS)],
        requests=2,
        categories=["livestock", "plant_protection"],
    ),
    Script(
        "a second animal opens its own request",
        [F(PIG, CONFIRMS), F("鸡也不下蛋了 石坝村", "另一个问题")],
        requests=2,
        crops=["生猪", "鸡"],
    ),
    Script(
        "a second crop while the expert holds the first is not relayed to them",
        [
            F(PEPPER, CONFIRMS),
            E("wang", "接单 A1000", "已接单"),
            F("我家的牛也不吃草了", "另一个问题", "A1000"),
        ],
        requests=2,
        expert_not_told={"exp-wang": ("牛也不吃草",)},
    ),
    Script(
        "more about the same crop stays in the same request",
        [F(PEPPER, CONFIRMS), F("辣椒今天又多了几棵", "已补充到求助 A1000")],
        requests=1,
    ),
    Script(
        "a photo stays with the open request",
        [F(PIG, CONFIRMS)],
        requests=1,
    ),
    Script(
        "traditional characters and a thank-you in them",
        [F("我家辣椒葉子發黃 石壩村", CONFIRMS), F("謝謝你們", "不客气")],
        requests=1,
        crops=["辣椒"],
    ),
    Script(
        "a sticker after the expert's visit",
        [
            F(PEPPER, CONFIRMS),
            E("wang", "接单 A1000", "已接单"),
            E("wang", "完成 A1000 缺钾，追施钾肥", "已记录"),
            F("[抱拳][抱拳]", not_says=(OPENS,)),
        ],
        requests=1,
        statuses=["visited"],
    ),
]


TWO_NEW_VILLAGES = "青川县,彭堡镇,新庄村\n青川县,头营镇,新庄村\n"
PLACE_SCRIPTS = [
    Script(
        "a village typed without its suffix",
        [F("玉米叶子上有虫子 东河", CONFIRMS, "东河村")],
        requests=1,
        places=["东河"],
        villages=["东河村"],
        townships=["城关镇"],
    ),
    Script(
        "我是石坝的",
        [F("我家辣椒叶子发黄 我是石坝的", CONFIRMS, "石坝村")],
        requests=1,
        villages=["石坝村"],
        townships=["木鱼镇"],
    ),
    Script(
        "a township and a village without suffixes",
        [F("玉米叶子上有虫子", "哪个村"), F("木鱼镇石坝", CONFIRMS, "石坝村")],
        requests=1,
        villages=["石坝村"],
        townships=["木鱼镇"],
    ),
    Script(
        "a village in traditional characters",
        [F("辣椒葉子發黃 石壩村的", CONFIRMS, "石坝村")],
        requests=1,
        villages=["石坝村"],
    ),
    Script(
        "a sound-alike typo of the only village that fits",
        [F("玉米叶子上有虫子", "哪个村"), F("石爸村", CONFIRMS, "石坝村")],
        requests=1,
        villages=["石坝村"],
        townships=["木鱼镇"],
    ),
    Script(
        "a name two townships share is asked about, answered by number",
        [
            F("玉米叶子上有虫子 新庄", OPENS, "1 新庄村（彭堡镇） 2 新庄村（头营镇）"),
            F("2", CONFIRMS),
        ],
        requests=1,
        villages=["新庄村"],
        townships=["头营镇"],
        more_places=TWO_NEW_VILLAGES,
    ),
    Script(
        "a name two townships share, answered by the township",
        [F("玉米叶子上有虫子 新庄村", "您是哪一个"), F("彭堡的", CONFIRMS)],
        requests=1,
        villages=["新庄村"],
        townships=["彭堡镇"],
        more_places=TWO_NEW_VILLAGES,
    ),
    Script(
        "a township and a shared village name need no question",
        [F("玉米叶子上有虫子 头营镇新庄", CONFIRMS, not_says=("您是哪一个",))],
        requests=1,
        villages=["新庄村"],
        townships=["头营镇"],
        more_places=TWO_NEW_VILLAGES,
    ),
    Script(
        "a township alone",
        [F("玉米叶子上有虫子 木鱼镇", CONFIRMS)],
        requests=1,
        villages=[None],
        townships=["木鱼镇"],
    ),
    Script(
        "a place nobody imported stays as written, unresolved",
        [F("玉米叶子上有虫子", "哪个村"), F("王家湾", CONFIRMS)],
        requests=1,
        places=["王家湾"],
        villages=[None],
        townships=[None],
    ),
    Script(
        "地里 is not a crop nor a place",
        [
            F("我家地里菜叶子被虫吃了 石坝村", OPENS, "什么作物", not_says=("荸荠",)),
            F("白菜", CONFIRMS, "白菜 · 病虫害"),
        ],
        requests=1,
        crops=["白菜"],
        villages=["石坝村"],
    ),
]
SCRIPTS += PLACE_SCRIPTS


def farmer_requests(engine: Engine) -> list[HelpRequest]:
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == FARMER)).first()
        if farmer is None:
            return []
        return list(
            session.exec(
                select(HelpRequest)
                .where(HelpRequest.farmer_id == farmer.id)
                .order_by(col(HelpRequest.id))
            )
        )


def texts_to(engine: Engine, openid: str) -> list[str]:
    return [
        r.payload["text"]["content"]
        for r in rows(engine, Outbox)
        if r.openid == openid and r.payload.get("msgtype") == "text" and r.status != "dropped"
    ]


@pytest.mark.usefixtures("county")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_conversation(
    script: Script,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    if script.more_places:
        places = tmp_path / "more-places.csv"
        places.write_text("county,township,village\n" + script.more_places, encoding="utf-8")
        imported = CliRunner().invoke(main, ["places", "import", str(places)], env=cli_env)
        assert imported.exit_code == 0, imported.output
    heard: list[str] = []
    for number, turn in enumerate(script.turns, start=1):
        reply = reply_text(
            plain_wechat, post(client, plain_wechat, plain_wechat.text(WHO[turn.who], turn.words))
        )
        heard.append(reply)
        print(f"{turn.who}: {turn.words}\n  → {reply}")
        for expected in turn.says:
            assert expected in reply, (number, turn.words, reply)
        for unexpected in turn.not_says:
            assert unexpected not in reply, (number, turn.words, reply)
    found = farmer_requests(engine)
    assert len(found) == script.requests, [(r.code, r.text, r.status) for r in found]
    if script.open_requests is not None:
        assert sum(r.status not in ("cancelled", "closed") for r in found) == script.open_requests
    for name in ("crops", "categories", "places", "statuses", "villages", "townships"):
        expected = getattr(script, name)
        if expected is not None:
            attribute = {
                "crops": "crop",
                "categories": "category",
                "places": "place",
                "statuses": "status",
                "villages": "village",
                "townships": "township",
            }[name]
            assert [getattr(r, attribute) for r in found] == expected, (name, heard)
    for openid, words in script.expert_told.items():
        sent = "\n".join(texts_to(engine, openid))
        assert all(w in sent for w in words), (openid, sent)
    for openid, words in script.expert_not_told.items():
        sent = "\n".join(texts_to(engine, openid))
        assert not any(w in sent for w in words), (openid, sent)
    told = "\n".join([*heard, *texts_to(engine, FARMER)])
    assert not any(w in told for w in script.farmer_never_told)


def test_there_are_forty_conversations_or_more() -> None:
    assert len(SCRIPTS) >= 40
