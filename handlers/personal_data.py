"""A farmer's personal information (PIPL): what is stored about them, erasing it on
request or after unfollowing, and anonymising old requests (retention).

Erasure keeps the anonymous facts the reports count — a request's crop, category,
urgency, village, township, status and times, its expert, the survey's answer and
rating — and removes everything that says who the farmer is or what they said: the
openid (replaced by `erased:<id>`), phone, place, coordinates, every message text and
payload about them, photos, voice notes, visit records, prescriptions, comments,
notes, and the search index. Media files are only marked here (`erasing`); the
scheduler deletes them from disk after the transaction committed (`delete_erased_media`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from handlers import texts
from handlers.config import Policy
from handlers.notify import send_text
from handlers.routing import place_of
from models.offers import offers_for, record_event
from models.outbox import drop_pending
from models.requests import OPEN_STATUSES, lock_request
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Message,
    Offer,
    Outbox,
    RequestEvent,
    SearchTerm,
    Survey,
    TreatmentCheck,
)

ERASED_ACTOR = "farmer:erased"


class ErasureRefused(Exception):
    """This follower is an expert: their records are the service's (ask the county)."""


@dataclass
class Erasure:
    """What one erasure or retention pass changed (for logs and the reply)."""

    requests: int = 0
    messages: int = 0
    media: int = 0
    closed: list[str] | None = None


def erased_openid(farmer: Farmer) -> str:
    """The pseudonym an erased farmer's rows carry instead of their openid."""
    return f"erased:{farmer.id}"


def erase_farmer(session: Session, *, farmer: Farmer, config: Policy, now: datetime) -> Erasure:
    """Erase a farmer's personal data; open requests are closed and their experts told.

    Idempotent: a farmer erased before is left as is. Call it with the farmer's row
    locked (the webhook holds the sender's lock; jobs lock it themselves).
    """
    if farmer.erased_at is not None:
        return Erasure(closed=[])
    if session.exec(select(Expert.id).where(Expert.openid == farmer.openid)).first():
        raise ErasureRefused(texts.ERASE_EXPERT)
    assert farmer.id is not None
    openid, pseudonym = farmer.openid, erased_openid(farmer)
    closed = [_close(session, request, now) for request in _open_requests(session, farmer.id)]
    request_ids = list(
        session.exec(select(HelpRequest.id).where(HelpRequest.farmer_id == farmer.id))
    )
    done = anonymise_requests(session, [i for i in request_ids if i is not None], now)
    # Everything else said to or by them, outside any request (greetings, surveys' texts).
    theirs = or_(col(Message.farmer_id) == farmer.id, col(Message.openid) == openid)
    done.messages += _scrub_messages(session, theirs, now)
    session.execute(update(Message).where(col(Message.openid) == openid).values(openid=pseudonym))
    for row in session.exec(select(Outbox).where(Outbox.openid == openid)):
        if row.status in ("pending", "held"):
            row.status, row.last_error = "dropped", "the farmer's data was erased"
        row.openid, row.payload, row.fallback = pseudonym, {}, None
    for survey in session.exec(select(Survey).where(Survey.farmer_id == farmer.id)):
        survey.comment = None
        if survey.state in ("scheduled", "sending", "sent", "held"):
            survey.state = "cancelled"
    for check in session.exec(select(TreatmentCheck).where(TreatmentCheck.farmer_id == farmer.id)):
        check.words = None
        if check.state in ("scheduled", "sending", "sent", "held"):
            check.state = "cancelled"
    farmer.openid = pseudonym
    farmer.phone = farmer.place = farmer.village_code = farmer.name = None
    farmer.latitude = farmer.longitude = None
    farmer.subscribed = farmer.advisories = farmer.location_consent = False
    farmer.last_message_at = farmer.erase_asked_at = None
    farmer.erased_at = now
    # The experts of the closed requests hear that they ended (the code only).
    for code, experts in closed:
        for expert_openid in experts:
            send_text(
                session,
                openid=expert_openid,
                content=texts.EXPERT_FARMER_ERASED.format(code=code),
                now=now,
                purpose="notify",
            )
    done.closed = [code for code, _ in closed]
    return done


def _open_requests(session: Session, farmer_id: int) -> list[HelpRequest]:
    statement = select(HelpRequest).where(
        HelpRequest.farmer_id == farmer_id, col(HelpRequest.status).in_(OPEN_STATUSES)
    )
    return list(session.exec(statement))


def _close(session: Session, request: HelpRequest, now: datetime) -> tuple[str, list[str]]:
    """End an open request of an erased farmer: offers withdrawn, pushes dropped; the
    code and the experts to tell (the holder, or those it was offered to)."""
    assert request.id is not None
    request_id = request.id
    request = lock_request(session=session, request_id=request_id)
    drop_pending(session=session, request_id=request_id, purposes=("page", "notify", "relay"))
    told = [request.expert_id] if request.expert_id else []
    for offer in offers_for(session=session, request_id=request_id):
        if offer.status == "pending":
            offer.status, offer.answered_at = "withdrawn", now
            told.append(offer.expert_id)
    request.closed_at, request.pending_question = now, None
    record_event(
        session=session,
        request=request,
        to_status="cancelled",
        actor=ERASED_ACTOR,
        now=now,
        note="农户删除了个人信息",
    )
    experts = [session.get(Expert, expert_id) for expert_id in dict.fromkeys(told)]
    return str(request.code), [e.openid for e in experts if e is not None]


