"""Message understanding: crop, category, symptoms, urgency and place."""

from __future__ import annotations

import pytest

from handlers.understanding import Parser, default_parser, normalise


@pytest.fixture(scope="module")
def parser() -> Parser:
    return default_parser()


CLEAN = "我家辣椒叶子发黄了，还有斑点，用什么药？"
VARIANTS = {
    "traditional": "我家辣椒葉子發黃了，還有斑點，用什麼藥？",
    "homophone typo": "我家辣交叶子发黄了，还有斑点，用什么药？",
    "voice, no punctuation": "我家辣椒叶子发黄了还有斑点用什么药",
    "full-width and emoji": "我家辣椒叶子发黄了😭😭，还有斑点，用什么药？？🌶️",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_give_the_same_crop_and_category(parser: Parser, variant: str) -> None:
    clean = parser.parse(CLEAN)
    assert (clean.crop, clean.category) == ("辣椒", "plant_protection")
    other = parser.parse(VARIANTS[variant])
    assert (other.crop, other.category) == (clean.crop, clean.category)


@pytest.mark.parametrize(
    ("clean", "variant"),
    [
        ("玉米叶子卷了怎么回事", "玉迷叶子卷了怎么回事"),
        ("我家的苹果树烂根了", "我家的蘋果樹爛根了"),
        ("猪拉稀不吃食怎么办", "豬拉稀不吃食怎麼辦"),
        ("西红柿裂果了", "西红事裂果了"),
    ],
)
def test_more_variant_pairs(parser: Parser, clean: str, variant: str) -> None:
    a, b = parser.parse(clean), parser.parse(variant)
    assert a.crop is not None
    assert (a.crop, a.category) == (b.crop, b.category)


@pytest.mark.parametrize(
    ("text", "crop"),
    [
        ("苞谷出苗不齐", "玉米"),
        ("洋芋晚疫病", "马铃薯"),
        ("土豆发芽了", "马铃薯"),
        ("西红柿脐腐", "番茄"),
        ("鸡粪能给葡萄做底肥吗", "葡萄"),
        ("他们都叫我问问补贴", None),
    ],
)
def test_synonyms_and_local_names(parser: Parser, text: str, crop: str | None) -> None:
    assert parser.parse(text).crop == crop


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("小麦追肥用尿素还是复合肥", "soil_fertilizer"),
        ("母猪产后不吃食发烧", "livestock"),
        ("鱼塘的草鱼烂鳃", "aquaculture"),
        ("拖拉机打不着火冒黑烟", "machinery"),
        ("今年生姜什么价格", "market"),
        ("农机购置补贴怎么申请", "other"),
        ("葡萄什么时候修剪", "cultivation"),
        ("黄瓜叶子上有白粉", "plant_protection"),
    ],
)
def test_categories(parser: Parser, text: str, category: str) -> None:
    assert parser.parse(text).category == category


def test_urgent_and_low(parser: Parser) -> None:
    assert parser.parse("我家猪死了好几头了 快来人").urgency == "urgent"
    assert parser.parse("水稻大面积枯死 一下子全黄了").urgency == "urgent"
    assert parser.parse("辣椒死了几棵").urgency == "normal"
    assert parser.parse("现在玉米多少钱一斤").urgency == "low"
    assert parser.parse("西瓜叶子有斑点").urgency == "normal"


def test_symptoms_and_place(parser: Parser) -> None:
    understood = parser.parse("我是王家村的，辣椒卷叶还有蚜虫")
    assert understood.symptoms == ["卷叶", "蚜虫"]
    assert understood.place == "王家村"
    assert parser.parse("四川成都 柑橘黄叶").place == "四川成都"
    assert parser.parse("辣椒黄叶", place="李家村").place == "李家村"
    assert parser.parse("到超市卖菜").place is None
    assert parser.parse("我家辣椒叶子发黄了 我是李家村的").place == "李家村"
    assert parser.parse("山东德州夏津县苏留庄镇玉米黄叶").place == "山东德州夏津县苏留庄镇"
    assert parser.parse("我们村的鸡不下蛋").place is None


def test_normalise() -> None:
    # Full-width → half-width, traditional → simplified; a typed space ends a phrase.
    assert normalise("ＡＢＣ１２３葉子") == "abc123叶子"
    assert normalise("ＡＢＣ　１２３ 葉子") == "abc，123，叶子"


def test_a_space_ends_a_place_name() -> None:
    from handlers.understanding import default_parser

    assert default_parser().parse("我家的猪不吃食 拉稀 木鱼镇").place == "木鱼镇"


def test_parse_command(tmp_path: object) -> None:
    import json

    from click.testing import CliRunner

    from bot.cli import main

    result = CliRunner().invoke(main, ["parse"], input="辣椒叶子发黄\n\n牛不反刍\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0] == {
        "crop": "辣椒",
        "category": "plant_protection",
        "urgency": "normal",
        "symptoms": ["黄叶"],
        "place": None,
        "symptom_words": {"黄叶": ["叶子发黄"]},
    }
    assert rows[1]["crop"] is None and rows[2]["crop"] == "牛"
