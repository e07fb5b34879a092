"""Running the scheduler in-process (embedded default)."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler

from scheduler.jobs import JobContext, install_jobs


def start_background_scheduler(context: JobContext) -> BackgroundScheduler:
    """Start the recurring jobs in a background thread of this process."""
    scheduler = BackgroundScheduler(timezone="UTC")
    install_jobs(scheduler, context)
    scheduler.start()
    return scheduler
