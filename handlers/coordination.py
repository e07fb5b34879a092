"""What county staff do to a request from the console: reassign, page the next
candidate, close, reopen, leave a note. The same routing and paging code as
WeChat's commands; every change is a request_event with the staff member as actor.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers import notify, texts
from handlers.config import Policy
from handlers.routing import make_offers, route_request
from models.offers import offers_for, record_event
from models.outbox import drop_pending
from models.requests import lock_request
from models.tables import Expert, Farmer, HelpRequest

OPEN = ("new", "offered", "unassigned", "reopened", "accepted", "visit_booked")


class ActionRefused(Exception):
    """The action does not fit the request's state; the message says why, in Chinese."""


def _withdraw_offers(
    session: Session, request: HelpRequest, now: datetime, *, tell: str | None
) -> set[int]:
    """Withdraw pending offers (telling those experts); return whose they were."""
    assert request.id is not None
    withdrawn = set()
    for offer in offers_for(session=session, request_id=request.id):
        if offer.status != "pending":
            continue
        offer.status, offer.answered_at = "withdrawn", now
        withdrawn.add(offer.expert_id)
        expert = session.get(Expert, offer.expert_id)
        if expert is not None and tell:
            notify.send_text(
                session,
                openid=expert.openid,
                content=tell,
                now=now,
                purpose="notify",
                request=request,
            )
    drop_pending(session=session, request_id=request.id, purposes=("page",))
    return withdrawn


def _release_holder(session: Session, request: HelpRequest, now: datetime, tell: str) -> None:
    """The expert holding the request lets it go (and is told why)."""
    holder = session.get(Expert, request.expert_id) if request.expert_id else None
    if holder is not None:
        notify.send_text(
            session, openid=holder.openid, content=tell, now=now, purpose="notify", request=request
        )
    request.expert_id, request.accepted_at = None, None


def reassign_request(
    session: Session,
    *,
    request_id: int,
    expert: Expert,
    staff: str,
    config: Policy,
    now: datetime,
) -> HelpRequest:
    """Offer the request to the expert staff chose, taking it from whoever had it."""
    request = lock_request(session=session, request_id=request_id)
    if request.status not in OPEN and request.status != "intake":
        raise ActionRefused(f"求助 {request.code} 已{texts.STATUS_NAMES[request.status]}，不能改派")
    if not expert.active:
        raise ActionRefused(f"{expert.name} 已停用")
    moved = texts.STAFF_REASSIGNED.format(code=request.code)
    _withdraw_offers(session, request, now, tell=moved)
    if request.status in ("accepted", "visit_booked"):
        _release_holder(session, request, now, moved)
    if request.confirmed_at is None:
        request.confirmed_at, request.pending_question = now, None
    make_offers(
        session,
        request=request,
        experts=[expert],
        reason=f"工作人员 {staff} 改派",
        config=config,
        now=now,
        actor=f"staff:{staff}",
    )
    return request


def page_next_candidate(
    session: Session, *, request_id: int, staff: str, config: Policy, now: datetime
) -> HelpRequest:
    """Stop waiting for the current candidate and page the next one."""
    request = lock_request(session=session, request_id=request_id)
    if request.status not in ("new", "offered", "unassigned", "reopened"):
        raise ActionRefused(
            f"求助 {request.code} 现在{texts.STATUS_NAMES[request.status]}，不用再派"
        )
    skipped = _withdraw_offers(session, request, now, tell=None)
    route_request(
        session,
        request=request,
        config=config,
        now=now,
        actor=f"staff:{staff}",
        exclude_expert_ids=skipped,
    )
    return request


def close_request(
    session: Session, *, request_id: int, staff: str, reason: str, now: datetime
) -> HelpRequest:
    """Close a request (a duplicate, solved by phone …); the farmer is told if waiting."""
    request = lock_request(session=session, request_id=request_id)
    if request.status in ("closed", "cancelled"):
        raise ActionRefused(f"求助 {request.code} 已经结束了")
    waiting = request.status != "visited"
    closed = texts.STAFF_CLOSED_EXPERT.format(code=request.code)
    _withdraw_offers(session, request, now, tell=closed)
    if request.status in ("accepted", "visit_booked"):
        holder = session.get(Expert, request.expert_id) if request.expert_id else None
        if holder is not None:
            notify.send_text(
                session,
                openid=holder.openid,
                content=closed,
                now=now,
                purpose="notify",
                request=request,
            )
    request.closed_at, request.pending_question = now, None
    record_event(
        session=session,
        request=request,
        to_status="closed",
        actor=f"staff:{staff}",
        now=now,
        note=reason or "工作人员办结",
    )
    farmer = session.get(Farmer, request.farmer_id)
    if farmer is not None and waiting:
        notify.tell_farmer(
            session,
            farmer=farmer,
            request=request,
            now=now,
            content=texts.STAFF_CLOSED_FARMER.format(code=request.code),
        )
    return request


def reopen_request(
    session: Session, *, request_id: int, staff: str, reason: str, config: Policy, now: datetime
) -> HelpRequest:
    """Open an ended or unassigned request again and page an expert."""
    request = lock_request(session=session, request_id=request_id)
    if request.status in ("offered", "accepted", "visit_booked", "intake"):
        raise ActionRefused(
            f"求助 {request.code} 还在进行中（{texts.STATUS_NAMES[request.status]}）"
        )
    request.closed_at = None
    if request.status in ("visited", "closed"):
        request.expert_id, request.accepted_at = None, None
    record_event(
        session=session,
        request=request,
        to_status="reopened",
        actor=f"staff:{staff}",
        now=now,
        note=reason or "工作人员重新打开",
    )
    route_request(session, request=request, config=config, now=now, actor=f"staff:{staff}")
    return request


def add_note(
    session: Session, *, request_id: int, staff: str, text: str, now: datetime
) -> HelpRequest:
    """An internal note on the request (never sent to anyone)."""
    text = text.strip()
    if not text:
        raise ActionRefused("备注是空的")
    request = lock_request(session=session, request_id=request_id)
    record_event(
        session=session,
        request=request,
        to_status=request.status,
        actor=f"staff:{staff}",
        now=now,
        note=f"备注：{text[:2000]}",
    )
    return request
