"""What the staff console shows: conversation timelines and today's figures (the request
list is models/request_list.py).

Only reading lives here; actions go through handlers/ like those from WeChat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

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

WAITING = ("new", "offered", "unassigned", "reopened")
_FORWARDED = {"image": "照片", "voice": "语音", "video": "视频"}
HELD_REASON = "48 小时窗口已关，等对方再发消息后发出"


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
