"""Reading and writing help requests, and the request ledger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from models.tables import Farmer, HelpRequest

# Statuses in which a request still belongs to its farmer's conversation.
OPEN_STATUSES = ("intake", "new", "offered", "unassigned", "accepted", "visit_booked")
# Statuses in which an expert has taken the request and messages are relayed.
RELAYED_STATUSES = ("accepted", "visit_booked")

MAX_REQUEST_CHARS = 4000

_CODE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CODES_PER_LETTER = 999_000  # numbers 1000..999999


def code_for_id(request_id: int) -> str:
    """Return the farmer-facing code for a request id: A1000, A1001 … A999999, B1000 …"""
    letter, offset = divmod(request_id - 1, _CODES_PER_LETTER)
    return f"{_CODE_LETTERS[letter % len(_CODE_LETTERS)]}{1000 + offset}"


def open_request(*, session: Session, farmer: Farmer, now: datetime) -> HelpRequest:
    """Create a request for this farmer and give it its code."""
    assert farmer.id is not None
    request = HelpRequest(
        farmer_id=farmer.id,
        place=farmer.place,
        latitude=farmer.latitude,
        longitude=farmer.longitude,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    assert request.id is not None
    request.code = code_for_id(request.id)  # written with the request's next change
    return request


def lock_request(*, session: Session, request_id: int) -> HelpRequest:
    """Return the request, re-read and locked until the transaction ends.

    Every change of a request's status goes through this first, so two people acting
    on one request at once (two experts accepting, a farmer cancelling as an expert
    accepts) are decided one after the other, each seeing the other's outcome.
    """
    statement = (
        select(HelpRequest)
        .where(HelpRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).one()


def get_request_by_code(*, session: Session, code: str) -> HelpRequest | None:
    """Return the request with this code (case-insensitive)."""
    return session.exec(select(HelpRequest).where(HelpRequest.code == code.upper())).first()


def append_text(request: HelpRequest, text: str, now: datetime) -> bool:
    """Add the farmer's words to the request's text; False when it is full (nothing added).

    A request's text holds at most MAX_REQUEST_CHARS: more words stay in the
    conversation log, so one talkative farmer cannot slow everyone's pushes.
    """
    text = text.strip()
    request.updated_at = now
    if not text:
        return True
    joined = f"{request.text}\n{text}" if request.text else text
    if len(joined) > MAX_REQUEST_CHARS:
        return False
    request.text = joined
    return True


def iter_ledger(
    *, session: Session, after: int = 0, limit: int | None = None
) -> Iterator[tuple[HelpRequest, Farmer]]:
    """Yield the requests with ids after `after` (at most `limit`) with their farmers,
    oldest first."""
    statement = (
        select(HelpRequest, Farmer)
        .join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id))
        .where(col(HelpRequest.id) > after)
        .order_by(col(HelpRequest.id))
        .limit(limit)
    )
    yield from session.exec(statement)


def open_requests_of_farmer(*, session: Session, farmer_id: int) -> list[HelpRequest]:
    """The farmer's requests still in progress, oldest first."""
    statement = (
        select(HelpRequest)
        .where(HelpRequest.farmer_id == farmer_id, col(HelpRequest.status).in_(OPEN_STATUSES))
        .order_by(col(HelpRequest.id))
    )
    return list(session.exec(statement))


def requests_of_expert(*, session: Session, expert_id: int) -> list[HelpRequest]:
    """Return the requests an expert is working on, the one accepted last first."""
    statement = (
        select(HelpRequest)
        .where(HelpRequest.expert_id == expert_id)
        .where(col(HelpRequest.status).in_(RELAYED_STATUSES))
        .order_by(col(HelpRequest.accepted_at).desc(), col(HelpRequest.id).desc())
    )
    return list(session.exec(statement))


def unassigned_requests(
    *, session: Session, categories: Sequence[str] | None = None
) -> list[HelpRequest]:
    """Return the requests nobody took in time, oldest first (only these categories)."""
    statement = (
        select(HelpRequest).where(HelpRequest.status == "unassigned").order_by(col(HelpRequest.id))
    )
    if categories is not None:
        statement = statement.where(col(HelpRequest.category).in_(categories))
    return list(session.exec(statement))
