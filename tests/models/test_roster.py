"""The duty roster routing reads: cached per worker, reloaded as soon as anything changes.

Two engines on one database stand for two workers: each keeps its own copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from models.db import make_engine
from models.experts import duty_roster, upsert_expert
from models.farmers import lock_farmer_id
from models.senders import read_sender_state
from models.tables import DutyShift, Expert, Team, utcnow


@pytest.fixture
def workers(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def on_duty(engine: Engine) -> set[str]:
    """The openids on duty now, as this worker's roster says."""
    with Session(engine) as session:
        roster = duty_roster(session=session)
        ids = roster.on_duty_ids(utcnow())
        return {expert.openid for expert in roster.experts if expert.id in ids}


def test_a_change_in_one_worker_is_seen_by_the_next_routing_in_another(
    workers: tuple[Engine, Engine],
) -> None:
    first, second = workers
    now = utcnow()
    with Session(first) as session:
        li, _ = upsert_expert(session=session, openid="exp-li", name="李", team="植保队")
        upsert_expert(session=session, openid="exp-wang", name="王", team="植保队")
        assert li.id is not None
        session.add(
            DutyShift(expert_id=li.id, start=now - timedelta(hours=1), end=now + timedelta(hours=1))
        )
        session.commit()
    assert on_duty(second) == {"exp-li"}

    def swap_duty(session: Session) -> None:  # 下班 for li, 值班 for wang
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
        li.duty_override, li.duty_override_until = "off", now + timedelta(hours=12)
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        wang.duty_override, wang.duty_override_until = "on", now + timedelta(hours=12)
        session.flush()

    with Session(first) as session:
        swap_duty(session)
        session.rollback()
    assert on_duty(second) == {"exp-li"}  # rolled back: nothing changed
    with Session(first) as session:
        swap_duty(session)
        session.commit()
    assert on_duty(second) == {"exp-wang"}

    with Session(first) as session:  # the console deletes the shift and clears the overrides
        for expert in session.exec(select(Expert)):
            expert.duty_override, expert.duty_override_until = None, None
        for shift in session.exec(select(DutyShift)):
            session.delete(shift)
        session.add(Team(name="抢单队", broadcast=True))
        session.commit()
    assert on_duty(second) == set()
    with Session(second) as session:
        assert duty_roster(session=session).broadcast_teams == frozenset({"抢单队"})

    with Session(first) as session:  # an expert leaves
        wang = session.exec(select(Expert).where(Expert.openid == "exp-wang")).one()
        wang.active = False
        session.commit()
    with Session(second) as session:
        assert [e.openid for e in duty_roster(session=session).experts] == ["exp-li"]


def test_overrides_expire_and_shifts_start_without_any_change(
    workers: tuple[Engine, Engine],
) -> None:
    first, _ = workers
    now = utcnow()
    with Session(first) as session:
        li, _ = upsert_expert(session=session, openid="exp-li", name="李")
        assert li.id is not None
        session.add(
            DutyShift(expert_id=li.id, start=now + timedelta(hours=1), end=now + timedelta(hours=2))
        )
        li.duty_override, li.duty_override_until = "on", now + timedelta(minutes=30)
        session.commit()
        li_id = li.id
    with Session(first) as session:
        roster = duty_roster(session=session)
        assert roster.on_duty_ids(now) == {li_id}  # the override
        assert roster.on_duty_ids(now + timedelta(minutes=45)) == set()  # override over
        assert roster.on_duty_ids(now + timedelta(minutes=90)) == {li_id}  # the shift
        assert roster.on_duty_ids(now + timedelta(hours=3)) == set()


def test_a_push_checks_the_roster_with_the_numbers_its_sender_state_read(
    workers: tuple[Engine, Engine],
) -> None:
    first, second = workers
    now = utcnow()
    with Session(first) as session:
        li, _ = upsert_expert(session=session, openid="exp-li", name="李")
        li.duty_override, li.duty_override_until = "on", now + timedelta(hours=12)
        session.commit()
    assert on_duty(second) == {"exp-li"}  # the second worker has its copy

    statements: list[str] = []
    event.listen(second, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with Session(second) as session:
        farmer_id = lock_farmer_id(session=session, openid="farmer-1", now=now)
        read_sender_state(session=session, farmer_id=farmer_id, openid="farmer-1", dedupe_key="k")
        before = len(statements)
        roster = duty_roster(session=session)
        assert len(statements) == before  # no query: the numbers came with the sender state
        assert [e.openid for e in roster.experts] == ["exp-li"]

        # 下班 in this push, then the push fails: the change must not stay in the copy.
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
        li.duty_override = "off"  # not flushed: the roster still sees it
        assert duty_roster(session=session).on_duty_ids(now) == set()
        session.rollback()
    assert on_duty(second) == {"exp-li"}
