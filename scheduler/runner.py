"""Running the scheduler: in-process (farmhelp serve) or alone (farmhelp scheduler).

Every process that can schedule competes for one lease row in the database; only
the holder runs jobs, renewing the lease every few seconds. When it dies, its lease
runs out and a standby takes over.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from datetime import timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from models.lease import hold_lease, release_lease
from models.tables import utcnow
from scheduler import runtime
from scheduler.delivery import DeliveryPool
from scheduler.jobs import install_jobs
from scheduler.outbox import release_orphaned_claims

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=15)
RENEW_EVERY = 3.0
STOP_WAIT = 5.0


class SchedulerService:
    """APScheduler with a persistent job store, acting only while it holds the lease."""

    def __init__(self, context: runtime.JobContext) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.context = dataclasses.replace(context, holder=self.holder)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=context.engine)},
            timezone="UTC",
        )
        self.active = False
        self.delivery = DeliveryPool(self.context, context.deliverers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start competing for the lease in a background thread."""
        runtime.install(self.context)
        self._thread = threading.Thread(target=self.run, name="farmhelp-scheduler", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Hold the lease and run jobs until stopped (blocks)."""
        runtime.install(self.context)
        log.info("scheduler %s waiting for the lease", self.holder)
        while not self._stop.is_set():
            self._tick()
            self._stop.wait(RENEW_EVERY)
        self._step_down()

    def _tick(self) -> None:
        try:
            holding = hold_lease(
                self.context.engine,
                name=LEASE_NAME,
                holder=self.holder,
                now=utcnow(),
                ttl=LEASE_TTL,
            )
        except Exception:
            log.exception("scheduler %s cannot reach the database; pausing", self.holder)
            holding = False
        if holding and not self.active:
            self._take_over()
        elif not holding and self.active:
            log.warning("scheduler %s lost the lease; pausing its jobs", self.holder)
            self.scheduler.pause()
            self.delivery.stop()
            self.active = False

    def _take_over(self) -> None:
        released = release_orphaned_claims(
            engine=self.context.engine, keep=self.holder, now=utcnow()
        )
        if released:
            log.warning("scheduler %s released %d orphaned outbox claims", self.holder, released)
        if not self.scheduler.running:
            self.scheduler.start(paused=True)
            install_jobs(self.scheduler, self.context.config.timezone)
        self.scheduler.resume()
        self.delivery.start()
        self.active = True
        log.info("scheduler %s holds the lease and runs the jobs", self.holder)

    def _step_down(self) -> None:
        self.delivery.stop(timeout=3.0)
        if self.scheduler.running:
            # Running jobs see `stopping` and finish their current row; a call hanging
            # on the WeChat API is not waited for (its row is released on takeover).
            self.scheduler.shutdown(wait=False)
        if self.active:
            release_lease(self.context.engine, name=LEASE_NAME, holder=self.holder, now=utcnow())
            self.active = False

    def stop(self) -> None:
        """Stop running jobs and give the lease up (within a few seconds)."""
        self.context.stopping.set()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT)
