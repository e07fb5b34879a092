"""Running farmhelp's processes: the schema check before start, the scheduler of a
process, and serving until stopped (used by `farmhelp serve`, `farmhelp scheduler`
and the demo alike)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from bot.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.wechat.api import WeChatAPI
    from scheduler.runner import SchedulerService


def ready_schema(settings: Settings) -> None:
    """Create or upgrade an SQLite database; refuse a PostgreSQL one that is behind."""
    from models.db import make_engine
    from models.migrate import schema_revisions, upgrade_database

    if settings.database_url.startswith("sqlite"):
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        if settings.database_url.startswith("sqlite"):
            upgrade_database(engine)
            return
        current, head = schema_revisions(engine)
    except click.ClickException:
        raise
    except Exception as error:
        raise click.ClickException(
            f"cannot reach the database {safe_url(settings.database_url)}: {error}"
        ) from error
    finally:
        engine.dispose()
    if current != head:
        state = "has no farmhelp schema" if current is None else f"is at revision {current}"
        raise click.ClickException(
            f"the database {state}; this version needs {head}: run `farmhelp db upgrade` first"
        )


def run_until_stopped(server: Any, service: SchedulerService) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the server and stop the scheduler."""
    stop_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        service.stop()


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so a stopped process releases the scheduler lease."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        # Once is enough: a repeated signal must not cut the orderly shutdown short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def wechat_client(settings: Settings, engine: Engine) -> WeChatAPI:
    """The outbound WeChat API client these settings describe."""
    from bot.wechat.api import WeChatAPI

    return WeChatAPI(
        base_url=settings.wechat_api_base_url,
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret,
        engine=engine,
        legacy_token=settings.wechat_token_endpoint == "token",
    )


def scheduler_service(settings: Settings, engine: Engine) -> SchedulerService:
    """Build the scheduler for this process: its jobs, engine, WeChat client and policy."""
    from scheduler.runner import SchedulerService
    from scheduler.runtime import JobContext

    wechat = wechat_client(settings, engine)
    return SchedulerService(
        JobContext(
            engine=engine,
            wechat=wechat,
            media_dir=settings.media_dir,
            config=settings.policy(),
            deliverers=settings.deliverers,
        )
    )


def safe_url(url: str) -> str:
    """A database URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
