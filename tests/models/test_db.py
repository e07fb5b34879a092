"""Pooled PostgreSQL connections: checked after sitting idle, not on every checkout, and
opened without JIT compilation."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

import models.db
from models.db import make_engine, postgresql_options
from tests.conftest import require_service


@pytest.fixture
def engine() -> Iterator[Engine]:
    url = require_service("postgres", os.environ.get("FARMHELP_TEST_POSTGRES_URL"))
    engine = make_engine(url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_in_steady_use_is_not_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(engine, monkeypatch)
    first = _backend_pid(engine)
    assert [_backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_an_idle_connection_whose_server_side_is_gone_is_replaced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(engine, monkeypatch)
    first = _backend_pid(engine)
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    with admin.begin() as connection:
        terminated = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        assert terminated.scalar()
    admin.dispose()
    monkeypatch.setattr(models.db, "IDLE_PING_SECONDS", 0.0)  # as if it sat idle
    # The ping finds the connection dead; the pool hands out a new one, no error.
    second = _backend_pid(engine)
    assert second != first
    assert len(pings) == 1


def test_connections_run_without_jit(engine: Engine) -> None:
    """A console query must not spend a third of its answer compiling itself."""
    with engine.connect() as connection:
        assert connection.execute(text("SHOW jit")).scalar_one() == "off"
        # a rolled-back transaction keeps it: it is the connection's setting
        connection.rollback()
        assert connection.execute(text("SHOW jit")).scalar_one() == "off"


def test_options_given_with_the_url_or_pgoptions_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    base = "postgresql://farmhelp@db/farmhelp"
    assert postgresql_options(base) == "-c jit=off"
    assert postgresql_options(base + "?options=-c%20statement_timeout%3D5s") == (
        "-c statement_timeout=5s -c jit=off"
    )
    monkeypatch.setenv("PGOPTIONS", "-c search_path=county")
    assert postgresql_options(base) == "-c search_path=county -c jit=off"
