"""Rows a transaction only appends: a request's events, its offers, the pages about it.

Handling a push adds such rows and reads none of them back as objects. Built as ORM
objects, each was validated field by field and inserted by the unit of work one at a
time, returning an id nobody used: most of what a farmer's first message cost beyond
the least a push must do (py-spy on loaded workers). Here they are rows of values
kept on the session and written by one plain INSERT per table, before the session's
next statement (so that a query in the same transaction sees them, as autoflush
would) and before it commits. A rollback drops the rows its transaction (or a
savepoint inside it) appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, TextClause, bindparam, event, text
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

_PENDING = "farmhelp.appended"
_WRITTEN = "farmhelp.appended.in_savepoints"
# Rows of one table written by one statement at most; more go in further statements
# (each count is a statement of its own, compiled once).
MAX_ROWS = 8


def append(session: OrmSession, model: type[SQLModel], **values: Any) -> None:
    """Add a row of `model` (its defaults filled in), written with the session's next
    statement or commit; a missing required column or an unknown one raises at once."""
    fields = _fields(model)
    unknown = values.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
    row = {key: values[key] if key in values else make() for key, make in fields.items()}
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        session.connection()  # begins the transaction the row belongs to
        transaction = session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, model, row))


def write_appended(session: OrmSession) -> None:
    """Write the rows appended so far, one INSERT per table (and per MAX_ROWS rows).

    Rows appended before a savepoint and written inside it are remembered with it:
    if it is rolled back, they are appended again."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        earlier = [entry for entry in pending if not _inside(entry[0], savepoint)]
        if earlier:
            session.info.setdefault(_WRITTEN, []).append((savepoint, earlier))
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for _transaction, model, row in pending:
        by_table.setdefault(model.__table__, []).append(row)  # type: ignore[attr-defined]
    connection = session.connection()
    for table, rows in by_table.items():
        for start in range(0, len(rows), MAX_ROWS):
            chunk = rows[start : start + MAX_ROWS]
            values = {
                f"{key}_{n}": value for n, row in enumerate(chunk) for key, value in row.items()
            }
            connection.execute(insert_rows(table, len(chunk)), values)


@cache
def insert_rows(table: Table, count: int) -> TextClause:
    """INSERT INTO `table` of `count` rows in one statement (every column but the
    generated id), its values named <column>_<row> and typed as the columns are.

    Written out once per table and count: SQLAlchemy compiles a many-row insert()
    afresh on every call, and a list of rows would be an executemany, which psycopg
    runs as a pipeline: both dearer for a few rows."""
    keys = _keys(table)
    rows = ", ".join("(" + ", ".join(f":{key}_{n}" for key in keys) + ")" for n in range(count))
    names = ", ".join(table.c[key].name for key in keys)
    return text(f"INSERT INTO {table.name} ({names}) VALUES {rows}").bindparams(
        *(bindparam(f"{key}_{n}", type_=table.c[key].type) for n in range(count) for key in keys)
    )


def _keys(table: Table) -> tuple[str, ...]:
    return tuple(column.key for column in table.columns if column is not table.autoincrement_column)


@cache
def _fields(model: type[SQLModel]) -> dict[str, Callable[[], Any]]:
    """Each column's default as a function (one that raises for a required column)."""
    made: dict[str, Callable[[], Any]] = {}
    for key in _keys(model.__table__):  # type: ignore[attr-defined]
        field = model.model_fields[key]
        if field.default_factory is not None:
            made[key] = field.default_factory  # type: ignore[assignment]
        elif field.default is PydanticUndefined:
            made[key] = _required(model, key)
        else:
            made[key] = _constant(field.default)
    return made


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _required(model: type[SQLModel], key: str) -> Callable[[], Any]:
    def missing() -> Any:
        raise TypeError(f"{model.__name__}.{key} is required")

    return missing


@contextmanager
def reading_none(session: OrmSession) -> Iterator[None]:
    """Statements in this block read no table rows are appended to (reference data,
    the experts' loads): appended rows wait for the next statement that may."""
    session.info[_WAIT] = session.info.get(_WAIT, 0) + 1
    try:
        yield
    finally:
        session.info[_WAIT] -= 1


_WAIT = "farmhelp.appended.wait"


@event.listens_for(OrmSession, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    info = state.session.info
    if _PENDING in info and not info.get(_WAIT):
        write_appended(state.session)


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    if _PENDING in session.info:
        write_appended(session)


@event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, previous: SessionTransaction) -> None:
    """Drop what the rolled-back transaction, or a savepoint inside it, appended; what
    an earlier transaction appended and a rolled-back savepoint wrote is appended again."""
    pending = [e for e in session.info.pop(_PENDING, []) if not _inside(e[0], previous)]
    written = session.info.pop(_WRITTEN, [])
    undone = [entries for savepoint, entries in written if _inside(savepoint, previous)]
    again = [e for entries in undone for e in entries if not _inside(e[0], previous)]
    kept = [(savepoint, e) for savepoint, e in written if not _inside(savepoint, previous)]
    if again or pending:
        session.info[_PENDING] = again + pending
    if kept:
        session.info[_WRITTEN] = kept


@event.listens_for(OrmSession, "after_transaction_end")
def _after_end(session: OrmSession, transaction: SessionTransaction) -> None:
    """A session's transaction is over (committed, rolled back or closed): nothing of
    it is left to write."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


def _inside(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False
