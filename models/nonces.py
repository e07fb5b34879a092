"""(timestamp, nonce) pairs of signed pushes, remembered to refuse replays."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models.tables import PushNonce


def admit_nonce(*, session: Session, key: str, body_hash: str, expires_at: datetime) -> bool:
    """Remember the pair; return False when it was seen before with another body."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = session.execute(
        insert(PushNonce)
        .values(key=key, body_hash=body_hash, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[col(PushNonce.key)])
        .returning(col(PushNonce.key))
    ).first()
    if inserted is not None:
        return True
    seen = session.execute(
        select(col(PushNonce.body_hash)).where(col(PushNonce.key) == key)
    ).scalar_one_or_none()
    return seen == body_hash


def prune_nonces(*, session: Session, now: datetime) -> int:
    """Forget pairs whose timestamps can no longer be accepted anyway."""
    result = session.execute(delete(PushNonce).where(col(PushNonce.expires_at) < now))
    return int(getattr(result, "rowcount", 0) or 0)