def anonymise_requests(session: Session, request_ids: list[int], now: datetime) -> Erasure:
    """Remove the personal data of these requests, keeping what the reports count."""
    done = Erasure(requests=len(request_ids))
    if not request_ids:
        return done
    for request in session.exec(select(HelpRequest).where(col(HelpRequest.id).in_(request_ids))):
        # Where it was stays, as the report counts it (the village, else the place named
        # as a village or township name), but never a label's house-level detail.
        parts = place_of(session, request)
        request.township = request.township or parts.township
        request.village = request.village or parts.village
        place = parts.village or request.place
        request.text = ""
        request.place = None if _is_coordinates(place) else place
        request.latitude = request.longitude = None
        request.visit_record, request.prescription, request.pending_question = None, None, None
        request.routing = _without_words(request.routing)
        request.anonymised_at = request.updated_at = request.indexed_at = now
    session.execute(delete(SearchTerm).where(col(SearchTerm.request_id).in_(request_ids)))
    done.messages = _scrub_messages(session, col(Message.request_id).in_(request_ids), now)
    done.media = mark_media(session, col(MediaFile.request_id).in_(request_ids))
    session.execute(
        update(Outbox)
        .where(col(Outbox.request_id).in_(request_ids))
        .values(payload={}, fallback=None)
    )
    session.execute(
        update(Survey).where(col(Survey.request_id).in_(request_ids)).values(comment=None)
    )
    session.execute(
        update(TreatmentCheck)
        .where(col(TreatmentCheck.request_id).in_(request_ids))
        .values(words=None)
    )
    session.execute(
        update(RequestEvent).where(col(RequestEvent.request_id).in_(request_ids)).values(note="")
    )
    session.execute(
        update(RequestEvent)
        .where(
            col(RequestEvent.request_id).in_(request_ids),
            col(RequestEvent.actor).like("farmer:%"),
        )
        .values(actor=ERASED_ACTOR)
    )
    session.execute(
        update(Offer).where(col(Offer.request_id).in_(request_ids)).values(answer_note=None)
    )
    return done


def _without_words(routing: dict[str, Any]) -> dict[str, Any]:
    rounds = [
        {key: value for key, value in item.items() if key not in ("comment", "record")}
        for item in routing.get("rounds", [])
    ]
    return {**routing, "rounds": rounds} if rounds else dict(routing)


def _scrub_messages(session: Session, which: Any, now: datetime) -> int:
    """Blank the text and payload of the matching conversation rows; mark their media."""
    ids = [i for i in session.exec(select(Message.id).where(which)) if i is not None]
    if not ids:
        return 0
    session.execute(
        update(Message)
        .where(col(Message.id).in_(ids))
        .values(content=None, payload={}, reply_body=None, media_id=None)
    )
    # An event's dedupe key holds the sender's openid.
    for message in session.exec(
        select(Message).where(col(Message.id).in_(ids), col(Message.dedupe_key).like("evt:%"))
    ):
        message.dedupe_key = f"evt:erased:{message.id}"
    mark_media(session, col(MediaFile.message_id).in_(ids))
    return len(ids)


def mark_media(session: Session, which: Any) -> int:
    """Mark media to delete: stored files are marked `erasing` (the disk is cleared after the
    commit), files never fetched are simply not fetched."""
    marked = 0
    for media in session.exec(select(MediaFile).where(which)):
        if media.status in ("erasing", "erased"):
            continue
        media.media_id = ""
        media.last_error = None
        media.status = "erasing" if media.path else "erased"
        marked += 1
    return marked


