"""Engine construction and sessions; nothing is built at import time."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

# A pooled connection that sat unused this long is checked with one round trip before
# it is handed out (the server may have restarted, a firewall may have dropped it); one
# in steady use is not, so a busy worker does not pay a round trip per transaction.
IDLE_PING_SECONDS = 10.0

# PostgreSQL compiles a plan to machine code once its estimated cost passes
# jit_above_cost; for farmhelp's queries (a township's advisory audience, a phrase
# search over a province) that compiling took 0.3 s of a 0.8 s answer and saved less.
# The setting is sent when a connection opens: nothing to configure on the server.
POSTGRESQL_OPTIONS = "-c jit=off"


def normalise_database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and pick the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and serialised writers,
    PostgreSQL connections run without JIT compilation."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    connect_args = {"options": postgresql_options(url), **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _ping_idle_connections(engine)
    return engine


def postgresql_options(url: str) -> str:
    """The connection's `options`: any given in the URL (`?options=…`) or in PGOPTIONS
    (which libpq would no longer read once options are given), then POSTGRESQL_OPTIONS."""
    given = make_url(url).query.get("options") or os.environ.get("PGOPTIONS") or ""
    if not isinstance(given, str):  # the option repeated in the URL
        given = " ".join(given)
    return f"{given} {POSTGRESQL_OPTIONS}".strip()


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and tries a new one (up to three times).
            raise DisconnectionError(f"idle connection is gone: {error}") from error


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so two processes writing the
        # same row wait for each other instead of failing on a stale snapshot.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
