"""The declared list of recurring jobs: stable ids, triggers and their bodies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from models.tables import utcnow
from scheduler.media import MediaSource, fetch_due_media


@dataclass(frozen=True)
class JobContext:
    """What jobs need, handed in by whoever runs the scheduler."""

    engine: Engine
    wechat: MediaSource
    media_dir: Path


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


JOBS: tuple[JobSpec, ...] = (
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
