"""Offers of requests to experts, and the request's state-change log."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from models.appends import append
from models.tables import HelpRequest, Offer, RequestEvent


def record_event(
    *,
    session: Session,
    request: HelpRequest,
    to_status: str,
    actor: str,
    now: datetime,
    note: str = "",
) -> None:
    """Change the request's status and log who changed it, when and why."""
    assert request.id is not None
    append(
        session,
        RequestEvent,
        request_id=request.id,
        at=now,
        actor=actor,
        from_status=request.status,
        to_status=to_status,
        note=note,
    )
    request.status = to_status
    request.updated_at = now


def offers_for(*, session: Session, request_id: int) -> list[Offer]:
    """Return every offer of a request, oldest first."""
    statement = (
        select(Offer)
        .where(Offer.request_id == request_id)
        .order_by(col(Offer.id))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(statement))


def pending_offers_of_expert(*, session: Session, expert_id: int) -> list[Offer]:
    """Return the offers waiting for this expert's answer."""
    statement = select(Offer).where(Offer.expert_id == expert_id, Offer.status == "pending")
    return list(session.exec(statement.order_by(col(Offer.id))))


def requests_offered_to(
    *, session: Session, expert_id: int, limit: int | None = None
) -> tuple[list[HelpRequest], int]:
    """The requests waiting for this expert's answer, oldest offer first, and how many.

    One statement: with `limit`, the first `limit` requests and the count of all.
    """
    statement = (
        select(HelpRequest, func.count().over())
        .join(Offer, col(Offer.request_id) == col(HelpRequest.id))
        .where(Offer.expert_id == expert_id, Offer.status == "pending")
        .order_by(col(Offer.id))
        .limit(limit)
    )
    rows = list(session.exec(statement))
    return [request for request, _ in rows], (rows[0][1] if rows else 0)


def expired_offers(*, session: Session, now: datetime) -> list[Offer]:
    """Return pending offers whose acceptance deadline has passed."""
    statement = select(Offer).where(Offer.status == "pending", col(Offer.deadline_at) <= now)
    return list(session.exec(statement.order_by(col(Offer.id))))


def events_for(*, session: Session, request_id: int) -> list[RequestEvent]:
    """Return a request's state changes, oldest first."""
    statement = select(RequestEvent).where(RequestEvent.request_id == request_id)
    return list(session.exec(statement.order_by(col(RequestEvent.id))))
