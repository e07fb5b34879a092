"""Starting the demo: a throwaway database, the demo county, the real service."""

from __future__ import annotations

import base64
import secrets
import tempfile
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import click
from apscheduler.triggers.cron import CronTrigger
from waitress.server import create_server

from bot import configure_logging, create_app
from bot.settings import load_settings
from bot.web.demo.seed import seed_demo
from models.db import session_scope
from models.tables import utcnow
from scheduler import runtime
from scheduler.jobs import declared_jobs
from scheduler.outbox import deliver_outbox
from scheduler.runtime import JobContext


def run_demo(host: str, port: int) -> None:
    """Serve the demo on host:port until stopped (Ctrl-C or SIGTERM)."""
    from bot.service import ready_schema, run_until_stopped, scheduler_service

    configure_logging()
    folder = Path(tempfile.mkdtemp(prefix="farmhelp-demo-"))
    base = f"http://{host}:{port}"
    settings = load_settings(
        env="development",
        database_url=f"sqlite:///{folder / 'demo.sqlite3'}",
        instance_dir=folder,
        media_dir=folder / "media",
        public_url=base,
        wechat_api_base_url=f"{base}/fake-wechat/cgi-bin/",
        fake_wechat_api=True,
        wechat_token=secrets.token_hex(8),
        wechat_app_id="wxdemo0000000000",
        wechat_encoding_aes_key=base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        wechat_allow_plaintext=True,
        wechat_template_expert_page="demo-expert-page",
    )
    ready_schema(settings)
    app = create_app(settings)
    engine = app.extensions["farmhelp.engine"]
    with session_scope(engine) as session:
        app.extensions["farmhelp.demo_logins"] = seed_demo(
            session, now=utcnow(), timezone=settings.timezone
        )
    service = scheduler_service(settings, engine)
    app.extensions["farmhelp.demo_run_due"] = lambda jumped: run_due_jobs(
        service.context, jumped=jumped, timezone=settings.timezone
    )
    server = create_server(app, host=host, port=port, threads=8, ident="farmhelp-demo")
    service.start()
    click.echo(f"farmhelp demo: open {base}/demo/  (data in {folder}, gone when you delete it)")
    run_until_stopped(server, service)


def run_due_jobs(context: JobContext, *, jumped: timedelta, timezone: str) -> dict[str, int]:
    """Run every declared job that fell due while the demo's clock jumped: the frequent
    ones (timeouts, surveys, reminders, media, outbreak clusters…) each time, the daily
    and monthly ones when the jump passed their hour; then deliver what they queued."""
    now = utcnow()
    runtime.install(context)
    ran: dict[str, int] = {}
    for spec in declared_jobs(timezone):
        if isinstance(spec.trigger, CronTrigger):
            due = spec.trigger.get_next_fire_time(None, now - jumped)
            if due is None or due > now:
                continue
        module, name = spec.func.split(":")
        ran[spec.id] = getattr(import_module(module), name)()
    ran["sent"] = deliver_outbox(
        engine=context.engine,
        sender=context.wechat,
        now=now,
        deliverer=context.holder,
        config=context.config,
    )
    return ran
