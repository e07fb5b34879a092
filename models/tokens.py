"""The shared access_token row, renewed by one process at a time.

No transaction is ever held open across the call to WeChat: a process claims the
refresh with a short conditional update, fetches with no lock held, and stores the
token in another short transaction; the others wait for it (on SQLite a long
transaction would hold the database's only write lock and stall every push).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.db import session_scope
from models.tables import AccessToken, utcnow

# Renew this long before WeChat's expiry, so a token is never used as it dies.
EXPIRY_MARGIN = timedelta(seconds=300)
# How long one process may take to fetch before another may try.
REFRESH_CLAIM = timedelta(seconds=20)
WAIT_FOR_OTHERS = 20.0


class TokenUnavailable(Exception):
    """Another process is fetching the token and did not finish in time."""


def get_valid_token(
    engine: Engine,
    app_id: str,
    fetch: Callable[[], tuple[str, int]],
    *,
    stale: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> str:
    """Return a valid token, fetching one (with `fetch`) only when none is.

    Processes that all find the token expired fetch it once: one claims the refresh,
    the others wait for its result. `stale` names a token the API just rejected: it
    is renewed even if unexpired.
    """
    _ensure_row(engine, app_id)
    deadline = time.monotonic() + WAIT_FOR_OTHERS
    while True:
        current = now()
        with Session(engine) as session:
            row = session.get(AccessToken, app_id)
            assert row is not None
            observed = row.token
            if observed and observed != stale and row.expires_at - EXPIRY_MARGIN > current:
                return observed
        if _claim_refresh(engine, app_id, observed, current):
            break
        if time.monotonic() > deadline:
            raise TokenUnavailable(f"no access_token for {app_id}: another process is fetching")
        time.sleep(0.1)
    try:
        token, expires_in = fetch()
    except BaseException:
        _release_claim(engine, app_id)
        raise
    with session_scope(engine) as session:
        row = session.get(AccessToken, app_id)
        assert row is not None
        fetched = now()
        row.token, row.fetched_at = token, fetched
        row.expires_at = fetched + timedelta(seconds=expires_in)
        row.refreshing_until = None
    return token


def _claim_refresh(engine: Engine, app_id: str, observed: str, now: datetime) -> bool:
    """Claim the refresh unless someone else holds it or already replaced `observed`."""
    with session_scope(engine) as session:
        result = session.execute(
            update(AccessToken)
            .where(col(AccessToken.app_id) == app_id, col(AccessToken.token) == observed)
            .where(
                or_(
                    col(AccessToken.refreshing_until).is_(None),
                    col(AccessToken.refreshing_until) <= now,
                )
            )
            .values(refreshing_until=now + REFRESH_CLAIM)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _release_claim(engine: Engine, app_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(AccessToken)
            .where(col(AccessToken.app_id) == app_id)
            .values(refreshing_until=None)
        )


def _ensure_row(engine: Engine, app_id: str) -> None:
    with Session(engine) as session:
        if session.get(AccessToken, app_id) is not None:
            return
        session.add(AccessToken(app_id=app_id, token="", expires_at=utcnow()))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another process created it first
