"""The declared list of recurring jobs: stable ids, triggers and their bodies.

Timed one-off work (a survey due at a time, an acceptance deadline, a retry) is kept
as due-dated rows that these jobs pick up, so nothing is lost across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from handlers.outbreaks import find_outbreaks
from models.db import session_scope
from models.nonces import prune_nonces
from models.search import index_pending
from models.staff import prune_sign_ins
from models.tables import utcnow
from scheduler import runtime
from scheduler.advisories import queue_advisories
from scheduler.intake import move_on_unanswered
from scheduler.media import fetch_due_media
from scheduler.outcomes import send_due_checks
from scheduler.privacy import apply_retention, delete_erased_media, erase_unfollowed
from scheduler.report import store_last_month
from scheduler.routing import check_offer_timeouts
from scheduler.surveys import follow_up_surveys, remind_experts, send_due_surveys


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str  # "module:function", as the persistent job store keeps it
    trigger: Any


def run_offer_timeouts() -> int:
    """Pass unanswered offers on to the next candidate."""
    context = runtime.current()
    return check_offer_timeouts(engine=context.engine, config=context.config, now=utcnow())


def run_intake_timeouts() -> int:
    """Move on requests whose follow-up question went unanswered."""
    context = runtime.current()
    return move_on_unanswered(engine=context.engine, policy=context.config, now=utcnow())


def run_fetch_media() -> int:
    """Download photos and voice notes that are due."""
    context = runtime.current()
    return fetch_due_media(
        engine=context.engine, source=context.wechat, media_dir=context.media_dir, now=utcnow()
    )


def run_send_surveys() -> int:
    """Send the follow-up surveys that are due."""
    context = runtime.current()
    return send_due_surveys(engine=context.engine, policy=context.config, now=utcnow())


def run_follow_up_surveys() -> int:
    """Remind once, then expire, unanswered surveys."""
    context = runtime.current()
    return follow_up_surveys(engine=context.engine, policy=context.config, now=utcnow())


def run_treatment_checks() -> int:
    """Ask farmers how it is a set time after the visit; expire unanswered questions."""
    context = runtime.current()
    return send_due_checks(engine=context.engine, policy=context.config, now=utcnow())


def run_remind_experts() -> int:
    """Remind experts of visits coming up and of overdue visits."""
    context = runtime.current()
    return remind_experts(engine=context.engine, policy=context.config, now=utcnow())


def run_monthly_report() -> int:
    """Compute and store last month's dispatch report and report page (every night)."""
    context = runtime.current()
    return store_last_month(engine=context.engine, policy=context.config, now=utcnow())


def run_find_outbreaks() -> int:
    """Raise or grow outbreak alerts for clusters of similar requests."""
    context = runtime.current()
    with session_scope(context.engine) as session:
        return len(find_outbreaks(session, config=context.config, now=utcnow()))


def run_index_search() -> int:
    """Bring the Chinese search index up to date with requests' words."""
    context = runtime.current()
    with session_scope(context.engine) as session:
        return index_pending(session, now=utcnow())


def run_prune_nonces() -> int:
    """Forget push nonces too old to be accepted anyway, sign-in counts of past minutes
    and staff sessions ended or expired more than a day ago."""
    context = runtime.current()
    with session_scope(context.engine) as session:
        now = utcnow()
        return prune_nonces(session=session, now=now) + prune_sign_ins(session=session, now=now)


def run_delete_erased_media() -> int:
    """Delete the media files of erased personal data from disk."""
    return delete_erased_media(engine=runtime.current().engine)


def run_personal_data() -> int:
    """Erase the data of farmers gone longer than the grace period; apply retention."""
    context = runtime.current()
    now = utcnow()
    erased = erase_unfollowed(engine=context.engine, policy=context.config, now=now)
    kept = apply_retention(engine=context.engine, policy=context.config, now=now)
    return erased + sum(kept.values())


def run_queue_advisories() -> int:
    """Write the outbox rows of advisories sent to many farmers, a batch at a time."""
    context = runtime.current()
    return queue_advisories(engine=context.engine, config=context.config, clock=utcnow)


def declared_jobs(timezone: str) -> tuple[JobSpec, ...]:
    """Every recurring job, with its stable id and trigger."""
    return (
        JobSpec("offer_timeouts", "scheduler.jobs:run_offer_timeouts", IntervalTrigger(seconds=5)),
        JobSpec(
            "intake_timeouts", "scheduler.jobs:run_intake_timeouts", IntervalTrigger(seconds=30)
        ),
        JobSpec("send_surveys", "scheduler.jobs:run_send_surveys", IntervalTrigger(seconds=2)),
        JobSpec(
            "queue_advisories", "scheduler.jobs:run_queue_advisories", IntervalTrigger(seconds=1)
        ),
        JobSpec(
            "follow_up_surveys", "scheduler.jobs:run_follow_up_surveys", IntervalTrigger(minutes=1)
        ),
        JobSpec("remind_experts", "scheduler.jobs:run_remind_experts", IntervalTrigger(minutes=1)),
        JobSpec(
            "treatment_checks", "scheduler.jobs:run_treatment_checks", IntervalTrigger(minutes=1)
        ),
        JobSpec("fetch_media", "scheduler.jobs:run_fetch_media", IntervalTrigger(seconds=20)),
        JobSpec("prune_nonces", "scheduler.jobs:run_prune_nonces", IntervalTrigger(minutes=10)),
        JobSpec("index_search", "scheduler.jobs:run_index_search", IntervalTrigger(seconds=5)),
        JobSpec("find_outbreaks", "scheduler.jobs:run_find_outbreaks", IntervalTrigger(minutes=10)),
        JobSpec(
            "delete_erased_media",
            "scheduler.jobs:run_delete_erased_media",
            IntervalTrigger(minutes=1),
        ),
        JobSpec(
            "personal_data",
            "scheduler.jobs:run_personal_data",
            CronTrigger(hour=3, minute=30, timezone=timezone),
        ),
        JobSpec(
            "monthly_report",
            "scheduler.jobs:run_monthly_report",
            CronTrigger(hour=1, minute=0, timezone=timezone),
        ),
    )


def install_jobs(scheduler: BaseScheduler, timezone: str) -> None:
    """Add every declared job to the scheduler, replacing the stored ones of the same id."""
    for spec in declared_jobs(timezone):
        scheduler.add_job(
            spec.func,
            trigger=spec.trigger,
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
