"""Understanding a farmer's message: crop, category, symptoms, urgency and place.

The words live in data files under `handlers/lexicon/` (TOML) that staff can extend;
this module only normalises text (traditional → simplified, full-width → half-width,
emoji dropped), matches the lexicons with Aho-Corasick automatons, falls back to
pinyin for homophone typos in crop names (辣交 → 辣椒), and weighs the cues.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import ahocorasick
import opencc
from pypinyin import lazy_pinyin

LEXICON_DIR = Path(__file__).parent / "lexicon"

CATEGORIES = (
    "plant_protection",
    "cultivation",
    "soil_fertilizer",
    "livestock",
    "aquaculture",
    "machinery",
    "market",
    "other",
)
# Which category wins a tie: the more specific first.
_TIE_ORDER = (
    "machinery",
    "market",
    "livestock",
    "aquaculture",
    "soil_fertilizer",
    "plant_protection",
    "cultivation",
    "other",
)
ANIMAL_GROUPS = {"livestock": "livestock", "poultry": "livestock", "aquatic": "aquaculture"}
_PLANT_CATEGORIES = ("plant_protection", "cultivation", "soil_fertilizer")
_SYMPTOM_WEIGHT = 1.5
_ANIMAL_WEIGHT = 2.5
_NAME_WEIGHT = 5.0  # a pesticide, fertiliser or disease named (lexicon/names.toml) decides
_INTENT_DECIDES = 3.0  # a decisive selling or buying word

# Grammar characters: a stretch holding one is a phrase (菜都), not a misspelt name.
_FUNCTION_CHARACTERS = frozenset(
    "的了是在有都就也还又和与很太不没要会能可把被给让着过吧呢吗啊呀得地"
)
# Characters that many crop names share; a homophone match must share another one.
_GENERIC_MORPHEMES = set("子儿头树苗菜瓜果豆花叶草米麦椒茶油白红黑青大小")

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d\u2b00-\u2bff\U0001f1e6-\U0001f1ff]"
)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_PLACE_SUFFIX = re.compile(
    r"(?:省|市|县|(?<![山地小社景园城郊灾牧产片])区|镇|乡|村|屯|旗)(?!场|面|民|里|长|委|级|域|别|分)"
)
# Characters that end a place name when reading backwards from its suffix.
_PLACE_STOPS = set(
    "的了我俺咱们你他她是在住到去从来这那个吗呢啊吧和跟与就都也还又把被给对向往请问说有没里"
)
_PLACE_LONGEST_STEM = 6
_GENERIC_PLACE_STEMS = {
    "农",
    "乡",
    "山",
    "本",
    "全",
    "超",
    "城",
    "菜",
    "集",
    "上",
    "门",
    "夜",
    "股",
    "黑",
    "下",
    "回",
    "邻",
    "外",
    "各",
    "附近",
    "隔壁",
    "周边",
    "同",
    "县",
    "市",
    "镇",
    "村",
    "一个",
    "我们",
}


@dataclass(frozen=True)
class Understanding:
    """What a message says, as far as the lexicons can tell."""

    crop: str | None
    category: str
    urgency: str
    symptoms: list[str] = field(default_factory=list)
    place: str | None = None
    # The farmer's own words for each sign (锈病: ["黄粉", "铁锈"]).
    symptom_words: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (the `farmhelp parse` output)."""
        return asdict(self)


@dataclass(frozen=True)
class Together:
    """A sign said in pieces: one word of every group within a few characters."""

    sign: str
    category: str
    groups: tuple[tuple[str, ...], ...]
    unless: tuple[str, ...]
    span: int  # how far apart (in characters) the pieces may be, within one phrase


_KIND_OF_CATEGORY = {
    "plant_protection": "plants",
    "cultivation": "plants",
    "soil_fertilizer": "plants",
    "livestock": "animals",
    "aquaculture": "fish",
}
_KIND_OF_GROUP = {"livestock": "animals", "poultry": "animals", "aquatic": "fish"}


_TOGETHER_SPAN = 6
# What ends a phrase (the text is normalised: full-width punctuation is ASCII here).
_PHRASE_END = re.compile(r"[。！？!?；;,，、\n]")


