"""The Chinese search index over requests' words (character pairs, see SearchTerm).

A job keeps it current (`index_pending`); requests changed since their last
indexing are searched by a plain LIKE, so a search never misses the newest words.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.tables import HelpRequest, SearchTerm

_CJK = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[0-9a-z]+")
TERM_LENGTH = 8
MAX_QUERY_TERMS = 8  # a long phrase is matched on its first pairs (then checked by eye)
# Requests whose words changed since they were indexed (the partial index holds these).
UNINDEXED = or_(
    col(HelpRequest.indexed_at).is_(None),
    col(HelpRequest.indexed_at) < col(HelpRequest.updated_at),
)


def terms_of(text: str) -> set[str]:
    """Every Chinese character and character pair, and every Latin word, of a text."""
    text = unicodedata.normalize("NFKC", text).lower()
    terms: set[str] = set()
    for run in _CJK.findall(text):
        terms.update(run)
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
    terms.update(word[:TERM_LENGTH] for word in _WORD.findall(text))
    return terms


def query_terms(phrase: str) -> set[str]:
    """The terms a phrase must all have: its pairs (or its one character), its words."""
    phrase = unicodedata.normalize("NFKC", phrase).lower()
    terms: set[str] = set()
    for run in _CJK.findall(phrase):
        terms.update([run] if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)))
    terms.update(word[:TERM_LENGTH] for word in _WORD.findall(phrase))
    return terms


def index_request(session: Session, request: HelpRequest, now: datetime) -> None:
    """Replace a request's index terms with those of its current words."""
    assert request.id is not None
    session.execute(delete(SearchTerm).where(col(SearchTerm.request_id) == request.id))
    terms = terms_of(request.text)
    if terms:
        session.execute(
            insert(SearchTerm), [{"term": term, "request_id": request.id} for term in terms]
        )
    request.indexed_at = now


def index_pending(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Index requests never indexed or changed since; return how many."""
    statement = select(HelpRequest).where(UNINDEXED).order_by(col(HelpRequest.id)).limit(limit)
    pending = list(session.exec(statement))
    for request in pending:
        index_request(session, request, now)
    return len(pending)


def phrase_ways(phrase: str) -> list[ColumnElement[bool]]:
    """Conditions on HelpRequest, any of which finds a request whose words hold the phrase.

    Indexed requests are found by intersecting the terms' postings (self-joins on
    the (term, request_id) key, which the database merges in order, newest first when
    asked, so that a page of a common phrase's newest matches reads only that far);
    requests not indexed since their last change are matched by LIKE, through a
    partial index that holds only them.
    """
    terms = sorted(query_terms(phrase))[:MAX_QUERY_TERMS]
    like = col(HelpRequest.text).contains(phrase.strip())
    if not terms:
        return [like]
    return [col(HelpRequest.id).in_(_ids_with_all(terms)), and_(UNINDEXED, like)]


def phrase_ids(phrase: str) -> list[Any]:
    """The selects of the ids of requests whose words hold the phrase, one a way (see
    phrase_ways), to be combined in one UNION ALL with other ways a search may find a
    request."""
    return [select(HelpRequest.id).where(way) for way in phrase_ways(phrase)]


def _ids_with_all(terms: list[str]) -> Any:
    first, *others = (aliased(SearchTerm) for _ in terms)
    statement = select(first.request_id).where(col(first.term) == terms[0])
    for alias, term in zip(others, terms[1:], strict=True):
        statement = statement.join(
            alias, and_(col(alias.request_id) == col(first.request_id), col(alias.term) == term)
        )
    return statement


_CODE = re.compile(r"\s*([A-Za-z]?)([0-9]{4,6})\s*")


def codes_meant(words: str) -> list[str]:
    """The request codes a search for `words` means: A1030 and a1030 mean A1030; 1030
    means that number under any letter (codes go A1000 … A999999, then B1000 …)."""
    found = _CODE.fullmatch(unicodedata.normalize("NFKC", words))
    if found is None:
        return []
    letter, number = found.groups()
    if letter:
        return [f"{letter.upper()}{number}"]
    return [f"{chr(c)}{number}" for c in range(ord("A"), ord("Z") + 1)]


_PHONE_PART = re.compile(r"[0-9\s-]{4,20}")


def phone_part(words: str) -> str:
    """The digits of a search that is a number (a code or part of a phone), else ''."""
    words = unicodedata.normalize("NFKC", words)  # full-width digits as typed on a phone
    if _PHONE_PART.fullmatch(words) is None:
        return ""
    digits = re.sub(r"[^0-9]", "", words)
    return digits if len(digits) >= 4 else ""


def places_named(places: tuple[tuple[str, str], ...], words: str) -> tuple[list[str], list[str]]:
    """The townships and villages whose names hold `words` (东河 → 东河村, 东河镇)."""
    words = words.strip()
    if len(words) < 2:
        return [], []
    townships = sorted({t for t, _ in places if t and words in t})
    villages = sorted({v for _, v in places if v and words in v})
    return townships, villages
