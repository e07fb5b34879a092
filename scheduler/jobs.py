"""The declared list of recurring jobs: stable ids, triggers and their bodies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from handlers.config import RoutingConfig
from models.tables import utcnow
from scheduler.media import MediaSource, fetch_due_media
from scheduler.outbox import Sender, deliver_outbox
from scheduler.routing import check_offer_timeouts


class WeChat(MediaSource, Sender, Protocol):
    """What jobs need from the WeChat API client."""


@dataclass(frozen=True)
class JobContext:
    """What jobs need, handed in by whoever runs the scheduler."""

    engine: Engine
    wechat: WeChat
    media_dir: Path
    config: RoutingConfig


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[[JobContext], Any]
    trigger: Any


def run_fetch_media(context: JobContext) -> int:
    """Download photos and voice notes that are due."""
    return fetch_due_media(
        engine=context.engine, source=context.wechat, media_dir=context.media_dir, now=utcnow()
    )


def run_deliver_outbox(context: JobContext) -> int:
    """Send pages, notices and relayed messages that are due."""
    return deliver_outbox(engine=context.engine, sender=context.wechat, now=utcnow())


def run_offer_timeouts(context: JobContext) -> int:
    """Pass unanswered offers on to the next candidate."""
    return check_offer_timeouts(engine=context.engine, config=context.config, now=utcnow())


JOBS: tuple[JobSpec, ...] = (
    JobSpec(id="deliver_outbox", func=run_deliver_outbox, trigger=IntervalTrigger(seconds=1)),
    JobSpec(id="offer_timeouts", func=run_offer_timeouts, trigger=IntervalTrigger(seconds=5)),
    JobSpec(id="fetch_media", func=run_fetch_media, trigger=IntervalTrigger(seconds=20)),
)


def install_jobs(scheduler: BaseScheduler, context: JobContext) -> None:
    """Add every declared job to the scheduler (replacing any of the same id)."""
    for spec in JOBS:
        scheduler.add_job(
            spec.func,
            trigger=spec.trigger,
            args=[context],
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
