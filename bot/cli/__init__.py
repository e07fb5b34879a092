"""The `farmhelp` command line: one click group per subject, each in its own module."""

from __future__ import annotations

import click

from bot.cli import county, people, records, run, safety, wechat


@click.group()
def main() -> None:
    """farmhelp: villagers ask agricultural experts for help through WeChat."""


for command in (
    run.serve,
    run.demo,
    run.run_scheduler,
    run.parse,
    records.report,
    county.db,
    county.experts,
    county.duty,
    county.places,
    county.teams,
    people.farmers,
    people.staff,
    records.requests,
    wechat.wechat,
    wechat.qrcodes,
    safety.pesticides,
):
    main.add_command(command)
