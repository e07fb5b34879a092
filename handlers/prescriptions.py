"""Safe prescriptions: no banned pesticide, no restricted one on a crop it is barred
from, a safety interval (安全间隔期) whenever a crop is sprayed, and no absurd dose.

The banned and restricted pesticides are data (`lexicon/pesticide_rules.toml`, with
its source and date); `farmhelp pesticides update FILE` installs a newer list in the
instance folder, which is then used instead. The same checks run on the workbench's
prescription form and on the typed `完成` command.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import ahocorasick

from handlers.understanding import ANIMAL_GROUPS, LEXICON_DIR, default_parser, normalise

SHIPPED_RULES = LEXICON_DIR / "pesticide_rules.toml"
RULES_FILE_NAME = "pesticide_rules.toml"

_INTERVAL = re.compile(
    r"(?:安全间隔期|采收前|收获前|采摘前)\s*[:：为是]?\s*(\d{1,3}|[一二两三四五六七八九十]{1,3})\s*(天|日|周|星期)?"
)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(毫升|ml|毫克|mg|千克|公斤|kg|克|g|斤|升|l)?", re.I)
_GRAMS = {
    "毫克": 0.001, "mg": 0.001, "克": 1, "g": 1, "毫升": 1, "ml": 1, "斤": 500,
    "公斤": 1000, "千克": 1000, "kg": 1000, "升": 1000, "l": 1000,
}  # fmt: skip
# The most of one product a dose may hold, in grams or millilitres, per unit counted.
# Above it the expert is asked to check the dose (and may confirm it on the form).
DOSE_LIMITS = {
    "每亩": 50_000,
    "每株": 5_000,
    "每桶水（15 公斤）": 1_000,
    "每头": 5_000,
    "每只": 500,
    "每公斤体重": 10,
    "每吨饲料": 20_000,
    "每亩水面": 500_000,
    "每立方米水体": 500,
    "每公斤鱼体重": 10,
}


class RulesError(ValueError):
    """A pesticide list that cannot be used, with what is wrong in it."""


@dataclass(frozen=True)
class Restriction:
    names: tuple[str, ...]
    crops: frozenset[str]  # canonical crop names it may not be used on
    reason: str


@dataclass(frozen=True)
class _Name:
    term: str  # as written in the text (normalised)
    listed: str | None  # the listed pesticide it names; None: an unlisted longer name


# Words around a name that say it is not being prescribed.
_HARM_AFTER = ("药害", "残留", "飘移", "漂移", "中毒", "超标")
_NOT_BEFORE = ("不要", "别再", "别用", "停用", "禁用", "不能用", "不用", "不要再用", "换掉")


def _only_mentioned(clean: str, start: int, end: int) -> bool:
    after, before = clean[end : end + 6], clean[max(0, start - 5) : start]
    return any(w in after for w in _HARM_AFTER) or any(w in before for w in _NOT_BEFORE)


@dataclass(frozen=True)
class PesticideRules:
    """The banned and restricted pesticides, with the list's source and date."""

    source: str
    as_of: str
    banned: dict[str, str]  # name -> reason
    restricted: tuple[Restriction, ...]
    automaton: Any  # name -> name, for finding them in an expert's words

    def find(self, text: str) -> list[str]:
        """The listed pesticides a text prescribes, in order: by name or alias, not
        inside a longer unlisted name, and not where the text only says of it that it
        did harm or must not be used (百草枯飘移药害, 不要再用氧乐果)."""
        clean = normalise(text.replace(" ", ""))
        if len(self.automaton) == 0:
            return []
        found = []
        for end, name in self.automaton.iter_long(clean):
            start = end + 1 - len(name.term)
            if name.listed is None or _only_mentioned(clean, start, end + 1):
                continue
            found.append(name.listed)
        return list(dict.fromkeys(found))


