"""The county's set-up: the schema, places, experts, teams and the rota."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import database, load
from bot.service import safe_url


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the latest version."""
    from models.db import make_engine
    from models.migrate import schema_revisions, upgrade_database

    settings = load()
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
    where = safe_url(settings.database_url)
    if before is None:
        click.echo(f"created the schema at revision {head} in {where}")
    elif before != head:
        click.echo(f"upgraded the schema from revision {before} to {head} in {where}")
    else:
        click.echo(f"the schema was already at revision {head}; nothing to do ({where})")


def _import(kind: str, path: Path) -> None:
    from bot.files.imports import ImportFileError, import_duty, import_experts, import_places

    try:
        with database() as (settings, session):
            if kind == "experts":
                report = import_experts(session, path)
            elif kind == "duty shifts":
                report = import_duty(session, path, settings.timezone)
            else:
                report = import_places(session, path)
    except ImportFileError as error:
        raise click.ClickException(str(error)) from error
    click.echo(report.summary({"experts": "专家", "duty shifts": "值班表"}.get(kind, "地名")))


@click.group()
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

    with database() as (settings, session):
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

    with database() as (_settings, session):
        expert = get_expert(session=session, openid=openid)
        if expert is None:
            raise click.ClickException(f"no expert with openid {openid!r}")
        expert.active = True
        name = expert.name
    click.echo(f"activated {name} ({openid})")


@click.group()
def duty() -> None:
    """The on-call rota (值班表)."""


@duty.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def duty_import(file: Path) -> None:
    """Import shifts: openid,start,end (local ISO 8601 times)."""
    _import("duty shifts", file)


@click.group()
def places() -> None:
    """The place hierarchy (county → township → village)."""


@places.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def places_import(file: Path) -> None:
    """Import places: county,township,village."""
    _import("places", file)


@click.group()
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

    with database() as (_settings, session):
        team = get_team(session=session, name=name)
        if team is None:
            raise click.ClickException(f"no team named {name!r} (teams come from experts import)")
        team.broadcast = broadcast
    click.echo(f"team {name}: {'open board' if broadcast else 'one expert at a time'}")
