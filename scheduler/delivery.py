"""Outbox delivery by a pool of deliverers, each sending for its own recipients.

Deliverer n of N takes the rows whose lane (a hash of the recipient) is n modulo N,
so one person's messages go out in order through one deliverer while the others
send to everyone else at the same time: throughput grows with deliverers while
each WeChat call waits on the network. Rows are still claimed one by one with a
conditional update, so even two pools (two schedulers) never send a row twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from models.outbox import LANES
from models.tables import utcnow
from scheduler.outbox import deliver_outbox

log = logging.getLogger(__name__)

IDLE_WAIT = 0.5  # seconds a deliverer with nothing due waits before looking again


def lanes_of(deliverer: int, deliverers: int) -> list[int]:
    """The lanes deliverer number `deliverer` of `deliverers` sends for."""
    return [lane for lane in range(LANES) if lane % deliverers == deliverer]


class DeliveryPool:
    """N threads delivering the outbox until stopped."""

    def __init__(self, context: Any, count: int, clock: Any = utcnow) -> None:
        self.context = context
        self.count = max(1, min(count, LANES))
        self.clock: Any = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the deliverers."""
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._run, args=(n,), name=f"farmhelp-deliverer-{n}", daemon=True
            )
            for n in range(self.count)
        ]
        for thread in self._threads:
            thread.start()
        log.info("%d deliverers started", self.count)

    def _run(self, number: int) -> None:
        lanes = lanes_of(number, self.count)
        name = f"{self.context.holder}/d{number}"
        while not self._stop.is_set():
            try:
                sent = deliver_outbox(
                    engine=self.context.engine,
                    sender=self.context.wechat,
                    now=self.clock(),
                    deliverer=name,
                    should_stop=self._stop.is_set,
                    lanes=lanes,
                    config=self.context.config,
                )
            except Exception:
                log.exception("deliverer %s failed; retrying shortly", name)
                sent = 0
            with self._lock:
                self.sent += sent
            if not sent:
                self._stop.wait(IDLE_WAIT)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the deliverers (a call hanging on WeChat is not waited for past `timeout`)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout / max(len(self._threads), 1))

    def sent_so_far(self, _at: datetime | None = None) -> int:
        with self._lock:
            return self.sent
