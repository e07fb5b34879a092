"""Writing a county-wide advisory's outbox rows, a batch at a time.

The console's send writes the first batch; this job writes the rest, one batch per
transaction with the advisory's row locked, and pauses between batches, so that the
hundred thousand rows of a county go into the outbox in seconds while the webhook
keeps its share of the machine (bench/advisory.py measures both).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select

from handlers.advisories import advisories_to_queue, queue_batch
from handlers.config import Policy
from models.db import session_scope
from models.tables import Advisory

log = logging.getLogger(__name__)

PAUSE = 0.05  # seconds between two batches
# Seconds one run keeps writing: under the job's interval (1 s), so that runs never
# overlap; the next run goes on where this one stopped.
BUDGET = 0.9


def queue_advisories(
    *,
    engine: Engine,
    config: Policy,
    clock: Callable[[], datetime],
    pause: float = PAUSE,
    budget: float = BUDGET,
) -> int:
    """Write the next batches of every advisory still being queued; return the rows
    written. Stops after `budget` seconds (the next run goes on where it stopped)."""
    with session_scope(engine) as session:
        waiting = advisories_to_queue(session)
    written = 0
    deadline = time.monotonic() + budget
    batch_took = 0.0  # the last batch's time: one more must fit before the deadline
    for advisory_id in waiting:
        while time.monotonic() + batch_took < deadline:
            started = time.monotonic()
            try:
                with session_scope(engine) as session:
                    advisory = session.exec(
                        select(Advisory)
                        .where(Advisory.id == advisory_id)
                        .with_for_update(skip_locked=True)
                    ).first()
                    if advisory is None or advisory.queued_at is not None:
                        break  # queued meanwhile, or another process is writing it
                    ways = queue_batch(session, advisory=advisory, config=config, now=clock())
                    written += sum(ways.values())
                    finished = advisory.queued_at is not None
                    queued, recipients = advisory.queued, advisory.recipients
            except Exception:
                # Tried again next run; the advisories after it go on meanwhile.
                log.exception("advisory %d: a batch could not be queued", advisory_id)
                break
            batch_took = time.monotonic() - started
            if finished:
                log.info("advisory %d queued for %d farmers", advisory_id, queued)
                break
            log.debug("advisory %d: %d of %d queued", advisory_id, queued, recipients)
            time.sleep(pause)
    return written
