"""Places as farmers type them, resolved against the county's imported villages.

A farmer writes `东河` for 东河村, `我是硝沟的`, `开城镇东河`, `東河村` or a sound-alike
typo (`东和`). Each imported village and township is known by its full name, by its
name without the suffix (村, 镇, 乡 …) when two characters or more remain, and by the
pinyin of that stem. A text names the places whose names it contains; when only a
sound-alike fits, it must fit exactly one place and share a character with it. A
village named together with its township is that village; a village name shared by
two townships is ambiguous until the township is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
from pypinyin import lazy_pinyin
from sqlmodel import Session, col, select

from handlers.registry import Context
from handlers.understanding import _fuzzy, normalise
from models.experts import KnownPlace, PlaceBook, place_book
from models.tables import HelpRequest

_SUFFIX = re.compile(r"(?:村民委员会|村委会|社区|村|屯|庄|组|镇|乡|街道|办事处)$")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Stems that are everyday words: a farmer writing them is not naming the place.
_ORDINARY = {
    "中心", "新农", "东方", "西方", "南方", "北方", "前进", "红星", "胜利", "团结", "和平",
    "光明", "幸福", "建设", "发展", "大地", "上面", "下面", "里面", "外面", "地里", "家里",
    "今天", "明天", "这里", "那里", "一下", "一点", "没有", "什么", "怎么", "叶子", "果子",
}  # fmt: skip


@dataclass(frozen=True)
class PlaceFound:
    """What a text says about where: the places that fit, and the words that said it."""

    places: tuple[KnownPlace, ...]
    words: str | None

    @property
    def resolved(self) -> KnownPlace | None:
        """The one place meant, when exactly one fits."""
        return self.places[0] if len(self.places) == 1 else None


def stem(name: str) -> str:
    """A place name without its suffix (东河村 → 东河), if two characters or more remain."""
    bare = _SUFFIX.sub("", name)
    return bare if len(bare) >= 2 else name


_FOUND_KEPT = 4096  # texts whose places an index remembers (a request's text is re-read
# on each of its farmer's pushes until its place is settled)


@dataclass
class _Index:
    automaton: Any  # term -> (term, [(kind, KnownPlace)])
    sounds: dict[tuple[str, ...], list[tuple[str, KnownPlace]]]
    found: dict[str, PlaceFound] = field(default_factory=dict)  # text -> its places


# The indexes of the last few books read, by the book's identity: a book is read once
# per import and shared, and hashing one hashes every place in it.
_INDEXES: dict[int, tuple[PlaceBook, _Index]] = {}


def _index(book: PlaceBook) -> _Index:
    kept = _INDEXES.get(id(book))
    if kept is not None and kept[0] is book:
        return kept[1]
    if len(_INDEXES) >= 4:
        _INDEXES.clear()
    index = _build_index(book)
    _INDEXES[id(book)] = (book, index)
    return index


def _build_index(book: PlaceBook) -> _Index:
    terms: dict[str, list[tuple[str, KnownPlace]]] = {}
    sounds: dict[tuple[str, ...], list[tuple[str, KnownPlace]]] = {}
    townships = {p.township: p.county for p in book.places if p.township}
    named = [
        *(("village", p) for p in book.places if p.village),
        *(("township", KnownPlace(county, name, "")) for name, county in townships.items()),
    ]
    for kind, known in named:
        name = known.village or known.township
        for term in {normalise(name), normalise(stem(name))}:
            if len(term) < 2 or term in _ORDINARY:
                continue
            terms.setdefault(term, []).append((kind, known))
        bare = normalise(stem(name))
        if (
            kind == "village"
            and len(bare) >= 2
            and _CJK_RUN.fullmatch(bare)
            and bare not in _ORDINARY
        ):
            key = tuple(_fuzzy(s) for s in lazy_pinyin(bare))
            sounds.setdefault(key, []).append((bare, known))
    automaton = ahocorasick.Automaton()
    for term, places in terms.items():
        automaton.add_word(term, (term, places))
    if terms:
        automaton.make_automaton()
    return _Index(automaton, sounds)


def find_places(text: str, book: PlaceBook) -> PlaceFound:
    """The imported places a text names (see the module's docstring for how)."""
    index = _index(book)
    found = index.found.get(text)
    if found is None:
        if len(index.found) >= _FOUND_KEPT:
            index.found.clear()
        found = index.found[text] = _find_places(text, book, index)
    return found


def _find_places(text: str, book: PlaceBook, index: _Index) -> PlaceFound:
    clean = normalise(text)
    villages: dict[KnownPlace, str] = {}
    townships: dict[str, str] = {}
    if len(index.automaton) > 0:
        for end, (term, places) in index.automaton.iter_long(clean):
            written = clean[end - len(term) + 1 : end + 1]
            for kind, known in places:
                if kind == "village":
                    villages.setdefault(known, written)
                else:
                    townships.setdefault(known.township, written)
    if not villages and not townships:
        villages = _sounds_like(clean, index)
    if villages:
        named_townships = set(townships)
        chosen = [v for v in villages if v.township in named_townships] or list(villages)
        distinct = tuple(dict.fromkeys(chosen))
        words = "".join(
            dict.fromkeys([townships.get(distinct[0].township, ""), villages[distinct[0]]])
        )
        return PlaceFound(distinct, words)
    if townships:
        places = tuple(_township(book, name) for name in townships)
        return PlaceFound(places, next(iter(townships.values())))
    return PlaceFound((), None)


def _township(book: PlaceBook, name: str) -> KnownPlace:
    county = next(p.county for p in book.places if p.township == name)
    return KnownPlace(county=county, township=name, village="")


def _sounds_like(clean: str, index: _Index) -> dict[KnownPlace, str]:
    """Villages whose stem sounds like a stretch of the text and shares a character."""
    found: dict[KnownPlace, str] = {}
    for run in _CJK_RUN.findall(clean):
        syllables = [_fuzzy(s) for s in lazy_pinyin(run)]
        for size in (4, 3, 2):
            for start in range(len(run) - size + 1):
                written = run[start : start + size]
                if written in _ORDINARY:
                    continue
                for bare, known in index.sounds.get(tuple(syllables[start : start + size]), []):
                    if any(a == b for a, b in zip(written, bare, strict=True)):
                        found.setdefault(known, written)
    villages = {k: w for k, w in found.items() if k.village}
    return villages if len(villages) == 1 else {}


def settle_request_place(context: Context, request: HelpRequest) -> tuple[KnownPlace, ...]:
    """Resolve the request's place against the imported villages (the farmer's words stay
    in `place`); return the choices when the name fits several."""
    if request.village:
        return ()
    book = place_book(session=context.session)
    found = [
        find_places(source, book)
        for source in (request.text, request.place, context.farmer.place)
        if source
    ]
    # A village beats a choice of villages, which beats a township alone.
    village = next((f for f in found if f.resolved and f.resolved.village), None)
    choice = next((f for f in found if len(f.places) > 1), None)
    township = next((f for f in found if f.resolved), None)
    best = village or choice or township
    if best is None:
        return ()
    request.place = request.place or best.words
    if best.resolved is None:
        return best.places
    request.village = best.resolved.village or None
    request.township = best.resolved.township or None
    return ()
    book = place_book(session=context.session)
    for source in (request.place, request.text, context.farmer.place):
        found = find_places(source or "", book)
        if found.resolved is not None:
            request.village = found.resolved.village or None
            request.township = found.resolved.township or None
            request.place = request.place or found.words
            return ()
        if found.places:
            request.place = request.place or found.words
            return found.places
    return ()


def choices_text(places: tuple[KnownPlace, ...]) -> str:
    """`1 新庄村（彭堡镇） 2 新庄村（头营镇）`: the choices for an ambiguous name."""
    return " ".join(
        f"{number} {p.village or p.township}（{p.township if p.village else p.county}）"
        for number, p in enumerate(places, start=1)
    )


def pick_choice(answer: str, places: tuple[KnownPlace, ...]) -> KnownPlace | None:
    """The place an answer picks among the choices: its number, or its township's name."""
    clean = normalise(answer).strip(" ，。.")
    if clean.isascii() and clean.isdigit() and 1 <= int(clean) <= len(places):
        return places[int(clean) - 1]
    fitting = [
        p for p in places if p.township and (p.township in clean or stem(p.township) in clean)
    ]
    return fitting[0] if len(fitting) == 1 else None


def resolve_pending_places(session: Session) -> int:
    """Resolve again the requests whose place matched nothing (after a places import);
    return how many now have a village or township."""
    book = place_book(session=session)
    unresolved = session.exec(
        select(HelpRequest).where(
            col(HelpRequest.place).is_not(None),
            col(HelpRequest.township).is_(None),
            col(HelpRequest.village).is_(None),
        )
    )
    resolved = 0
    for request in unresolved:
        found = find_places(request.place or "", book).resolved
        if found is not None:
            request.village, request.township = found.village or None, found.township or None
            resolved += 1
    return resolved
