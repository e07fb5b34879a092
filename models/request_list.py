"""The console's request list: the staff's filters and search, one page of matches and
how many match (and every match, for exports).

Only reading lives here; actions go through handlers/ like those from WeChat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, or_, union, union_all
from sqlmodel import Session, col, select

from models.search import codes_meant, phone_part, phrase_ids, phrase_ways, places_named
from models.tables import Expert, Farmer, HelpRequest

SORTS: dict[str, Any] = {
    "newest": col(HelpRequest.id).desc(),
    "oldest": col(HelpRequest.id).asc(),
    "updated": col(HelpRequest.updated_at).desc(),
    "urgency": col(HelpRequest.urgency).desc(),
}


@dataclass(frozen=True)
class RequestFilter:
    """The list's filters, as staff set them (empty: any)."""

    status: str = ""
    urgency: str = ""
    crop: str = ""
    category: str = ""
    place: str = ""
    expert_id: int | None = None
    team: str = ""
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    sort: str = "newest"
    # Whether the search may match farmers' phone numbers (roles that may see them).
    phones: bool = False
    # Township and village names of the place hierarchy (a search for 东河 means 东河村).
    places: tuple[tuple[str, str], ...] = ()

    @property
    def count_cap(self) -> int:
        """Matches are counted exactly up to this many (SEARCH_COUNT_CAP for a search)."""
        return SEARCH_COUNT_CAP if self.q.strip() else COUNT_CAP

    def where(self, session: Session | None = None, *, search: bool = True) -> list[Any]:
        """The SQL conditions for these filters; with search=False all but the search's
        (see `search_ways`, which with a session looks a code, a number or a farmer's
        name up first)."""
        conditions: list[Any] = []
        if self.status:
            conditions.append(col(HelpRequest.status) == self.status)
        if self.urgency:
            conditions.append(col(HelpRequest.urgency) == self.urgency)
        if self.crop:
            conditions.append(col(HelpRequest.crop) == self.crop)
        if self.category:
            conditions.append(col(HelpRequest.category) == self.category)
        if self.place:
            # A township or village of the hierarchy (木鱼镇: every request resolved to one
            # of its villages), or the farmer's own words for a place not resolved.
            conditions.append(
                or_(
                    col(HelpRequest.township) == self.place,
                    col(HelpRequest.village) == self.place,
                    col(HelpRequest.place).contains(self.place),
                )
            )
        if self.expert_id is not None:
            conditions.append(col(HelpRequest.expert_id) == self.expert_id)
        if self.team:
            team_members = select(Expert.id).where(col(Expert.team) == self.team)
            conditions.append(col(HelpRequest.expert_id).in_(team_members))
        if self.since is not None:
            conditions.append(col(HelpRequest.created_at) >= self.since)
        if self.until is not None:
            conditions.append(col(HelpRequest.created_at) < self.until)
        if search and self.q.strip():
            conditions.append(self.searched(session))
        return conditions

    def searched(self, session: Session | None = None) -> Any:
        """The search as one condition: any of `search_ways`."""
        return or_(*self.search_ways(session))

    def search_ways(self, session: Session | None = None) -> list[Any]:
        """What a search box entry may mean, as conditions any one of which finds a
        request: its code (A1030, a1030, 1030), part of the farmer's phone, the farmer's
        name, a township or village (东河 for 东河村), or a phrase of the farmer's words.

        A code or a number finds few requests: its ways are selects of ids through their
        own indexes joined in one UNION ALL (an OR across columns would read every
        request), one condition. Words may find tens of thousands: each way is its own
        condition, for `list_requests` to read each way's first matches by its own index
        (in an OR the database would hash every match of each way first)."""
        words = self.q.strip()
        ids = select(HelpRequest.id)
        codes = codes_meant(words)
        digits = phone_part(words)
        if codes or digits:
            meant: list[Any] = []
            if codes:
                meant.append(ids.where(col(HelpRequest.code).in_(codes)))
            if digits and self.phones:
                meant.append(
                    ids.join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id)).where(
                        col(Farmer.phone).contains(digits)
                    )
                )
            if not digits:
                meant.extend(phrase_ids(words))
            if not meant:
                return [false()]
            found = union_all(*meant)
            if session is None:
                return [col(HelpRequest.id).in_(found)]
            # Looked up first, so that the page's query gets the few ids themselves: as
            # a subquery the planner expects many and walks the requests newest first.
            few = session.exec(select(found.subquery().c[0]).limit(COUNT_CAP + 1)).all()
            if len(few) > COUNT_CAP:  # not few after all (four digits of many phones)
                return [col(HelpRequest.id).in_(found)]
            return [col(HelpRequest.id).in_(list(few)) if few else false()]
        named: Any = select(Farmer.id).where(col(Farmer.name).contains(words))
        if session is not None:
            # Looked up once (a scan of the farmers' names), not again for the count.
            few = session.exec(named.limit(COUNT_CAP + 1)).all()
            named = named if len(few) > COUNT_CAP else list(few)
        ways = [*phrase_ways(words), col(HelpRequest.farmer_id).in_(named)]
        townships, villages = places_named(self.places, words)
        if townships:
            ways.append(col(HelpRequest.township).in_(townships))
        if villages:
            ways.append(col(HelpRequest.village).in_(villages))
        return ways


