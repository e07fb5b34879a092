"""Staff accounts, the audit log and the record of wrong passwords."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from models.tables import AuditEvent, LoginThrottle, StaffSession, StaffUser

ROLES = ("admin", "coordinator", "viewer")


def get_staff(*, session: Session, username: str) -> StaffUser | None:
    """Return the staff account with this username."""
    return session.exec(select(StaffUser).where(StaffUser.username == username)).first()


def list_staff(*, session: Session) -> list[StaffUser]:
    """Every staff account, by username."""
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.username))))


def record_audit(
    *,
    session: Session,
    username: str,
    action: str,
    target: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    address: str = "",
) -> None:
    """Write one audit entry: who did what to what, with the values before and after.

    Secrets never reach the log: a value whose key names a token, a password or a
    secret (a form's csrf_token, a submission key) is dropped whoever passes it."""
    session.add(
        AuditEvent(
            at=now,
            username=username[:64],
            action=action[:40],
            target=target[:120],
            before=_without_secrets(before),
            after=_without_secrets(after),
            address=address[:64],
        )
    )


_SECRET_KEY = re.compile(
    r"(^|_)(token|password|passwd|secret|csrf|submission|key|sid)($|_)", re.IGNORECASE
)


def _without_secrets(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v for k, v in values.items() if not _SECRET_KEY.search(k)}


def list_audit(*, session: Session, limit: int = 200, offset: int = 0) -> list[AuditEvent]:
    """The newest audit entries first."""
    statement = select(AuditEvent).order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)
    return list(session.exec(statement))


def count_attempt(*, session: Session, key: str, now: datetime, window: timedelta) -> int:
    """Count one sign-in attempt under `key` in the current window; return the count so far.

    One atomic upsert: parallel attempts in other workers each get their own number.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(LoginThrottle).values(key=key[:100], window_start=now, attempts=1)
    stale = col(LoginThrottle.window_start) <= now - window
    statement = upsert.on_conflict_do_update(
        index_elements=[col(LoginThrottle.key)],
        set_={
            "attempts": case((stale, 1), else_=LoginThrottle.attempts + 1),
            "window_start": case(
                (stale, upsert.excluded.window_start), else_=LoginThrottle.window_start
            ),
        },
    ).returning(col(LoginThrottle.attempts))
    return int(session.execute(statement).scalar_one())


def forget_attempts(*, session: Session, key: str) -> None:
    """Start counting afresh for `key` (after a successful sign-in)."""
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == key[:100]))


def start_staff_session(
    *, session: Session, staff_id: int, token_hash: str, now: datetime, address: str
) -> None:
    """Remember a new signed-in browser."""
    session.add(
        StaffSession(
            token_hash=token_hash,
            staff_id=staff_id,
            created_at=now,
            last_seen_at=now,
            address=address[:64],
        )
    )


def get_staff_session(*, session: Session, token_hash: str) -> StaffSession | None:
    """Return the signed-in browser with this token's hash."""
    return session.get(StaffSession, token_hash)


def end_staff_sessions(
    *, session: Session, now: datetime, staff_id: int | None = None, token_hash: str | None = None
) -> int:
    """End one browser's session, or every session of one account; return how many."""
    statement = update(StaffSession).where(col(StaffSession.ended_at).is_(None))
    if token_hash is not None:
        statement = statement.where(col(StaffSession.token_hash) == token_hash)
    if staff_id is not None:
        statement = statement.where(col(StaffSession.staff_id) == staff_id)
    result = session.execute(statement.values(ended_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def prune_sign_ins(*, session: Session, now: datetime) -> int:
    """Forget sign-in counts older than a day and sessions that ended (or went idle past
    any limit) more than a day ago; return how many rows went."""
    day_ago = now - timedelta(days=1)
    counts = session.execute(delete(LoginThrottle).where(col(LoginThrottle.window_start) < day_ago))
    sessions = session.execute(
        delete(StaffSession).where(
            (col(StaffSession.ended_at) < day_ago) | (col(StaffSession.last_seen_at) < day_ago)
        )
    )
    return int(getattr(counts, "rowcount", 0) or 0) + int(getattr(sessions, "rowcount", 0) or 0)