def load_rules(path: Path) -> PesticideRules:
    """Read and check a pesticide list; RulesError says what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RulesError(f"{path.name}: {error}") from error
    for key in ("source", "as_of"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RulesError(
                f"{path.name}: `{key}` is missing (where the list comes from, and its date)"
            )
    classes = data.get("classes", {})
    parser = default_parser()
    groups = parser.lexicon.crop_groups
    banned: dict[str, str] = {}
    for entry in _entries(data, "banned", path):
        banned.update(dict.fromkeys(entry["names"], entry["reason"]))
    restricted = []
    for entry in _entries(data, "restricted", path):
        crops: set[str] = set()
        for name in entry.get("not_on", []):
            if name not in classes:
                raise RulesError(f"{path.name}: the class {name!r} is not in [classes]")
            for member in classes[name]:
                if member.startswith("group:"):
                    crops.update(c for c, g in groups.items() if g == member[6:])
                elif member in groups:
                    crops.add(member)
                else:
                    raise RulesError(f"{path.name}: {member!r} in class {name!r} is no known crop")
        if not crops:
            raise RulesError(f"{path.name}: a restricted entry lists no crop (`not_on`)")
        restricted.append(Restriction(tuple(entry["names"]), frozenset(crops), entry["reason"]))
    listed = {*banned, *(n for r in restricted for n in r.names)}
    aliases = dict(data.get("aliases", {}))
    unknown = [a for a, name in aliases.items() if name not in listed]
    if unknown:
        raise RulesError(f"{path.name}: the alias {unknown[0]!r} names no listed pesticide")
    automaton = ahocorasick.Automaton()
    for name in listed:
        automaton.add_word(normalise(name), _Name(normalise(name), name))
    for alias, name in aliases.items():
        automaton.add_word(normalise(alias), _Name(normalise(alias), name))
    for name in data.get("unlisted", {}).get("names", []):
        automaton.add_word(normalise(name), _Name(normalise(name), None))
    if len(automaton):
        automaton.make_automaton()
    return PesticideRules(
        source=data["source"].strip(),
        as_of=data["as_of"].strip(),
        banned=banned,
        restricted=tuple(restricted),
        automaton=automaton,
    )


def _entries(data: dict[str, Any], kind: str, path: Path) -> list[dict[str, Any]]:
    entries = data.get(kind, [])
    for entry in entries:
        names, reason = entry.get("names"), entry.get("reason")
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise RulesError(f"{path.name}: a [[{kind}]] entry has no `names`")
        if not isinstance(reason, str) or not reason.strip():
            raise RulesError(f"{path.name}: the [[{kind}]] entry of {names[0]} has no `reason`")
    return list(entries)


def rules_path(instance_dir: Path | None) -> Path:
    """The list in use: the one installed in the instance folder, else the shipped one."""
    if instance_dir is not None and (instance_dir / RULES_FILE_NAME).is_file():
        return instance_dir / RULES_FILE_NAME
    return SHIPPED_RULES


def current_rules(instance_dir: Path | None) -> PesticideRules:
    """The list in use, read again only when its file changes."""
    path = rules_path(instance_dir)
    return _cached(path, path.stat().st_mtime_ns)


@cache
def _cached(path: Path, _mtime: int) -> PesticideRules:
    return load_rules(path)


def refusal(text: str, *, crop: str | None, category: str, rules: PesticideRules) -> str | None:
    """Why a prescription naming these products may not be sent, or None."""
    for name in rules.find(text):
        if name in rules.banned:
            return f"不能开这个处方：{name}是{rules.banned[name]}。请换一种合法登记的药剂。"
        if not for_crops(crop, category):
            continue
        for restriction in rules.restricted:
            if name not in restriction.names:
                continue
            if crop is None:
                return (
                    f"不能开这个处方：{name}{restriction.reason}，这个求助还不知道是什么作物。"
                    "请先问清作物，或换一种药剂。"
                )
            if crop in restriction.crops:
                return (
                    f"不能开这个处方：{name}{restriction.reason}（《禁限用农药名录》），"
                    f"这个求助是{crop}。请换一种登记在{crop}上的药剂。"
                )
    return None


def for_crops(crop: str | None, category: str) -> bool:
    """Whether a request is about plants (not animals or a pond)."""
    group = default_parser().lexicon.crop_groups.get(crop or "")
    return group not in ANIMAL_GROUPS and category not in ("livestock", "aquaculture")


def sprays_a_crop(text: str, crop: str | None, category: str, rules: PesticideRules) -> bool:
    """Whether a prescription for a food crop (not an animal, a pond, a lawn or a tree
    grown for timber) names a pesticide it is to be sprayed with."""
    if not for_crops(crop, category) or crop in NOT_EATEN:
        return False
    clean = normalise(text.replace(" ", ""))
    return _names_a_pesticide(clean) or bool(rules.find(text)) or bool(_MIXTURE.search(clean))


# Crops nobody harvests to eat: no safety interval is asked for them.
NOT_EATEN = frozenset(
    {"草坪", "杨树", "松树", "杉树", "月季", "兰花", "多肉", "橡胶", "桂花", "棉花", "烟草"}
)
# A mixture's short name (霜脲·锰锌, 甲霜·锰锌) is a pesticide even when its parts are not
# in names.toml.
_MIXTURE = re.compile(r"[\u4e00-\u9fff]{1,4}[·・][\u4e00-\u9fff]{1,4}")


def _names_a_pesticide(clean: str) -> bool:
    automaton = _pesticide_names()
    return any(
        not _only_mentioned(clean, end + 1 - len(term), end + 1)
        for end, term in automaton.iter_long(clean)
    )


@cache
def _pesticide_names() -> Any:
    with (LEXICON_DIR / "names.toml").open("rb") as handle:
        names = tomllib.load(handle)["plant_protection"]["names"]
    automaton = ahocorasick.Automaton()
    for name in names:
        if len(name) >= 2:
            automaton.add_word(normalise(name), normalise(name))
    automaton.make_automaton()
    return automaton


def interval_days(text: str) -> int | None:
    """The longest safety interval a prescription gives, in days (安全间隔期 7 天 → 7,
    安全间隔期为十五天 → 15, 安全间隔期一周 → 7, 采收前 10 天停药 → 10)."""
    days = [
        _number(amount) * (7 if unit in ("周", "星期") else 1)
        for amount, unit in _INTERVAL.findall(text)
    ]
    return max(days) if days else None


_NUMERALS = dict(zip("一二两三四五六七八九", (1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))


def _number(amount: str) -> int:
    """7, 十五, 二十一 → 7, 15, 21."""
    if amount.isdigit():
        return int(amount)
    if "十" not in amount:
        return _NUMERALS.get(amount, 0)
    tens, _, ones = amount.partition("十")
    return _NUMERALS.get(tens, 1) * 10 + _NUMERALS.get(ones, 0)


def missing_interval(
    text: str, *, crop: str | None, category: str, rules: PesticideRules, typed: bool = True
) -> str | None:
    """Ask for the safety interval when a food crop is sprayed without one."""
    if sprays_a_crop(text, crop, category, rules) and interval_days(text) is None:
        if typed:
            return (
                "请写上安全间隔期（最后一次打药到采收要隔几天），如“……安全间隔期 7 天”。"
                "农户收到的处方会提醒他几天内不能采收。"
            )
        return "请填写“安全间隔期”（最后一次打药到采收要隔几天，如 7 天）。"
    return None


def harvest_warning(text: str, *, crop: str | None, category: str) -> str:
    """The plain warning the farmer gets with a sprayed food crop's prescription (the
    longest interval of its products)."""
    days = interval_days(text)
    if days is None or not for_crops(crop, category) or crop in NOT_EATEN:
        return ""
    return f"\n⚠ 注意：最后一次打药后 {days} 天内不要采收、不要上市。"


def dose_problem(dose: str, unit: str, *, row: int) -> str | None:
    """Why a dose cannot be right (0, or far more than anyone uses per unit), or None."""
    found = _AMOUNT.search(dose.replace("，", "").replace(",", ""))
    if found is None:
        return None
    amount = float(found.group(1))
    if amount <= 0:
        return f"用药{row} 的用量是 0，请写上实际用量"
    unit_of_amount = (found.group(2) or "").lower()
    limit = DOSE_LIMITS.get(unit)
    if not unit_of_amount or limit is None:
        return None
    grams = amount * _GRAMS[unit_of_amount]
    if grams > limit:
        shown = f"{limit / 1000:g} 公斤（升）" if limit >= 1000 else f"{limit:g} 克（毫升）"
        return (
            f"用药{row}：{unit} {dose.strip()} 太多了（{unit}一般不超过 {shown}），请核对用量；"
            "确实是这个用量的话，勾选“用量我核对过”再提交"
        )
    return None
