"""The `farmhelp` command line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from scheduler.runner import SchedulerService

log = logging.getLogger(__name__)


def _load() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise click.ClickException(f"configuration: {error}") from error


@click.group()
def main() -> None:
    """farmhelp: villagers ask agricultural experts for help through WeChat."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--threads", default=8, show_default=True, type=int, help="Threads handling requests."
)
def serve(host: str, port: int, threads: int) -> None:
    """Run the web service and the in-process scheduler (the embedded default)."""
    from waitress.server import create_server

    from bot import configure_logging, create_app

    settings = _load()
    configure_logging(settings.log_format)
    _ready_schema(settings)
    app = create_app(settings)
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
        _safe_url(settings.database_url),
    )
    run_until_stopped(server, service)
    log.info("farmhelp stopped")


CHANNEL_TIMEOUT = 20  # seconds a connection may stay idle or half-open


def _ready_schema(settings: Settings) -> None:
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
            f"cannot reach the database {_safe_url(settings.database_url)}: {error}"
        ) from error
    finally:
        engine.dispose()
    if current != head:
        state = "has no farmhelp schema" if current is None else f"is at revision {current}"
        raise click.ClickException(
            f"the database {state}; this version needs {head}: run `farmhelp db upgrade` first"
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def demo(host: str, port: int) -> None:
    """See the whole service work without WeChat: a demo county, a fake WeChat API and
    three phones side by side, on a throwaway database."""
    from bot.web.demo.run import run_demo

    run_demo(host, port)


def run_until_stopped(server: Any, service: SchedulerService) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the server and stop the scheduler."""
    _stop_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        service.stop()


def _stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so a stopped process releases the scheduler lease."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        # Once is enough: a repeated signal must not cut the orderly shutdown short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def scheduler_service(settings: Settings, engine: Engine) -> SchedulerService:
    """Build the scheduler for this process: its jobs, engine, WeChat client and policy."""
    from bot.wechat_api import WeChatAPI
    from scheduler.runner import SchedulerService
    from scheduler.runtime import JobContext

    wechat = WeChatAPI(
        base_url=settings.wechat_api_base_url,
        app_id=settings.wechat_app_id,
        app_secret=settings.wechat_app_secret,
        engine=engine,
        legacy_token=settings.wechat_token_endpoint == "token",
    )
    return SchedulerService(
        JobContext(
            engine=engine,
            wechat=wechat,
            media_dir=settings.media_dir,
            config=settings.policy(),
            deliverers=settings.deliverers,
        )
    )


@main.command("scheduler")
def run_scheduler() -> None:
    """Run only the scheduler (when the web runs in several gunicorn workers)."""
    from bot import configure_logging
    from models.db import make_engine

    settings = _load()
    configure_logging(settings.log_format)
    engine = make_engine(settings.database_url)
    service = scheduler_service(settings, engine)
    _stop_on_sigterm()
    click.echo(f"scheduler {service.holder} started (database {_safe_url(settings.database_url)})")
    try:
        service.run()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        engine.dispose()


@main.command("report")
@click.option("--month", required=True, help="The month, like 2026-10.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output; xlsx needs a file).",
)
def report(month: str, fmt: str, output: Path | None) -> None:
    """Compute (and store) the monthly dispatch report (月度调度表)."""
    import re
    from zoneinfo import ZoneInfo

    from bot.report_export import write_report
    from handlers.report import compute_month
    from models.reports import store_report
    from models.tables import utcnow

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.UsageError(f"--month must look like 2026-10, not {month!r}")
    if fmt == "xlsx" and output is None:
        raise click.UsageError("xlsx is binary: give --output FILE")
    with _database() as (settings, session):
        rows = compute_month(session, month, ZoneInfo(settings.timezone))
        store_report(session=session, month=month, rows=rows, now=utcnow())
    if output is None:
        write_report(rows, sys.stdout.buffer, fmt, month)
        sys.stdout.buffer.flush()
    else:
        with output.open("wb") as stream:
            write_report(rows, stream, fmt, month)
        click.echo(f"wrote the {month} report ({len(rows)} rows) to {output}", err=True)


@contextmanager
def _database(*, write: bool = True) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on a ready schema; with `write` the changes are committed."""
    from sqlmodel import Session

    from models.db import make_engine, session_scope

    settings = _load()
    _ready_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) if write else Session(engine) as session:
            yield settings, session
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
def parse() -> None:
    """Read one message per line on stdin; print one JSON understanding per line."""
    import json

    from handlers.understanding import default_parser

    parser = default_parser()
    for line in sys.stdin:
        text = line.rstrip("\n")
        click.echo(json.dumps(parser.parse(text).as_dict(), ensure_ascii=False))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    from models.db import make_engine
    from models.migrate import schema_revisions, upgrade_database

    settings = _load()
    if settings.database_url.startswith("sqlite"):
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        before, head = schema_revisions(engine)
        upgrade_database(engine)
    except Exception as error:
        raise click.ClickException(f"upgrade failed: {error}") from error
    finally:
        engine.dispose()
    where = _safe_url(settings.database_url)
    if before is None:
        click.echo(f"created the schema at revision {head} in {where}")
    elif before != head:
        click.echo(f"upgraded the schema from revision {before} to {head} in {where}")
    else:
        click.echo(f"the schema was already at revision {head}; nothing to do ({where})")