@dataclass(frozen=True)
class RequestRow:
    request: HelpRequest
    farmer: Farmer
    expert: Expert | None


# Matches counted exactly up to this many; past it the list says "more than" (a word
# such as 叶子发黄 matches a sixth of a province's year, and counting them all would
# cost more than the page). A search is for finding: its matches are counted up to
# SEARCH_COUNT_CAP, which with a filter such as a crop (the database then reads each
# match's request) costs a tenth of counting ten thousand.
COUNT_CAP = 10_000
SEARCH_COUNT_CAP = 1_000


def list_requests(
    session: Session, filters: RequestFilter, *, page: int = 1, per_page: int = 50
) -> tuple[list[RequestRow], int]:
    """One page of requests matching the filters, and how many match in all (up to
    filters.count_cap + 1: more than the cap).

    A search's ways (see `RequestFilter.search_ways`) are read each on its own, up to
    what the count and the page need, and the page is chosen among their first
    matches: the newest page of a phrase found in a sixth of a province's year then
    reads about a page of its index, where one OR of the ways would read all of it."""
    conditions = filters.where(session, search=False)
    ways = filters.search_ways(session) if filters.q.strip() else []
    order = (SORTS.get(filters.sort, SORTS["newest"]), col(HelpRequest.id).desc())
    first = (max(page, 1) - 1) * per_page
    cap = filters.count_cap
    if len(ways) > 1:
        ids = select(HelpRequest.id).where(*conditions)
        capped = [ids.where(way).limit(cap + 1).subquery() for way in ways]
        matching: Any = union(*(select(c.c.id) for c in capped)).subquery()
        shown = first + per_page
        firsts = [ids.where(way).order_by(*order).limit(shown).subquery() for way in ways]
        chosen = [col(HelpRequest.id).in_(union_all(*(select(f.c.id) for f in firsts)))]
    else:
        chosen = [*conditions, *ways]
        matching = select(col(HelpRequest.id)).where(*chosen).limit(cap + 1).subquery()
    total = int(session.execute(select(func.count()).select_from(matching)).scalar_one())
    statement = _with_people(*chosen).order_by(*order).offset(first).limit(per_page)
    rows = [RequestRow(r, f, e) for r, f, e in session.exec(statement)]
    return rows, min(total, cap + 1)


def iter_matching(session: Session, filters: RequestFilter) -> list[RequestRow]:
    """Every request matching the filters (for exports), in the list's order."""
    statement = _with_people(*filters.where()).order_by(
        SORTS.get(filters.sort, SORTS["newest"]), col(HelpRequest.id).desc()
    )
    return [RequestRow(r, f, e) for r, f, e in session.exec(statement)]


def _with_people(*conditions: Any) -> Any:
    """The requests meeting the conditions, each with its farmer and expert (if any)."""
    return (
        select(HelpRequest, Farmer, Expert)
        .join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id))
        .outerjoin(Expert, col(Expert.id) == col(HelpRequest.expert_id))
        .where(*conditions)
    )
