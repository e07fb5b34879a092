"""The monthly report job: on the 1st, compute and store last month's figures."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from handlers.config import Policy
from handlers.report import compute_month, previous_month
from models.db import session_scope
from models.reports import store_report

log = logging.getLogger(__name__)


def store_last_month(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Compute last month's report, store it for the console; return its row count."""
    month = previous_month(now, policy.tz)
    with session_scope(engine) as session:
        rows = compute_month(session, month, policy.tz)
        store_report(session=session, month=month, rows=rows, now=now)
    log.info("monthly report for %s stored (%d rows)", month, len(rows))
    return len(rows)
