"""What the staff console shows: request lists, conversation timelines, today's figures.

Only reading lives here; actions go through handlers/ like those from WeChat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, or_, union, union_all
from sqlmodel import Session, col, select

from models.search import codes_meant, phone_part, phrase_ids, phrase_ways, places_named
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Message,
    Offer,
    Outbox,
    RequestEvent,
)

SORTS: dict[str, Any] = {
    "newest": col(HelpRequest.id).desc(),
    "oldest": col(HelpRequest.id).asc(),
    "updated": col(HelpRequest.updated_at).desc(),
    "urgency": col(HelpRequest.urgency).desc(),
}
WAITING = ("new", "offered", "unassigned", "reopened")
_FORWARDED = {"image": "照片", "voice": "语音", "video": "视频"}
HELD_REASON = "48 小时窗口已关，等对方再发消息后发出"


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
    statement = (
        select(HelpRequest, Farmer, Expert)
        .join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id))
        .outerjoin(Expert, col(Expert.id) == col(HelpRequest.expert_id))
        .where(*chosen)
        .order_by(*order)
        .offset(first)
        .limit(per_page)
    )
    rows = [RequestRow(r, f, e) for r, f, e in session.exec(statement)]
    return rows, min(total, cap + 1)


def iter_matching(session: Session, filters: RequestFilter) -> list[RequestRow]:
    """Every request matching the filters (for exports), in the list's order."""
    statement = (
        select(HelpRequest, Farmer, Expert)
        .join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id))
        .outerjoin(Expert, col(Expert.id) == col(HelpRequest.expert_id))
        .where(*filters.where())
        .order_by(SORTS.get(filters.sort, SORTS["newest"]), col(HelpRequest.id).desc())
    )
    return [RequestRow(r, f, e) for r, f, e in session.exec(statement)]


@dataclass
class TimelineItem:
    """One line of a conversation timeline."""

    at: datetime
    kind: str  # farmer, bot, expert, relay, push, event, failed, held, note
    who: str
    text: str
    request_code: str | None = None
    media: list[MediaFile] = field(default_factory=list)
    reason: str | None = None
    # A message from or to the farmer (not between the account and an expert or staff).
    with_farmer: bool = False


def timeline(
    session: Session, *, farmer: Farmer | None = None, request: HelpRequest | None = None
) -> list[TimelineItem]:
    """Everything that happened in a farmer's conversations, or in one request, in order."""
    requests = (
        [request]
        if request is not None
        else list(session.exec(select(HelpRequest).where(HelpRequest.farmer_id == farmer.id)))
        if farmer is not None
        else []
    )
    codes = {r.id: r.code for r in requests}
    ids = [r.id for r in requests if r.id is not None]
    experts = {e.openid: e for e in session.exec(select(Expert))}
    owner = farmer or (session.get(Farmer, request.farmer_id) if request is not None else None)
    messages = select(Message).order_by(col(Message.id))
    if request is not None:
        messages = messages.where(col(Message.request_id).in_(ids))
    elif owner is not None:
        messages = messages.where(
            (col(Message.farmer_id) == owner.id) | col(Message.request_id).in_(ids)
        )
    media_by_message: dict[int, list[MediaFile]] = {}
    for media in session.exec(select(MediaFile).where(col(MediaFile.request_id).in_(ids))):
        media_by_message.setdefault(media.message_id, []).append(media)
    items = []
    for message in session.exec(messages):
        items.append(_message_item(message, owner, experts, codes, media_by_message))
    for event in session.exec(select(RequestEvent).where(col(RequestEvent.request_id).in_(ids))):
        items.append(
            TimelineItem(
                at=event.at,
                kind="note" if event.note.startswith("备注：") else "event",
                who=_actor_name(event.actor, experts),
                text=event.note,
                request_code=codes.get(event.request_id),
                reason=event.to_status,
            )
        )
    for row in session.exec(
        select(Outbox).where(
            col(Outbox.request_id).in_(ids), col(Outbox.status).in_(("failed", "held"))
        )
    ):
        payload = row.payload.get("text", {}).get("content") or row.purpose
        items.append(
            TimelineItem(
                at=row.created_at,
                kind=row.status,
                who=_to_name(row.openid, owner, experts),
                text=str(payload),
                request_code=codes.get(row.request_id),
                reason=row.last_error or (HELD_REASON if row.status == "held" else ""),
            )
        )
    items.sort(key=lambda item: item.at)
    return items


