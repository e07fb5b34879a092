"""Starting the demo: a throwaway database, the demo county, the real service."""

from __future__ import annotations

import base64
import secrets
import tempfile
from pathlib import Path

import click
from waitress.server import create_server

from bot import configure_logging, create_app
from bot.settings import load_settings
from bot.web.demo.seed import seed_demo
from models.db import session_scope
from models.tables import utcnow
from scheduler.intake import move_on_unanswered
from scheduler.media import fetch_due_media
from scheduler.outbox import deliver_outbox
from scheduler.routing import check_offer_timeouts
from scheduler.runtime import JobContext
from scheduler.surveys import follow_up_surveys, remind_experts, send_due_surveys


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
    app.extensions["farmhelp.demo_run_due"] = lambda: run_due_jobs(service.context)
    server = create_server(app, host=host, port=port, threads=8, ident="farmhelp-demo")
    service.start()
    click.echo(f"farmhelp demo: open {base}/demo/  (data in {folder}, gone when you delete it)")
    run_until_stopped(server, service)


def run_due_jobs(context: JobContext) -> dict[str, int]:
    """Run every timed job once, now (the demo's clock has just jumped)."""
    now = utcnow()
    engine, policy = context.engine, context.config
    return {
        "offer_timeouts": check_offer_timeouts(engine=engine, config=policy, now=now),
        "intake_timeouts": move_on_unanswered(engine=engine, policy=policy, now=now),
        "surveys": send_due_surveys(engine=engine, policy=policy, now=now),
        "follow_up": follow_up_surveys(engine=engine, policy=policy, now=now),
        "reminders": remind_experts(engine=engine, policy=policy, now=now),
        "media": fetch_due_media(
            engine=engine, source=context.wechat, media_dir=context.media_dir, now=now
        ),
        "sent": deliver_outbox(
            engine=engine, sender=context.wechat, now=now, deliverer=context.holder
        ),
    }
