"""`farmhelp pesticides`: the banned and restricted pesticide list prescriptions are
checked against — which one is in use, and installing a newer one."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from bot.cli.common import load


@click.group()
def pesticides() -> None:
    """The banned and restricted pesticides (禁限用农药) prescriptions are checked against."""


@pesticides.command("show")
def pesticides_show() -> None:
    """Print the list in use: its file, source, date and size."""
    from handlers.prescriptions import current_rules, rules_path

    instance = load().instance_dir
    rules = current_rules(instance)
    click.echo(f"file: {rules_path(instance)}")
    click.echo(f"source: {rules.source}")
    click.echo(f"as of: {rules.as_of}")
    restricted = sorted({n for r in rules.restricted for n in r.names})
    click.echo(f"banned: {len(rules.banned)} ({'、'.join(sorted(rules.banned)[:6])} …)")
    click.echo(f"restricted on some crops: {len(restricted)} ({'、'.join(restricted[:6])} …)")


@pesticides.command("update")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def pesticides_update(file: Path) -> None:
    """Check FILE (the format of handlers/lexicon/pesticide_rules.toml) and use it from
    now on instead of the shipped list."""
    from handlers.prescriptions import RULES_FILE_NAME, RulesError, load_rules

    try:
        rules = load_rules(file)
    except RulesError as error:
        raise click.ClickException(f"not installed: {error}") from error
    instance = load().instance_dir
    instance.mkdir(parents=True, exist_ok=True)
    target = instance / RULES_FILE_NAME
    partial = target.with_suffix(".partial")
    shutil.copyfile(file, partial)
    partial.replace(target)  # running processes read it at their next prescription
    click.echo(
        f"installed {target}: {len(rules.banned)} banned, "
        f"{len({n for r in rules.restricted for n in r.names})} restricted on some crops "
        f"({rules.source}, as of {rules.as_of})"
    )