def _import(kind: str, path: Path) -> None:
    from bot.imports import ImportFileError, import_duty, import_experts, import_places

    try:
        with _database() as (settings, session):
            if kind == "experts":
                report = import_experts(session, path)
            elif kind == "duty shifts":
                report = import_duty(session, path, settings.timezone)
            else:
                report = import_places(session, path)
    except ImportFileError as error:
        raise click.ClickException(str(error)) from error
    click.echo(report.summary(kind))


@main.group()
def experts() -> None:
    """Experts (农技专家)."""


@experts.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def experts_import(file: Path) -> None:
    """Import experts: name,openid,phone,team,specialties,crops,regions[,leader]."""
    _import("experts", file)


@experts.command("deactivate")
@click.argument("openid")
def experts_deactivate(openid: str) -> None:
    """Stop paging an expert who left: offers withdrawn, their requests handed on."""
    from handlers.routing import deactivate_expert
    from models.experts import get_expert
    from models.tables import utcnow

    with _database() as (settings, session):
        expert = get_expert(session=session, openid=openid)
        if expert is None:
            raise click.ClickException(f"no expert with openid {openid!r}")
        moved = deactivate_expert(session, expert=expert, config=settings.policy(), now=utcnow())
        name = expert.name
    click.echo(f"deactivated {name} ({openid}); {len(moved)} requests moved")
    for line in moved:
        click.echo(f"  {line}")


@experts.command("activate")
@click.argument("openid")
def experts_activate(openid: str) -> None:
    """Page an expert again."""
    from models.experts import get_expert

    with _database() as (_settings, session):
        expert = get_expert(session=session, openid=openid)
        if expert is None:
            raise click.ClickException(f"no expert with openid {openid!r}")
        expert.active = True
        name = expert.name
    click.echo(f"activated {name} ({openid})")


@main.group()
def duty() -> None:
    """The on-call rota (值班表)."""


@duty.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def duty_import(file: Path) -> None:
    """Import shifts: openid,start,end (local ISO 8601 times)."""
    _import("duty shifts", file)


@main.group()
def places() -> None:
    """The place hierarchy (county → township → village)."""


@places.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def places_import(file: Path) -> None:
    """Import places: county,township,village."""
    _import("places", file)


@main.group()
def farmers() -> None:
    """Farmers (and everyone else who follows the account)."""


@farmers.command("list")
@click.option("--search", default="", help="Only those whose last message contains this.")
@click.option("--limit", default=20, show_default=True, type=int, help="How many to show.")
def farmers_list(search: str, limit: int) -> None:
    """Who wrote last, with their openid: how to find an expert's or staff member's openid.

    Ask them to follow the account and send a line such as "我是专家 王植保"; it
    shows up here with their openid, to put into the experts file.
    """
    from zoneinfo import ZoneInfo

    from models.farmers import recent_followers

    with _database(write=False) as (settings, session):
        tz = ZoneInfo(settings.timezone)
        found = recent_followers(session=session, search=search, limit=limit)
    if not found:
        click.echo("nobody yet" + (f" whose last message contains {search!r}" if search else ""))
    for farmer, last in found:
        when = (
            farmer.last_message_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            if farmer.last_message_at
            else "-"
        )
        state = "" if farmer.subscribed else " (unfollowed)"
        click.echo(f"{farmer.openid}\t{when}\t{(last or '')[:40]}{state}")


@main.group()
def staff() -> None:
    """Staff accounts for the console (/console/)."""