@dataclass
class Lexicon:
    """The lexicons, compiled into automatons once per process."""

    crops: Any  # ahocorasick.Automaton: term -> (canonical | None, group)
    crop_groups: dict[str, str]
    families: dict[str, str]  # canonical name -> the generic name of its family
    ordinary: frozenset[str]  # everyday words the sound-alike fallback leaves alone
    crop_pinyin: dict[tuple[str, ...], tuple[str, str]]  # syllables -> (canonical, term)
    symptoms: Any  # term -> ((sign, category), ...)
    together: tuple[Together, ...]  # signs said in pieces (lexicon/signs.toml)
    weak_signs: frozenset[str]  # signs many unrelated problems share
    local_signs: frozenset[str]  # signs of problems that do not spread (weeds, soil)
    sign_kinds: dict[str, str]  # sign -> "plants", "animals", "fish", "fauna" or "" (any)
    on_kind: dict[str, dict[str, str]]  # kind -> {sign: what it means on that kind}
    cues: Any  # term -> (category, weight)
    urgent: Any
    animal_death: Any
    large_scale: Any
    plant_death: Any
    low: Any
    places: Any


def _automaton(entries: dict[str, Any]) -> Any:
    automaton = ahocorasick.Automaton()
    for term, value in entries.items():
        automaton.add_word(term, (term, value))
    if entries:
        automaton.make_automaton()
    return automaton


def _read(name: str, directory: Path) -> dict[str, Any]:
    with (directory / f"{name}.toml").open("rb") as handle:
        return tomllib.load(handle)


def load_lexicon(directory: Path = LEXICON_DIR) -> Lexicon:
    """Read the TOML lexicons from `directory` and compile them."""
    crop_terms: dict[str, tuple[str | None, str]] = {}
    groups: dict[str, str] = {}
    pinyin: dict[tuple[str, ...], tuple[str, str]] = {}
    ambiguous: set[tuple[str, ...]] = set()
    families: dict[str, str] = {}
    ordinary: set[str] = set()
    for group, table in _read("crops", directory).items():
        if group == "ordinary":
            ordinary.update(normalise(word) for word in table.get("words", []))
            continue
        if group == "families":
            families.update({member: name for name, members in table.items() for member in members})
            continue
        if group == "ignore":
            for word in table.get("words", []):
                crop_terms[normalise(word)] = (None, "ignore")
            continue
        for canonical, aliases in table.items():
            groups[canonical] = group
            for term in (canonical, *aliases):
                term = normalise(term)
                crop_terms[term] = (canonical, group)
                if len(term) >= 2 and _CJK_RUN.fullmatch(term):
                    key = tuple(_fuzzy(s) for s in lazy_pinyin(term))
                    if key in pinyin and pinyin[key][0] != canonical:
                        ambiguous.add(key)
                    pinyin.setdefault(key, (canonical, term))
    for key in ambiguous:
        del pinyin[key]

    # A word may say two signs (焦黄: scorched and yellow); each term keeps all of them.
    symptoms: dict[str, tuple[tuple[str, str], ...]] = {}
    for category, table in _read("symptoms", directory).items():
        for symptom, variants in table.items():
            for term in dict.fromkeys(normalise(t) for t in (symptom, *variants)):
                symptoms[term] = (*symptoms.get(term, ()), (symptom, category))
    signs = _read("signs", directory)
    category_of = {sign: category for said in symptoms.values() for sign, category in said}
    for word in signs.get("not_signs", ()):
        symptoms[normalise(word)] = ()  # longer than the sign's word inside it: read as none
    together = tuple(
        Together(
            sign=rule["sign"],
            category=category_of[rule["sign"]],
            groups=tuple(tuple(normalise(w) for w in group) for group in rule["all"]),
            unless=tuple(normalise(w) for w in rule.get("unless", ())),
            span=int(rule.get("span", _TOGETHER_SPAN)),
        )
        for rule in signs.get("together", ())
    )
    cues = {
        normalise(term): (category, _NAME_WEIGHT)
        for category, table in _read("names", directory).items()
        for term in table["names"]
    }
    cues.update(
        {
            normalise(term): (category, float(weight))
            for category, table in _read("categories", directory).items()
            for term, weight in table.items()
        }
    )
    urgency = _read("urgency", directory)
    places = _read("places", directory)
    return Lexicon(
        crops=_automaton(crop_terms),
        crop_groups=groups,
        families=families,
        ordinary=frozenset(ordinary),
        crop_pinyin=pinyin,
        symptoms=_automaton(symptoms),
        together=together,
        weak_signs=frozenset(signs.get("weak", ())),
        local_signs=frozenset(signs.get("not_spreading", ())),
        sign_kinds={
            sign: ""
            if sign in signs.get("shared", ())
            else "fauna"
            if sign in signs.get("fauna", ())
            else _KIND_OF_CATEGORY[category]
            for sign, category in category_of.items()
        },
        on_kind={kind: dict(signs.get(f"on_{kind}", {})) for kind in ("plants", "animals", "fish")},
        cues=_automaton(cues),
        urgent=_automaton({normalise(t): True for t in urgency["urgent"]}),
        animal_death=_automaton({normalise(t): True for t in urgency["animal_death"]}),
        large_scale=_automaton({normalise(t): True for t in urgency["large_scale"]}),
        plant_death=_automaton({normalise(t): True for t in urgency["plant_death"]}),
        low=_automaton({normalise(t): True for t in urgency["low"]}),
        places=_automaton({normalise(t): True for t in places["provinces"] + places["cities"]}),
    )


