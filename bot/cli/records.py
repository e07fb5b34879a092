"""Records out: the monthly report and the request ledger."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from bot.cli.common import database


@click.command("report")
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
    """Compute (and store) the monthly dispatch report (月度调度表); a month that is
    over is also stored as the console's snapshot of its report page."""
    import re

    from bot.files.report_export import write_report
    from handlers.report import month_bounds
    from handlers.report_page import compute_page, store_snapshot
    from handlers.scores import ScoreRule
    from models.reports import store_report
    from models.tables import utcnow

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.UsageError(f"--month must look like 2026-10, not {month!r}")
    if fmt == "xlsx" and output is None:
        raise click.UsageError("xlsx is binary: give --output FILE")
    with database() as (settings, session):
        policy, now = settings.policy(), utcnow()
        page = compute_page(session, month, policy.tz, ScoreRule.of(policy))
        rows = page.rows
        store_report(session=session, month=month, rows=rows, now=now)
        if month_bounds(month, policy.tz)[1] <= now:
            store_snapshot(session, page, policy.tz, now=now)
    if output is None:
        write_report(rows, sys.stdout.buffer, fmt, month)
        sys.stdout.buffer.flush()
    else:
        with output.open("wb") as stream:
            write_report(rows, stream, fmt, month)
        click.echo(f"wrote the {month} report ({len(rows)} rows) to {output}", err=True)


def _progress_line() -> Callable[[int, int], None]:
    """Progress on standard error: one line rewritten in a terminal, a line per tenth
    in a log (standard output may be the export itself)."""
    interactive = sys.stderr.isatty()
    shown = [-1]

    def show(done: int, total: int) -> None:
        share = done * 100 // max(total, 1)
        if interactive:
            click.echo(f"\rexported {done:,} of {total:,} requests ({share}%)", err=True, nl=False)
            if done >= total:
                click.echo("", err=True)
        elif share // 10 > shown[0] or done >= total:
            shown[0] = share // 10
            click.echo(f"exported {done:,} of {total:,} requests ({share}%)", err=True)

    return show


@click.group()
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

    from bot.files.ledger import ledger_rows, write_ledger

    if fmt == "xlsx" and output is None:
        raise click.UsageError("xlsx is binary: give --output FILE")
    with database(write=False) as (settings, session):
        rows = ledger_rows(session, progress=_progress_line())
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

    with database() as (_settings, session):
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
