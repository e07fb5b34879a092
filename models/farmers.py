"""Reading and writing farmers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from models.tables import Farmer


def get_farmer(*, session: Session, openid: str) -> Farmer | None:
    """Return the farmer with this openid, if known."""
    return session.exec(select(Farmer).where(Farmer.openid == openid)).first()


def get_or_create_farmer(*, session: Session, openid: str, now: datetime) -> Farmer:
    """Return the farmer with this openid, creating them on first contact."""
    farmer = get_farmer(session=session, openid=openid)
    if farmer is None:
        farmer = Farmer(openid=openid, created_at=now)
        session.add(farmer)
        session.flush()
    return farmer
