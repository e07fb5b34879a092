"""How many requests each expert is working on, as routing counts them mid-transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlmodel import Session

from models.db import make_engine
from models.experts import open_request_counts, upsert_expert
from models.farmers import lock_farmer
from models.requests import open_request
from models.tables import utcnow


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_the_counts_see_this_transactions_own_changes_to_requests_with_an_expert(
    db: Session,
) -> None:
    now = utcnow()
    farmer = lock_farmer(session=db, openid="farmer-1", now=now, wrote=True)
    li, _ = upsert_expert(session=db, openid="exp-li", name="李", team="植保队")
    wang, _ = upsert_expert(session=db, openid="exp-wang", name="王", team="植保队")
    request = open_request(session=db, farmer=farmer, now=now)
    request.status, request.expert_id = "accepted", li.id
    db.commit()
    assert open_request_counts(session=db) == {li.id: 1}

    request.expert_id = wang.id  # handed over, not flushed yet
    assert open_request_counts(session=db) == {wang.id: 1}
    request.status = "done"
    assert open_request_counts(session=db) == {}
    db.rollback()

    request.status, request.expert_id = "offered", None  # given back, not flushed yet
    assert open_request_counts(session=db) == {}
    db.rollback()
    assert open_request_counts(session=db) == {li.id: 1}


def test_a_request_being_routed_is_not_flushed_by_the_count(db: Session) -> None:
    now = utcnow()
    farmer = lock_farmer(session=db, openid="farmer-1", now=now, wrote=True)
    request = open_request(session=db, farmer=farmer, now=now)
    db.commit()
    db.refresh(request)  # as a push has it: read in this transaction
    statements: list[str] = []
    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", lambda *a: statements.append(a[2]))

    request.status, request.text = "new", "玉米叶子发黄"
    assert open_request_counts(session=db) == {}
    assert not any(statement.startswith("UPDATE") for statement in statements)
    db.flush()
    assert any(statement.startswith("UPDATE help_request") for statement in statements)