def _message_item(
    message: Message,
    owner: Farmer | None,
    experts: dict[str, Expert],
    codes: dict[int | None, str | None],
    media_by_message: dict[int, list[MediaFile]],
) -> TimelineItem:
    code = codes.get(message.request_id)
    media = media_by_message.get(message.id or 0, [])
    text = message.content or ""
    farmers = owner is not None and message.openid == owner.openid
    if message.direction == "in":
        expert = experts.get(message.openid)
        is_farmer = owner is not None and message.openid == owner.openid
        kind = "farmer" if is_farmer else "expert"
        who = "农户" if is_farmer else (expert.name if expert else message.openid)
        if not text and message.msg_type != "text":
            text = {"image": "[照片]", "voice": "[语音]", "location": "[位置]"}.get(
                message.msg_type, f"[{message.msg_type}]"
            )
        if message.msg_type == "event":
            kind, text = "event", f"事件：{message.event}"
        return TimelineItem(message.created_at, kind, who, text, code, media, with_farmer=farmers)
    if message.channel == "passive":
        return TimelineItem(
            message.created_at, "bot", "公众号回复", text, code, with_farmer=farmers
        )
    purpose = (message.payload or {}).get("purpose", "")
    to = _to_name(message.openid, owner, experts)
    kind = "relay" if purpose == "relay" else "push"
    if message.msg_type in _FORWARDED:
        text = text or f"[转发{_FORWARDED[message.msg_type]}]"
    return TimelineItem(message.created_at, kind, f"发给{to}", text, code, with_farmer=farmers)


def _actor_name(actor: str, experts: dict[str, Expert]) -> str:
    kind, _, who = actor.partition(":")
    if kind == "expert":
        expert = experts.get(who)
        return expert.name if expert else "专家"
    if kind == "farmer":
        return "农户"
    if kind == "staff":
        return f"工作人员 {who}"
    return {"system": "系统", "survey": "回访"}.get(actor, actor)


def _to_name(openid: str, owner: Farmer | None, experts: dict[str, Expert]) -> str:
    if owner is not None and openid == owner.openid:
        return "农户"
    expert = experts.get(openid)
    return f"{expert.name}" if expert else "工作人员"


@dataclass(frozen=True)
class Dashboard:
    new_today: int
    waiting: list[HelpRequest]
    past_timeout: list[HelpRequest]
    overdue: list[HelpRequest]
    on_duty: dict[str, list[Expert]]
    gaps_now: list[str]
    gaps_next_day: list[str]


def dashboard(
    session: Session,
    *,
    now: datetime,
    day_start: datetime,
    overdue_after: timedelta,
    on_duty_now: set[int],
    on_duty_next_day: set[int],
    specialties: tuple[str, ...],
) -> Dashboard:
    """Today at a glance: what waits, what is late, who is on duty and where the gaps are."""
    urgent_first = (col(HelpRequest.urgency) != "urgent", col(HelpRequest.id))
    waiting = list(
        session.exec(
            select(HelpRequest)
            .where(col(HelpRequest.status).in_(WAITING))
            .order_by(*urgent_first)
            .limit(100)
        )
    )
    late_offers = select(Offer.request_id).where(
        Offer.status == "pending", col(Offer.deadline_at) <= now
    )
    past_timeout = list(
        session.exec(
            select(HelpRequest)
            .where(col(HelpRequest.status) == "offered", col(HelpRequest.id).in_(late_offers))
            .order_by(*urgent_first)
        )
    )
    overdue = list(
        session.exec(
            select(HelpRequest)
            .where(
                col(HelpRequest.status).in_(("accepted", "visit_booked")),
                col(HelpRequest.accepted_at) <= now - overdue_after,
            )
            .order_by(*urgent_first)
        )
    )
    new_today = session.exec(
        select(func.count()).select_from(HelpRequest).where(HelpRequest.created_at >= day_start)
    ).one()
    experts = list(session.exec(select(Expert).where(Expert.active == True)))  # noqa: E712
    on_duty: dict[str, list[Expert]] = {}
    for expert in experts:
        if expert.id in on_duty_now:
            for specialty in expert.specialties:
                on_duty.setdefault(specialty, []).append(expert)
    upcoming = {
        specialty
        for expert in experts
        if expert.id in on_duty_next_day
        for specialty in expert.specialties
    }
    gaps_now = [s for s in specialties if s not in on_duty]
    gaps_next_day = [s for s in specialties if s not in upcoming]
    return Dashboard(
        int(new_today), waiting, past_timeout, overdue, on_duty, gaps_now, gaps_next_day
    )


def unresolved_places(session: Session, limit: int = 20) -> list[tuple[str, int]]:
    """The farmers' words for places that match no imported village or township, with how
    many open or recent requests use each (for staff to add to the place list)."""
    statement = (
        select(col(HelpRequest.place), func.count())
        .where(
            col(HelpRequest.place).is_not(None),
            col(HelpRequest.township).is_(None),
            col(HelpRequest.village).is_(None),
        )
        .group_by(col(HelpRequest.place))
        .order_by(func.count().desc())
        .limit(limit)
    )
    return [(str(place), int(count)) for place, count in session.execute(statement)]
