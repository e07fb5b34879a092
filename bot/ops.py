"""What operators watch: /healthz (alive), /readyz (can serve), /metrics (Prometheus).

Counters of this process (pushes, reply latency) are prometheus_client metrics; with
several gunicorn workers set PROMETHEUS_MULTIPROC_DIR so they add up. Figures that
live in the database (outbox depth and age, deliveries by errcode, scheduler lag and
lease holder, open requests by status) are read at scrape time, so every worker
reports the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from models.requests import OPEN_STATUSES
from models.tables import HelpRequest, Outbox, SchedulerLease, utcnow

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

# Process-wide by design: prometheus_client metrics are registered once per process.
PUSHES = Counter(
    "farmhelp_pushes", "Pushes received, by message type and outcome", ["type", "outcome"]
)
REPLY_SECONDS = Histogram(
    "farmhelp_reply_seconds",
    "Time to answer a push",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class DatabaseFigures:
    """A collector that reads the service's state from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        with Session(self.engine) as session:
            depth = GaugeMetricFamily(
                "farmhelp_outbox_depth", "Outbox rows by status", labels=["status"]
            )
            for status, count in session.exec(
                select(Outbox.status, func.count()).group_by(col(Outbox.status))
            ):
                depth.add_metric([status], count)
            yield depth
            oldest = session.exec(
                select(func.min(Outbox.created_at)).where(
                    col(Outbox.status).in_(("pending", "held"))
                )
            ).one()
            age = GaugeMetricFamily(
                "farmhelp_outbox_oldest_seconds", "Age of the oldest unsent push"
            )
            age.add_metric([], (now - _aware(oldest)).total_seconds() if oldest else 0.0)
            yield age
            by_errcode = GaugeMetricFamily(
                "farmhelp_deliveries_by_errcode",
                "Outbox rows by the errcode of their last attempt (0: delivered)",
                labels=["errcode"],
            )
            for errcode, count in session.exec(
                select(Outbox.last_errcode, func.count())
                .where(col(Outbox.status).in_(("sent", "failed", "held", "pending")))
                .where((col(Outbox.status) == "sent") | col(Outbox.last_errcode).is_not(None))
                .group_by(col(Outbox.last_errcode))
            ):
                by_errcode.add_metric([str(errcode or 0)], count)
            yield by_errcode
            due = session.exec(
                select(func.min(Outbox.next_try_at)).where(
                    Outbox.status == "pending", col(Outbox.next_try_at) <= now
                )
            ).one()
            lag = GaugeMetricFamily(
                "farmhelp_scheduler_lag_seconds", "How overdue the oldest due push is"
            )
            lag.add_metric([], (now - _aware(due)).total_seconds() if due else 0.0)
            yield lag
            lease = session.get(SchedulerLease, "scheduler")
            holder = GaugeMetricFamily(
                "farmhelp_scheduler_lease_seconds_left",
                "Seconds left on the scheduler lease",
                labels=["holder"],
            )
            if lease is not None:
                holder.add_metric([lease.holder], (_aware(lease.expires_at) - now).total_seconds())
            yield holder
            requests = GaugeMetricFamily(
                "farmhelp_open_requests", "Open requests by status", labels=["status"]
            )
            for status, count in session.exec(
                select(HelpRequest.status, func.count())
                .where(col(HelpRequest.status).in_(OPEN_STATUSES))
                .group_by(col(HelpRequest.status))
            ):
                requests.add_metric([status], count)
            yield requests


def _aware(moment: Any) -> Any:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def init_app(app: Flask) -> None:
    """Mount the health and metrics endpoints."""
    registry = CollectorRegistry()
    registry.register(DatabaseFigures(app.extensions["farmhelp.engine"]))  # type: ignore[arg-type]
    app.extensions["farmhelp.metrics"] = registry
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers; degraded (but serving) when Redis does not.

    The Redis figures say whether it answers within its budget now ("ok", "timeout",
    "down") and whether pushes are skipping it ("redis_circuit": "open")."""
    engine: Engine = current_app.extensions["farmhelp.engine"]
    checks: dict[str, str] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:
        log.error("readyz: the database is unreachable: %s", error)
        checks["database"] = "down"
    link = current_app.extensions.get("farmhelp.redis")
    if link is not None:
        checks.update(link.state())
        if checks["redis"] != "ok":
            log.warning(
                "readyz: Redis %s (serving from the database; circuit %s)",
                checks["redis"],
                checks["redis_circuit"],
            )
    if checks["database"] != "ok":
        return jsonify(status="unready", **checks), 503
    skipping = link is not None and link.is_open
    status = "degraded" if checks.get("redis", "ok") != "ok" or skipping else "ok"
    return jsonify(status=status, **checks), 200


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text: this process's (or all workers') counters and the database's figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    else:
        process = REGISTRY
    body = generate_latest(process) + generate_latest(current_app.extensions["farmhelp.metrics"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
