"""Media files (photos, voice notes, videos) waiting to be fetched or stored."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from models.tables import MediaFile


def count_media(*, session: Session, request_id: int) -> int:
    """Return how many media files are linked to a request."""
    statement = (
        select(func.count()).select_from(MediaFile).where(MediaFile.request_id == request_id)
    )
    return int(session.exec(statement).one())


def due_media(*, session: Session, now: datetime, limit: int = 20) -> list[MediaFile]:
    """Return pending media files whose next attempt is due, oldest first."""
    statement = (
        select(MediaFile)
        .where(MediaFile.status == "pending")
        .where(col(MediaFile.next_try_at) <= now)
        .order_by(col(MediaFile.id))
        .limit(limit)
    )
    return list(session.exec(statement))


def list_media(*, session: Session, request_id: int) -> list[MediaFile]:
    """Return a request's media files, oldest first."""
    statement = (
        select(MediaFile).where(MediaFile.request_id == request_id).order_by(col(MediaFile.id))
    )
    return list(session.exec(statement))