@cache
def _converter() -> Any:
    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """Full-width → half-width, traditional → simplified, emoji dropped, spaces → "，"."""
    text = unicodedata.normalize("NFKC", text)
    text = _EMOJI.sub("", text)
    text = _converter().convert(text)
    # A space the farmer typed ends a phrase: keep it as a comma, so a place name
    # read backwards from its suffix (木鱼镇) stops there instead of taking "拉稀".
    return "，".join(text.split()).lower()


def _fuzzy(syllable: str) -> str:
    """Fold the initials and finals that pinyin typists and dialects confuse."""
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(a):
            syllable = b + syllable[2:]
    return syllable[:-1] if syllable.endswith("ng") else syllable


def _matches(automaton: Any, text: str) -> list[tuple[int, str, Any]]:
    """Longest non-overlapping matches as (start, term, value)."""
    if len(automaton) == 0:
        return []
    return [(end - len(term) + 1, term, value) for end, (term, value) in automaton.iter_long(text)]


def _said_together(sentence: str, rule: Together) -> str | None:
    """The stretch of a sentence that says `rule`'s sign in pieces (黄色的粉), or None."""
    blanked = sentence
    for word in rule.unless:
        blanked = blanked.replace(word, "·" * len(word))
    found: list[list[tuple[int, int]]] = []
    for group in rule.groups:
        hits = [
            (m.start(), m.end()) for word in group for m in re.finditer(re.escape(word), blanked)
        ]
        if not hits:
            return None
        found.append(hits)
    # The closest pick of one word per group must lie within the span.
    best: tuple[int, int, int] | None = None
    for first in found[0]:
        picks = [first, *(min(hits, key=lambda h: abs(h[0] - first[0])) for hits in found[1:])]
        start, end = min(p[0] for p in picks), max(p[1] for p in picks)
        if end - start <= rule.span and (best is None or end - start < best[0]):
            best = (end - start, start, end)
    return sentence[best[1] : best[2]] if best else None


def _any(automaton: Any, text: str) -> bool:
    return len(automaton) > 0 and next(automaton.iter(text), None) is not None


