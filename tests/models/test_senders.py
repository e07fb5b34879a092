"""What a push reads about its sender in one statement, once their row is locked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from models.db import make_engine
from models.farmers import lock_farmer
from models.requests import open_request
from models.senders import read_sender_state
from models.tables import Message, Outbox, Survey, utcnow


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_the_sender_state_names_what_is_open_held_or_stored(db: Session) -> None:
    now = utcnow()
    farmer = lock_farmer(session=db, openid="farmer-1", now=now, wrote=True)
    other = lock_farmer(session=db, openid="farmer-2", now=now, wrote=True)
    assert farmer.id is not None and other.id is not None

    def state(dedupe_key: str = "msg:1") -> tuple[object, ...]:
        assert farmer.id is not None
        found = read_sender_state(
            session=db, farmer_id=farmer.id, openid="farmer-1", dedupe_key=dedupe_key
        )
        return (
            found.stored_message_id,
            found.stored_reply,
            found.open_request.id if found.open_request else None,
            found.open_survey_id,
            found.anything_held,
        )

    assert state() == (None, None, None, None, False)

    closed = open_request(session=db, farmer=farmer, now=now)
    closed.status = "closed"
    current = open_request(session=db, farmer=farmer, now=now)
    open_request(session=db, farmer=other, now=now)  # someone else's
    db.add(Survey(request_id=closed.id or 0, farmer_id=farmer.id, state="answered", due_at=now))
    waiting = Survey(request_id=closed.id or 0, farmer_id=farmer.id, state="sent", due_at=now)
    db.add(waiting)
    db.add(Outbox(openid="farmer-2", kind="custom", status="held"))  # held, but not for them
    db.add(Outbox(openid="farmer-1", kind="custom", status="pending"))
    stored = Message(
        direction="in",
        channel="push",
        openid="farmer-1",
        msg_type="text",
        dedupe_key="msg:1",
        reply_body="<xml/>",
    )
    db.add(stored)
    db.flush()
    assert state() == (stored.id, "<xml/>", current.id, waiting.id, False)
    assert state("msg:2")[:2] == (None, None)

    db.add(Outbox(openid="farmer-1", kind="custom", status="held"))
    current.status = "cancelled"
    waiting.state = "expired"
    db.flush()
    assert state("msg:2") == (None, None, None, None, True)
