"""(timestamp, nonce) pairs of signed pushes, remembered to refuse replays."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session, col

from models.tables import PushNonce


def admit_nonce(*, session: Session, key: str, body_hash: str, expires_at: datetime) -> bool:
    """Remember the pair; return False when it was seen before with another body."""
    statement = _insert_nonce(session.get_bind().dialect.name)
    inserted = session.execute(
        statement, {"key": key, "body_hash": body_hash, "expires_at": expires_at}
    ).first()
    if inserted is not None:
        return True
    seen = session.execute(
        select(col(PushNonce.body_hash)).where(col(PushNonce.key) == key)
    ).scalar_one_or_none()
    return seen == body_hash


@functools.cache
def _insert_nonce(dialect: str) -> ReturningInsert[tuple[str]]:
    """Built once per dialect: every push runs it, and building it costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = PushNonce.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .values({name: bindparam(name) for name in ("key", "body_hash", "expires_at")})
        .on_conflict_do_nothing(index_elements=[table.c.key])
        .returning(table.c.key)
    )


def prune_nonces(*, session: Session, now: datetime) -> int:
    """Forget pairs whose timestamps can no longer be accepted anyway."""
    result = session.execute(delete(PushNonce).where(col(PushNonce.expires_at) < now))
    return int(getattr(result, "rowcount", 0) or 0)
