"""Due-dated rows taken one at a time: each claimed in its own transaction, so that two
scheduler processes never act on the same row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from models.db import session_scope
from models.tables import Survey, TreatmentCheck

Due = TypeVar("Due", Survey, TreatmentCheck)


def each_due(
    engine: Engine, table: type[Due], *, now: datetime, act: Callable[[Session, Due], int]
) -> int:
    """Run `act` on every row of `table` scheduled and due by `now` (state "scheduled"
    → "sending", claimed first); return the sum of what `act` returned."""
    with session_scope(engine) as session:
        due = [
            row.id
            for row in session.exec(
                select(table).where(col(table.state) == "scheduled", col(table.due_at) <= now)
            )
        ]
    done = 0
    for row_id in due:
        with session_scope(engine) as session:
            claimed = session.execute(
                update(table)
                .where(col(table.id) == row_id, col(table.state) == "scheduled")
                .values(state="sending")
            )
            if getattr(claimed, "rowcount", 0) != 1:
                continue  # another scheduler took it
            row = session.get(table, row_id)
            assert row is not None
            done += act(session, row)
    return done
