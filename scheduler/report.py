"""The monthly report job: every night, compute last month's report and store it,
as the dispatch table's rows and as the whole page the console shows."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import Engine

from handlers.config import Policy
from handlers.report import previous_month
from handlers.report_page import compute_page, store_snapshot
from handlers.scores import ScoreRule
from models.db import session_scope
from models.reports import store_report

log = logging.getLogger(__name__)


def store_last_month(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Compute last month's report, store it for the console; return its row count.

    Run every night, so that answers and visits recorded late still count."""
    month = previous_month(now, policy.tz)
    started = time.monotonic()
    with session_scope(engine) as session:
        page = compute_page(session, month, policy.tz, ScoreRule.of(policy))
        store_report(session=session, month=month, rows=page.rows, now=now)
        store_snapshot(session, page, policy.tz, now=now)
    log.info(
        "monthly report for %s stored (%d rows) in %.1f s",
        month,
        len(page.rows),
        time.monotonic() - started,
    )
    return len(page.rows)
