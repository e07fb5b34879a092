"""The shared access_token row, read and renewed under a row lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.db import session_scope
from models.tables import AccessToken, utcnow

# Renew this long before WeChat's expiry, so a token is never used as it dies.
EXPIRY_MARGIN = timedelta(seconds=300)


def get_valid_token(
    engine: Engine,
    app_id: str,
    fetch: Callable[[], tuple[str, int]],
    *,
    stale: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> str:
    """Return a valid token, fetching one (with `fetch`) only when none is.

    The row is locked while fetching (SELECT … FOR UPDATE on PostgreSQL, the write
    lock on SQLite), so processes that all find the token expired fetch it once.
    `stale` names a token the API just rejected: it is renewed even if unexpired.
    """
    _ensure_row(engine, app_id)
    with session_scope(engine) as session:
        row = _locked_row(session, app_id)
        current = now()
        if row.token and row.token != stale and row.expires_at - EXPIRY_MARGIN > current:
            return row.token
        token, expires_in = fetch()
        row.token = token
        row.fetched_at = current
        row.expires_at = current + timedelta(seconds=expires_in)
        return token


def _ensure_row(engine: Engine, app_id: str) -> None:
    with Session(engine) as session:
        if session.get(AccessToken, app_id) is not None:
            return
        session.add(AccessToken(app_id=app_id, token="", expires_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another process created it first


def _locked_row(session: Session, app_id: str) -> AccessToken:
    statement = select(AccessToken).where(AccessToken.app_id == app_id).with_for_update()
    return session.exec(statement).one()
