"""Running farmhelp: the web service, the scheduler, the demo, and the parser on stdin."""

from __future__ import annotations

import gc
import logging
import sys

import click

from bot.cli.common import load
from bot.service import (
    ready_schema,
    run_until_stopped,
    safe_url,
    scheduler_service,
    stop_on_sigterm,
)

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--threads", default=8, show_default=True, type=int, help="Threads handling requests."
)
def serve(host: str, port: int, threads: int) -> None:
    """Run the web service and the in-process scheduler (the embedded default)."""
    from waitress.server import create_server

    from bot import configure_logging, create_app

    settings = load()
    configure_logging(settings.log_format)
    ready_schema(settings)
    app = create_app(settings)
    # The app's lexicons, pinyin tables and statements live as long as the process:
    # moved out of the collector's reach, full collections stop walking them.
    gc.freeze()
    service = scheduler_service(settings, app.extensions["farmhelp.engine"])
    # Waitress reads each request completely before a thread handles it, so slow or
    # half-open connections hold no thread; idle connections close after the timeout.
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        channel_timeout=CHANNEL_TIMEOUT,
        connection_limit=1000,
        asyncore_use_poll=True,
        max_request_body_size=settings.max_body_bytes,
        ident="farmhelp",
    )
    service.start()
    log.info(
        "farmhelp listening on http://%s:%d/wechat (database %s)",
        host,
        port,
        safe_url(settings.database_url),
    )
    run_until_stopped(server, service)
    log.info("farmhelp stopped")


CHANNEL_TIMEOUT = 20  # seconds a connection may stay idle or half-open


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def demo(host: str, port: int) -> None:
    """See the whole service work without WeChat: a demo county, a fake WeChat API and
    three phones side by side, on a throwaway database."""
    from bot.web.demo.run import run_demo

    run_demo(host, port)


@click.command("scheduler")
def run_scheduler() -> None:
    """Run only the scheduler (when the web runs in several gunicorn workers)."""
    from bot import configure_logging
    from models.db import make_engine

    settings = load()
    configure_logging(settings.log_format)
    engine = make_engine(settings.database_url)
    service = scheduler_service(settings, engine)
    stop_on_sigterm()
    click.echo(f"scheduler {service.holder} started (database {safe_url(settings.database_url)})")
    try:
        service.run()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        engine.dispose()


@click.command()
def parse() -> None:
    """Read one message per line on stdin; print one JSON understanding per line."""
    import json

    from handlers.understanding import default_parser

    parser = default_parser()
    for line in sys.stdin:
        text = line.rstrip("\n")
        click.echo(json.dumps(parser.parse(text).as_dict(), ensure_ascii=False))
