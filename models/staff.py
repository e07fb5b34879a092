"""Staff accounts, the audit log and the record of wrong passwords."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from models.tables import AuditEvent, LoginFailure, StaffUser

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
    """Write one audit entry: who did what to what, with the values before and after."""
    session.add(
        AuditEvent(
            at=now,
            username=username[:64],
            action=action[:40],
            target=target[:120],
            before=before,
            after=after,
            address=address[:64],
        )
    )


def list_audit(*, session: Session, limit: int = 200, offset: int = 0) -> list[AuditEvent]:
    """The newest audit entries first."""
    statement = select(AuditEvent).order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)
    return list(session.exec(statement))


def count_recent_failures(
    *, session: Session, username: str, address: str, since: datetime
) -> tuple[int, int]:
    """Wrong passwords since `since`: (for this username, from this address)."""

    def count(condition: Any) -> int:
        statement = (
            select(func.count())
            .select_from(LoginFailure)
            .where(condition, col(LoginFailure.at) >= since)
        )
        return int(session.exec(statement).one())

    return count(col(LoginFailure.username) == username), count(
        col(LoginFailure.address) == address
    )


def record_failure(*, session: Session, username: str, address: str, now: datetime) -> None:
    """Remember one wrong password (and forget those older than a day)."""
    session.add(LoginFailure(username=username[:64], address=address[:64], at=now))
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < now - timedelta(days=1)))


def clear_failures(*, session: Session, username: str, address: str) -> None:
    """A successful sign-in forgets that user's and that address's wrong passwords."""
    session.execute(
        delete(LoginFailure).where(
            or_(col(LoginFailure.username) == username, col(LoginFailure.address) == address)
        )
    )
