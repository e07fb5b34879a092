"""One Redis connection per process that a push never waits on for long.

Redis is a cache here: every value it holds can be had from the database. So each
command gets a small time budget (no retries), and after a failure the link stays
open-circuited for a while: commands are skipped and the caller takes the database
path until the cool-down ends, when one command tries Redis again. A Redis that
accepts connections but never answers then costs one push at most one budget per
cool-down per worker, instead of every push its full socket timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

BUDGET_SECONDS = 0.05  # one command's connect and answer together, at most
COOL_DOWN_SECONDS = 30.0  # how long Redis is left alone after a failure


class RedisLink:
    """A Redis client behind a circuit breaker; `run` returns None when Redis is skipped."""

    def __init__(
        self,
        url: str,
        *,
        budget: float = BUDGET_SECONDS,
        cool_down: float = COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client = redis.Redis.from_url(
            url,
            socket_timeout=budget,
            socket_connect_timeout=budget,
            retry=Retry(NoBackoff(), 0),  # redis-py retries 3 times by default
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self.cool_down = cool_down
        self.clock = clock
        self.last_error: str | None = None
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """True while Redis is being left alone after a failure."""
        return self.clock() < self._open_until

    def run(self, what: str, command: Callable[[Any], T]) -> T | None:
        """Run `command(client)`, or return None when the circuit is open or Redis fails."""
        if self.is_open:
            return None
        try:
            result = command(self.client)
        except Exception as error:
            self._trip(what, error)
            return None
        if self.last_error is not None:
            with self._lock:
                if self.last_error is not None:
                    log.warning("Redis answers again (%s); using it", what)
                    self.last_error = None
        return result

    def _trip(self, what: str, error: Exception) -> None:
        with self._lock:
            self._open_until = self.clock() + self.cool_down
            self.last_error = f"{type(error).__name__}: {error}"
        log.warning(
            "Redis failed on %s (%s); serving from the database for %.0f s",
            what,
            self.last_error,
            self.cool_down,
        )

    def state(self) -> dict[str, str]:
        """What /readyz reports: whether Redis answers now and whether it is being skipped."""
        try:
            self.client.ping()
            answer = "ok"
        except Exception as error:
            answer = "timeout" if "imeout" in type(error).__name__ else "down"
        circuit = "open" if self.is_open else "closed"
        return {"redis": answer, "redis_circuit": circuit}
