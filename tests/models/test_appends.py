"""Appended rows: seen by the transaction's next query, written on commit, gone on rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from models.appends import MAX_ROWS, append, reading_none
from models.db import session_scope
from models.tables import Expert, Farmer, HelpRequest, Offer, RequestEvent, utcnow


def _request(engine: Engine) -> int:
    with session_scope(engine) as session:
        session.add(Expert(openid="e-appends", name="李专家"))
        farmer = Farmer(openid="o-appends")
        session.add(farmer)
        session.flush()
        assert farmer.id is not None
        request = HelpRequest(farmer_id=farmer.id, code="A1000")
        session.add(request)
        session.flush()
        assert request.id is not None
        return request.id


def _events(engine: Engine, request_id: int) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(RequestEvent.to_status, RequestEvent.note)
            .where(RequestEvent.request_id == request_id)
            .order_by(col(RequestEvent.id))
        )
        return [(status, note) for status, note in rows]


def test_the_next_query_in_the_transaction_sees_them_and_commit_keeps_them(
    engine: Engine,
) -> None:
    request_id = _request(engine)
    with session_scope(engine) as session:
        append(session, RequestEvent, request_id=request_id, actor="system", to_status="new")
        append(session, RequestEvent, request_id=request_id, actor="system", to_status="offered")
        expert = session.exec(select(Expert)).one()
        append(session, Offer, request_id=request_id, expert_id=expert.id, reason="近")
        seen = session.exec(select(func.count()).where(RequestEvent.request_id == request_id)).one()
        assert seen == 2
    assert _events(engine, request_id) == [("new", ""), ("offered", "")]  # defaults filled
    with Session(engine) as session:
        offer = session.exec(select(Offer).where(Offer.request_id == request_id)).one()
        assert (offer.status, offer.reason, offer.answered_at) == ("pending", "近", None)
        assert offer.offered_at is not None


def test_a_rollback_drops_them_and_a_savepoint_only_its_own(engine: Engine) -> None:
    request_id = _request(engine)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        append(session, RequestEvent, request_id=request_id, actor="system", to_status="new")
        raise RuntimeError("the handler failed")
    assert _events(engine, request_id) == []
    with session_scope(engine) as session:
        append(session, RequestEvent, request_id=request_id, actor="a", to_status="new")
        savepoint = session.begin_nested()
        append(session, RequestEvent, request_id=request_id, actor="b", to_status="offered")
        savepoint.rollback()
        append(session, RequestEvent, request_id=request_id, actor="c", to_status="closed")
    assert _events(engine, request_id) == [("new", ""), ("closed", "")]


def test_many_rows_go_in_statements_of_at_most_max_rows(engine: Engine) -> None:
    request_id = _request(engine)
    count = MAX_ROWS * 2 + 3
    with session_scope(engine) as session:
        for n in range(count):
            append(
                session,
                RequestEvent,
                request_id=request_id,
                at=utcnow(),
                actor="system",
                to_status="new",
                note=str(n),
            )
    assert [note for _, note in _events(engine, request_id)] == [str(n) for n in range(count)]


def test_a_wrong_or_missing_column_is_refused_at_once(session: Session) -> None:
    with pytest.raises(TypeError, match="no column colour"):
        append(session, RequestEvent, request_id=1, actor="a", to_status="new", colour="red")
    with pytest.raises(TypeError, match=r"RequestEvent\.to_status is required"):
        append(session, RequestEvent, request_id=1, actor="a")


def test_reference_reads_leave_them_for_the_next_statement(engine: Engine) -> None:
    """The roster, the place book and the experts' loads read no appended table: the
    rows wait, and go in one INSERT with those appended after."""
    request_id = _request(engine)
    counted = select(func.count()).where(RequestEvent.request_id == request_id)
    with session_scope(engine) as session:
        append(session, RequestEvent, request_id=request_id, actor="system", to_status="new")
        with reading_none(session):
            assert session.exec(counted).one() == 0  # not written yet
        append(session, RequestEvent, request_id=request_id, actor="system", to_status="offered")
        assert session.exec(counted).one() == 2


def test_rows_written_inside_a_savepoint_that_is_rolled_back_are_written_again(
    engine: Engine,
) -> None:
    request_id = _request(engine)
    counted = select(func.count()).where(RequestEvent.request_id == request_id)
    with session_scope(engine) as session:
        append(session, RequestEvent, request_id=request_id, actor="a", to_status="new")
        savepoint = session.begin_nested()
        append(session, RequestEvent, request_id=request_id, actor="b", to_status="offered")
        assert session.exec(counted).one() == 2  # both written inside the savepoint
        savepoint.rollback()
        assert session.exec(counted).one() == 1  # the outer one is written again
    assert _events(engine, request_id) == [("new", "")]