def _read_password(from_stdin: bool, prompt: str) -> str:
    """A staff password from standard input or asked for twice; at least 10 characters."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise click.ClickException("the password needs at least 10 characters")
    return password


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["admin", "coordinator", "viewer"]),
    required=True,
    help="What they may do.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of asking.",
)
def staff_add(username: str, role: str, password_stdin: bool) -> None:
    """Create a staff account (the password is asked for, or read from stdin)."""
    from bot.web.auth import hash_password
    from models.staff import get_staff, record_audit
    from models.tables import StaffUser, utcnow

    password = _read_password(password_stdin, "password")
    with _database() as (settings, session):
        if get_staff(session=session, username=username) is not None:
            raise click.ClickException(f"{username!r} exists already")
        session.add(StaffUser(username=username, password_hash=hash_password(password), role=role))
        record_audit(
            session=session,
            username="cli",
            action="staff_add",
            target=f"staff {username}",
            now=utcnow(),
            after={"role": role},
        )
    login = f"{settings.public_url.rstrip('/')}/console/login"
    click.echo(f"added {username} ({role}); they sign in at {login}")


@staff.command("list")
def staff_list() -> None:
    """Every staff account."""

    from models.staff import list_staff

    with _database(write=False) as (_settings, session):
        for user in list_staff(session=session):
            state = "active" if user.active else "disabled"
            click.echo(f"{user.username}\t{user.role}\t{state}")


@staff.command("disable")
@click.argument("username")
def staff_disable(username: str) -> None:
    """Disable a staff account: it can no longer sign in."""
    from models.staff import end_staff_sessions, get_staff, record_audit
    from models.tables import utcnow

    with _database() as (_settings, session):
        user = get_staff(session=session, username=username)
        if user is None:
            raise click.ClickException(f"no staff account {username!r}")
        user.active = False
        assert user.id is not None
        end_staff_sessions(session=session, now=utcnow(), staff_id=user.id)
        record_audit(
            session=session,
            username="cli",
            action="staff_disable",
            target=f"staff {username}",
            now=utcnow(),
            before={"active": True},
            after={"active": False},
        )
    click.echo(f"disabled {username}")


@staff.command("password")
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from standard input instead of asking.",
)
def staff_password(username: str, password_stdin: bool) -> None:
    """Set a new password for a staff account; every session it has open ends."""
    from bot.web.auth import hash_password
    from models.staff import end_staff_sessions, get_staff, record_audit
    from models.tables import utcnow

    password = _read_password(password_stdin, "new password")
    with _database() as (_settings, session):
        user = get_staff(session=session, username=username)
        if user is None:
            raise click.ClickException(f"no staff account {username!r}")
        user.password_hash = hash_password(password)
        assert user.id is not None
        ended = end_staff_sessions(session=session, now=utcnow(), staff_id=user.id)
        record_audit(
            session=session,
            username="cli",
            action="staff_password",
            target=f"staff {username}",
            now=utcnow(),
            after={"sessions_ended": ended},
        )
    click.echo(f"new password set for {username}; {ended} open session(s) ended")


@main.group()
def teams() -> None:
    """Expert teams."""


@teams.command("set")
@click.argument("name")
@click.option(
    "--broadcast/--no-broadcast",
    required=True,
    help="Open board (揭榜领题): offer requests to all qualified on-duty members.",
)
def teams_set(name: str, broadcast: bool) -> None:
    """Set a team's paging mode."""
    from models.experts import get_team

    with _database() as (_settings, session):
        team = get_team(session=session, name=name)
        if team is None:
            raise click.ClickException(f"no team named {name!r} (teams come from experts import)")
        team.broadcast = broadcast
    click.echo(f"team {name}: {'open board' if broadcast else 'one expert at a time'}")


@main.group()
def requests() -> None:
    """Help requests."""


@requests.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "xlsx"]),
    default="jsonl",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output; xlsx needs a file).",
)
def requests_export(fmt: str, output: Path | None) -> None:
    """Export the request ledger (需求台帐)."""
    from zoneinfo import ZoneInfo

    from bot.ledger import ledger_rows, write_ledger

    if fmt == "xlsx" and output is None:
        raise click.UsageError("xlsx is binary: give --output FILE")
    with _database(write=False) as (settings, session):
        rows = ledger_rows(session)
        try:
            if output is None:
                count = write_ledger(rows, sys.stdout.buffer, fmt, ZoneInfo(settings.timezone))
                sys.stdout.buffer.flush()
            else:
                with output.open("wb") as stream:
                    count = write_ledger(rows, stream, fmt, ZoneInfo(settings.timezone))
        except Exception as error:
            raise click.ClickException(f"export failed: {error}") from error
    from models.staff import record_audit
    from models.tables import utcnow

    with _database() as (_settings, session):
        record_audit(  # the ledger holds personal data: who exported it, and where
            session=session,
            username=f"cli:{os.environ.get('USER', '?')}"[:64],
            action="export_ledger",
            target=f"{count} requests",
            now=utcnow(),
            after={"format": fmt, "output": str(output) if output else "stdout"},
        )
    if output is not None:
        click.echo(f"wrote {count} requests to {output}", err=True)