def personal_data(session: Session, *, farmer: Farmer, tz: Any) -> dict[str, Any]:
    """Everything stored about a farmer, as they (or an admin exporting it) may read it."""

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else None

    assert farmer.id is not None
    requests = list(
        session.exec(
            select(HelpRequest)
            .where(HelpRequest.farmer_id == farmer.id)
            .order_by(col(HelpRequest.id))
        )
    )
    messages = list(
        session.exec(
            select(Message)
            .where(or_(col(Message.farmer_id) == farmer.id, col(Message.openid) == farmer.openid))
            .order_by(col(Message.id))
        )
    )
    media = list(
        session.exec(
            select(MediaFile).where(
                col(MediaFile.message_id).in_([m.id for m in messages if m.id is not None])
                | col(MediaFile.request_id).in_([r.id for r in requests if r.id is not None])
            )
        )
    )
    surveys = list(session.exec(select(Survey).where(Survey.farmer_id == farmer.id)))
    return {
        "farmer": {
            "openid": farmer.openid,
            "name": farmer.name,
            "phone": farmer.phone,
            "place": farmer.place,
            "latitude": farmer.latitude,
            "longitude": farmer.longitude,
            "keeps_precise_location": farmer.location_consent,
            "follows_the_account": farmer.subscribed,
            "gets_advisories": farmer.advisories,
            "first_contact": local(farmer.created_at),
            "last_message": local(farmer.last_message_at),
        },
        "requests": [
            {
                "code": r.code,
                "created": local(r.created_at),
                "status": texts.STATUS_NAMES.get(r.status, r.status),
                "words": r.text,
                "crop": r.crop,
                "category": texts.CATEGORY_NAMES.get(r.category, r.category),
                "place": r.place,
                "village": r.village,
                "township": r.township,
                "latitude": r.latitude,
                "longitude": r.longitude,
                "visit": local(r.visited_at),
                "visit_record": r.visit_record,
                "prescription": r.prescription,
            }
            for r in requests
        ],
        "messages": [
            {
                "at": local(m.created_at),
                "direction": "收到您的" if m.direction == "in" else "发给您的",
                "type": m.msg_type,
                "text": m.content,
            }
            for m in messages
            if m.openid == farmer.openid
        ],
        "files": [
            {"kind": f.kind, "stored": local(f.stored_at), "bytes": f.size}
            for f in media
            if f.status == "stored"
        ],
        "surveys": [
            {
                "solved": texts.SOLVED_NAMES.get(s.solved or "", None),
                "rating": s.rating,
                "comment": s.comment,
            }
            for s in surveys
            if s.answered_at
        ],
    }


SHOW_WORDS = {"我的信息", "我的资料", "查看我的信息", "看我的信息", "我的数据"}
ERASE_WORDS = {"删除我的信息", "删除我的资料", "删掉我的信息", "删除我的数据", "注销"}
CONFIRM_WORDS = {"确认删除", "确定删除"}
KEEP_LOCATION_WORDS = {"留定位", "保存定位", "同意保存定位"}
DROP_LOCATION_WORDS = {"不留定位", "删除定位", "不保存定位"}
CONFIRM_WITHIN = 600  # seconds between 删除我的信息 and 确认删除
COORDINATE_FIELDS = ("Location_X", "Location_Y", "Latitude", "Longitude", "Precision", "Scale")


def answer_privacy_words(
    session: Session,
    *,
    farmer: Farmer,
    message: Message,
    words: str,
    config: Policy,
    now: datetime,
) -> str | None:
    """我的信息, 删除我的信息 (then 确认删除), 留定位 / 不留定位; None: not one of these."""
    from handlers.notify import farmer_link

    bare = "".join(words.split()).strip("。！!.？?")
    if bare in SHOW_WORDS:
        link = farmer_link(config, "me", f=farmer.id or 0)
        return texts.MY_DATA_LINK.format(link=link, days=texts.duration_words(config.link_lifetime))
    if bare in ERASE_WORDS:
        farmer.erase_asked_at = now
        return texts.ERASE_ASK
    if bare in CONFIRM_WORDS:
        asked = farmer.erase_asked_at
        if asked is None or (now - asked).total_seconds() > CONFIRM_WITHIN:
            return texts.ERASE_NOT_ASKED
        try:
            erase_farmer(session, farmer=farmer, config=config, now=now)
        except ErasureRefused as refused:
            return str(refused)
        # The confirmation itself is logged under the pseudonym, without its words.
        message.openid, message.content, message.payload = farmer.openid, None, {}
        return texts.ERASE_DONE
    if bare in KEEP_LOCATION_WORDS:
        farmer.location_consent = True
        return texts.LOCATION_KEPT
    if bare in DROP_LOCATION_WORDS:
        forget_coordinates(session, farmer=farmer)
        return texts.LOCATION_DROPPED
    return None


def forget_coordinates(session: Session, *, farmer: Farmer) -> None:
    """Consent withdrawn: coordinates go from the farmer, their requests and messages."""
    assert farmer.id is not None
    farmer.location_consent = False
    farmer.latitude = farmer.longitude = None
    if _is_coordinates(farmer.place):
        farmer.place = None
    for request in session.exec(select(HelpRequest).where(HelpRequest.farmer_id == farmer.id)):
        request.latitude = request.longitude = None
        if _is_coordinates(request.place):
            request.place = None
    for message in session.exec(
        select(Message).where(
            Message.farmer_id == farmer.id, col(Message.msg_type).in_(("location", "event"))
        )
    ):
        if any(field in message.payload for field in COORDINATE_FIELDS):
            message.payload = without_coordinates(message.payload)


def without_coordinates(payload: dict[str, Any]) -> dict[str, Any]:
    """A push's stored fields without its coordinates, nested ones too (a menu's
    SendLocationInfo); the place's label is kept."""
    return {
        key: without_coordinates(value) if isinstance(value, dict) else value
        for key, value in payload.items()
        if key not in COORDINATE_FIELDS
    }


COORDINATES_TEXT = re.compile(r"^\s*-?\d{1,3}\.\d+\s*,\s*-?\d{1,3}\.\d+\s*$")


def _is_coordinates(text: str | None) -> bool:
    """A place written as "32.1230,105.4560" (a location that had no label)."""
    return bool(text) and COORDINATES_TEXT.match(text or "") is not None
