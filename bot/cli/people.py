"""People: followers (farmers) and staff accounts."""

from __future__ import annotations

import sys

import click

from bot.cli.common import database


@click.group()
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

    with database(write=False) as (settings, session):
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


@click.group()
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
    with database() as (settings, session):
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

    with database(write=False) as (_settings, session):
        for user in list_staff(session=session):
            state = "active" if user.active else "disabled"
            click.echo(f"{user.username}\t{user.role}\t{state}")


@staff.command("disable")
@click.argument("username")
def staff_disable(username: str) -> None:
    """Disable a staff account: it can no longer sign in."""
    from models.staff import end_staff_sessions, get_staff, record_audit
    from models.tables import utcnow

    with database() as (_settings, session):
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
    with database() as (_settings, session):
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
