"""Acceptance timeouts: unanswered offers go to the next candidate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from handlers.config import Policy
from handlers.routing import expire_offers
from models.db import session_scope
from models.offers import expired_offers


def check_offer_timeouts(*, engine: Engine, config: Policy, now: datetime) -> int:
    """Time out offers past their deadline and re-route their requests."""
    with session_scope(engine) as session:
        offers = expired_offers(session=session, now=now)
        return expire_offers(session, config=config, now=now, offers=offers)