class Parser:
    """Turns a farmer's words into an Understanding; build once, call many times."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or load_lexicon()

    def parse(
        self, text: str, *, place: str | None = None, known_places: tuple[str, ...] = ()
    ) -> Understanding:
        """Understand one message; `place` (from a QR scene or location) is the fallback.

        Words inside place names (马园村, 牛家村, or a village in `known_places`) are
        not read as crops or animals.
        """
        clean = normalise(text)
        spans = self.place_spans(clean, known_places)
        crop = self.find_crop(clean, outside=spans)
        group = self.lexicon.crop_groups.get(crop) if crop else None
        said = self._signs(clean)
        symptoms = [(sign, category) for sign, (category, _words) in said.items()]
        category = self._category(clean, group, symptoms, outside=spans)
        if group is not None:
            said = self._for_kind(said, _KIND_OF_GROUP.get(group, "plants"))
            symptoms = [(sign, category) for sign, (category, _words) in said.items()]
        urgency = self._urgency(clean, group, category, symptoms)
        return Understanding(
            crop=crop,
            category=category,
            urgency=urgency,
            symptoms=[name for name, _ in symptoms],
            place=(clean[spans[0][0] : spans[0][1]] if spans else None) or place,
            symptom_words={sign: words for sign, (_c, words) in said.items()},
        )

    def signs(self, text: str) -> dict[str, list[str]]:
        """The canonical signs a text describes, each with the farmer's words for it."""
        return self.parse(text).symptom_words

    def _for_kind(
        self, said: dict[str, tuple[str, list[str]]], kind: str
    ) -> dict[str, tuple[str, list[str]]]:
        """The signs as they read on plants, animals or fish (a fish's 斑点 is 烂身)."""
        meaning = self.lexicon.on_kind[kind]
        kinds = self.lexicon.sign_kinds
        kept: dict[str, tuple[str, list[str]]] = {}
        for sign, (category, words) in said.items():
            sign = meaning.get(sign, sign)
            belongs = kinds.get(sign, "")
            if belongs not in ("", kind) and not (belongs == "fauna" and kind != "plants"):
                continue
            known = kept.setdefault(sign, (category, []))[1]
            known.extend(w for w in words if w not in known)
        return kept

    def weak(self, sign: str) -> bool:
        """Whether a sign is one that many unrelated problems share (黄叶, 不吃食)."""
        return sign in self.lexicon.weak_signs

    def spreading(self, sign: str) -> bool:
        """Whether a sign can mark an outbreak: said of one problem (not weak) that
        passes from farm to farm (not weeds, a nutrient lacking or poor soil)."""
        return sign not in self.lexicon.weak_signs and sign not in self.lexicon.local_signs

    def about_farming(self, text: str) -> bool:
        """Whether a text names any crop, animal, symptom or farming word at all."""
        clean = normalise(text)
        lexicon = self.lexicon
        if _any(lexicon.symptoms, clean) or _any(lexicon.cues, clean):
            return True
        if _any(lexicon.urgent, clean) or _any(lexicon.animal_death, clean):
            return True
        return self.find_crop(clean) is not None

    def different_problem(self, *, crop: str | None, category: str, other: Understanding) -> bool:
        """Whether `other` is clearly about something else than a request of this crop
        and category: another crop or animal, or plants against animals."""
        if crop and other.crop:
            return self.family(crop) != self.family(other.crop)
        if not (other.symptoms or other.crop):
            return False  # no subject of its own: it adds to the request
        animal = {"livestock", "aquaculture"}
        was_animal = (
            category in animal
            or ANIMAL_GROUPS.get(self.lexicon.crop_groups.get(crop or "", ""), "") in animal
        )
        is_animal = other.category in animal
        if category == "other" or other.category == "other":
            return False
        return was_animal != is_animal

    def family(self, crop: str) -> str:
        """The family a crop or animal belongs to for matching (肉牛 and 奶牛: 牛)."""
        return self.lexicon.families.get(crop, crop)

    def family_members(self, family: str) -> list[str]:
        """Every canonical name of a family, the generic one first (牛, 肉牛, 奶牛)."""
        return [family, *(m for m, f in self.lexicon.families.items() if f == family)]

    def crops_match(self, farmer_crop: str, expert_crop: str) -> bool:
        """Whether an expert listing `expert_crop` covers a case about `farmer_crop`:
        the same name, or a generic name and one of its family (牛 ↔ 肉牛)."""
        return (
            farmer_crop == expert_crop
            or self.family(farmer_crop) == expert_crop
            or self.family(expert_crop) == farmer_crop
        )

    def find_crop(self, clean: str, outside: list[tuple[int, int]] | None = None) -> str | None:
        """Return the crop or animal named most often (first on a tie), pinyin as fallback.

        Names lying wholly inside one of the `outside` spans (place names) do not count.
        """
        counts: dict[str, int] = defaultdict(int)
        first: dict[str, int] = {}
        spans = outside or []
        for start, term, (canonical, _group) in _matches(self.lexicon.crops, clean):
            if any(begin <= start and start + len(term) <= end for begin, end in spans):
                continue
            if canonical is not None:
                counts[canonical] += 1
                first.setdefault(canonical, start)
        if counts:
            return max(counts, key=lambda name: (counts[name], -first[name]))
        return self._crop_by_pinyin(_blank_out(clean, spans))

    def _crop_by_pinyin(self, clean: str) -> str | None:
        index = self.lexicon.crop_pinyin
        # Characters already read as a symptom (小虫 is an insect, not 小葱).
        understood = {
            at
            for start, term, _ in _matches(self.lexicon.symptoms, clean)
            for at in range(start, start + len(term))
        }
        for found in _CJK_RUN.finditer(clean):
            run, offset = found.group(), found.start()
            syllables = [_fuzzy(s) for s in lazy_pinyin(run)]
            for size in (4, 3, 2):
                for start in range(len(run) - size + 1):
                    known = index.get(tuple(syllables[start : start + size]))
                    if known is None:
                        continue
                    canonical, term = known
                    written = run[start : start + size]
                    if any(word in self.lexicon.ordinary for word in _around(run, start, size)):
                        continue  # part of an everyday word: 地里 is not 地栗
                    # A typo changes a character, rarely all of them: "都叫" is not 豆角,
                    # and sharing only a suffix is no evidence: "叶子" is not 椰子.
                    shared = [a for a, b in zip(written, term, strict=True) if a == b]
                    # A shared generic character (花 of 花生) is enough when every other
                    # character sounds the same and the stretch is no everyday word.
                    if any(a not in _GENERIC_MORPHEMES for a in shared) or (
                        shared
                        and written not in self.lexicon.ordinary
                        and not _FUNCTION_CHARACTERS.intersection(written)
                        and not understood.intersection(
                            range(offset + start, offset + start + size)
                        )
                    ):
                        return canonical
        return None

    def _signs(self, clean: str) -> dict[str, tuple[str, list[str]]]:
        """sign -> (its category, the words that said it), in the order first said."""
        seen: dict[str, tuple[str, list[str]]] = {}
        for _start, term, said in _matches(self.lexicon.symptoms, clean):
            for symptom, category in said:
                words = seen.setdefault(symptom, (category, []))[1]
                if term not in words:
                    words.append(term)
        rules = [
            rule
            for rule in self.lexicon.together
            if rule.sign not in seen
            and all(any(word in clean for word in group) for group in rule.groups)
        ]
        if rules:
            # Crop names are no pieces of a sign: the 黄 of 黄瓜 is no colour.
            blanked = clean
            for start, term, _value in _matches(self.lexicon.crops, clean):
                blanked = blanked[:start] + "·" * len(term) + blanked[start + len(term) :]
            phrases = [p for p in _PHRASE_END.split(blanked) if p]
            for rule in rules:
                for phrase in phrases:
                    stretch = _said_together(phrase, rule)
                    if stretch and rule.sign not in seen:
                        seen[rule.sign] = (rule.category, [stretch])
                        break
        return seen

    def _category(
        self,
        clean: str,
        group: str | None,
        symptoms: list[tuple[str, str]],
        outside: list[tuple[int, int]] = (),  # type: ignore[assignment]
    ) -> str:
        scores: dict[str, float] = defaultdict(float)
        named_animal = None
        crop_words = [(at, at + len(term)) for at, term, _ in _matches(self.lexicon.crops, clean)]
        for start, term, (category, weight) in _matches(self.lexicon.cues, clean):
            if len(term) == 1 and any(begin <= start < end for begin, end in outside):
                continue  # one character inside a place name: the 肥 of 合肥 is no fertiliser
            if any(
                b <= start and start + len(term) <= e and e - b > len(term) for b, e in crop_words
            ):
                continue  # inside a crop's name: the 菌 of 羊肚菌 is no disease
            scores[category] += weight
            if weight >= _NAME_WEIGHT and category in ("livestock", "aquaculture"):
                named_animal = named_animal or category  # 蓝耳病, 小瓜虫: the animal is meant
        for _symptom, category in symptoms:
            scores[category] += _SYMPTOM_WEIGHT
        if not symptoms and scores.get("market", 0.0) >= _INTENT_DECIDES:
            # Selling, buying and prices decide over the animal or crop named:
            # 土鸡想卖 is for the market, not the vet.
            return "market"
        animal_category = ANIMAL_GROUPS.get(group or "") or (
            named_animal if group is None else None
        )
        if animal_category:
            # Illness, care and feed of animals are the vet's or the fish farmer's job.
            scores[animal_category] += _ANIMAL_WEIGHT
            for category in (*_PLANT_CATEGORIES, "livestock", "aquaculture"):
                if category != animal_category:
                    scores[animal_category] += scores.pop(category, 0.0)
        elif group is not None:
            for category in ("livestock", "aquaculture"):
                scores["plant_protection"] += scores.pop(category, 0.0) / 2
        best = max(scores.values(), default=0.0)
        if best <= 0:
            return "cultivation" if group is not None else "other"
        return next(c for c in _TIE_ORDER if scores.get(c, 0.0) == best)

    def _urgency(
        self, clean: str, group: str | None, category: str, symptoms: list[tuple[str, str]]
    ) -> str:
        lexicon = self.lexicon
        if _any(lexicon.urgent, clean):
            return "urgent"
        is_animal = group in ANIMAL_GROUPS or category in ("livestock", "aquaculture")
        if is_animal and _any(lexicon.animal_death, clean):
            return "urgent"
        if not is_animal and _any(lexicon.large_scale, clean) and _any(lexicon.plant_death, clean):
            return "urgent"
        if category in ("market", "other"):
            return "low"
        if not symptoms and _any(lexicon.low, clean):
            return "low"
        return "normal"

    def find_place(self, clean: str, known_places: tuple[str, ...] = ()) -> str | None:
        """Return the first place named (adjacent names joined: 四川成都, 夏津县苏留庄镇)."""
        spans = self.place_spans(clean, known_places)
        return clean[spans[0][0] : spans[0][1]] if spans else None

    def place_spans(self, clean: str, known_places: tuple[str, ...] = ()) -> list[tuple[int, int]]:
        """Every place name in the text as (start, end), adjacent ones merged, in order."""
        # A city inside a longer word is no place: 复合肥 holds 合肥.
        words = [(at, at + len(term)) for at, term, _ in _matches(self.lexicon.cues, clean)]
        spans = [
            (start, start + len(term))
            for start, term, _ in _matches(self.lexicon.places, clean)
            if not any(
                begin <= start and start + len(term) <= end and end - begin > len(term)
                for begin, end in words
            )
        ]
        for name in known_places:
            at = clean.find(name) if name else -1
            while at >= 0:
                spans.append((at, at + len(name)))
                at = clean.find(name, at + 1)
        for match in _PLACE_SUFFIX.finditer(clean):
            start = match.start()
            while (
                start > 0
                and match.start() - start < _PLACE_LONGEST_STEM
                and _CJK_RUN.match(clean[start - 1])
                and clean[start - 1] not in _PLACE_STOPS
            ):
                start -= 1
            stem = clean[start : match.start()]
            if stem and stem not in _GENERIC_PLACE_STEMS:
                spans.append((start, match.end()))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, stop in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
            else:
                merged.append((start, stop))
        return merged


def _around(run: str, start: int, size: int) -> list[str]:
    """The window itself and the stretches one character wider on either side."""
    stop = start + size
    return [
        run[start:stop],
        run[max(start - 1, 0) : stop],
        run[start : stop + 1],
        run[max(start - 1, 0) : stop + 1],
    ]


def _blank_out(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace the spans by a character no lexicon matches (keeping positions)."""
    for start, stop in spans:
        text = text[:start] + "|" * (stop - start) + text[stop:]
    return text


@cache
def default_parser() -> Parser:
    """The parser over the packaged lexicons, built once per process."""
    return Parser()
