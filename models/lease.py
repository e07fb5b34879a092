"""A lease row that lets exactly one scheduler process act at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.db import session_scope
from models.tables import SchedulerLease


def hold_lease(engine: Engine, *, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease; return whether `holder` holds it until now + ttl.

    The lease is taken only when it is free, expired, or already ours, with one
    conditional UPDATE, so two processes can never both hold it.
    """
    _ensure_row(engine, name, now)
    with session_scope(engine) as session:
        result = session.execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == name)
            .where(or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) <= now))
            .values(holder=holder, expires_at=now + ttl)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(engine: Engine, *, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at once (on a clean shutdown), so a standby need not wait."""
    with session_scope(engine) as session:
        session.execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
            .values(expires_at=now)
        )


def _ensure_row(engine: Engine, name: str, now: datetime) -> None:
    with Session(engine) as session:
        if session.get(SchedulerLease, name) is not None:
            return
        session.add(SchedulerLease(name=name, holder="", expires_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
