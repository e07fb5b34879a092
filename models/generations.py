"""Reference data that rarely changes (the place names, who is an expert), cached.

Every push asks "is this sender an expert?" and "which village names do we know?";
the answers change only when staff import experts or places. Each worker keeps a copy
per database together with the generation number it was read at. Whatever changes
the data bumps the number in the same transaction (`bump`); a worker re-reads the
number at most once every RECHECK_SECONDS and reloads its copy when it moved. So a
change is seen by every worker, in every process, within that time, and at once in
the process that made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, ScalarSelect, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, SQLModel, col, select

from models.appends import reading_none
from models.tables import Generation

T = TypeVar("T")

RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Copy(Generic[T]):
    value: T
    number: int
    checked_at: float


class Cached(Generic[T]):
    """One kind of reference data, loaded by `load` and kept per database."""

    _every: ClassVar[list[Cached[object]]] = []

    def __init__(self, name: str, load: Callable[[Session], T]) -> None:
        assert name in NAMES, name
        self.name = name
        self._load = load
        self._copies: WeakKeyDictionary[Engine, _Copy[T]] = WeakKeyDictionary()
        self._lock = threading.Lock()
        Cached._every.append(self)  # type: ignore[arg-type]

    def get(self, session: Session, *, fresh: bool = False) -> T:
        """The current value, reloaded when another worker changed it.

        `fresh`: check the generation number now (one small query) instead of at
        most once every RECHECK_SECONDS, for decisions that must see every change
        committed before this transaction's statement, like a query would. When this
        transaction already read the numbers (`remember_numbers`), those are used,
        without a query and without waiting for the recheck.
        """
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        copy = self._copies.get(engine)
        clock = time.monotonic()
        remembered = _remembered(session)
        if (
            copy is not None
            and remembered is None
            and not fresh
            and clock < copy.checked_at + RECHECK_SECONDS
        ):
            return copy.value
        with reading_none(session):  # reference data: nothing appended is in it
            number = remembered[self.name] if remembered else _number(session, self.name)
            if copy is None or copy.number != number:
                # Read after the number: the data is at least as new as the number says.
                copy = _Copy(self._load(session), number, clock)
            else:
                copy = _Copy(copy.value, number, clock)
        with self._lock:
            self._copies[engine] = copy
        return copy.value

    def forget(self) -> None:
        """Drop this process's copies (the next `get` reloads)."""
        with self._lock:
            self._copies.clear()


# Every kind of cached data, so that one statement can read all their numbers.
NAMES = ("experts", "places", "roster")


def number_columns() -> list[ScalarSelect[int]]:
    """One scalar subquery per name in NAMES, for a statement that reads them all."""
    return [
        select(Generation.number).where(Generation.name == name).scalar_subquery() for name in NAMES
    ]


def remember_numbers(session: Session, numbers: Sequence[int | None]) -> None:
    """Keep the numbers this transaction read (in NAMES order) for `Cached.get`."""
    by_name = {name: int(number or 0) for name, number in zip(NAMES, numbers, strict=True)}
    session.info[_REMEMBERED] = (session.get_transaction(), by_name)


def _remembered(session: Session) -> dict[str, int] | None:
    remembered = session.info.get(_REMEMBERED)
    if remembered is None or remembered[0] is not session.get_transaction():
        return None  # read in an earlier transaction of this session
    numbers: dict[str, int] = remembered[1]
    return numbers


_REMEMBERED = "farmhelp.generation_numbers"


def _number(session: Session, name: str) -> int:
    found = session.execute(_NUMBER, {"name": name}).scalar()
    return int(found or 0)


_NUMBER = select(Generation.number).where(Generation.name == bindparam("name"))


def bump(session: Session, name: str) -> None:
    """Record, in this transaction, that `name` changed; this process forgets its copies.

    Numbers this transaction remembered are dropped too: a copy loaded later in it
    sees this transaction's own change and must be filed under the new number.
    """
    session.info.pop(_REMEMBERED, None)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Generation).values(name=name, number=1)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[col(Generation.name)],
            set_={"number": Generation.number + 1},
        )
    )
    for cached in Cached._every:
        if cached.name == name:
            cached.forget()


def bump_when_flushed(name: str, *tables: type[SQLModel]) -> None:
    """Bump `name` in every flush that adds, changes or deletes a row of these tables.

    For data that many code paths change through the ORM (an expert's duty, the
    rota): nobody has to remember to call `bump`. Core UPDATE and DELETE statements
    on these tables bypass it and must call `bump` themselves.
    """

    @event.listens_for(OrmSession, "after_flush")
    def _bump(session: OrmSession, _context: object) -> None:
        if changed_rows(session, *tables):
            bump(session, name)  # type: ignore[arg-type]


def changed_rows(session: OrmSession, *tables: type[SQLModel]) -> list[SQLModel]:
    """This session's added, changed and deleted rows of these tables not yet flushed
    (in an `after_flush` hook: the ones just flushed)."""
    changed = (
        *session.new,
        *session.deleted,
        *(row for row in session.dirty if session.is_modified(row)),
    )
    return [row for row in changed if isinstance(row, tables)]


def forget_all() -> None:
    """Drop every cached copy in this process (tests that reset a database use it)."""
    for cached in Cached._every:
        cached.forget()
