"""The account on WeChat's side: its custom menu, and the village QR posters."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import database, load


@click.group()
def wechat() -> None:
    """The account's settings on WeChat's side."""


@wechat.group()
def menu() -> None:
    """The custom menu (自定义菜单) farmers tap."""


@menu.command("push")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the menu; send nothing to WeChat.")
def menu_push(file: Path | None, check: bool) -> None:
    """Set the menu: the default (拍照求助, 我的求助, 更多) or FILE (TOML or JSON)."""
    from bot.wechat.api import WeChatAPIError
    from bot.wechat.menu import MenuError, check_menu, default_menu, describe_menu, read_menu

    settings = load()
    try:
        chosen = read_menu(file) if file else default_menu(settings.public_url)
        check_menu(chosen)
    except MenuError as error:
        raise click.ClickException(f"menu refused: {error}") from error
    for line in describe_menu(chosen):
        click.echo(line)
    if check:
        click.echo("the menu keeps to WeChat's rules (nothing sent)")
        return
    from bot.service import wechat_client

    with database() as (settings, session):
        api = wechat_client(settings, session.get_bind())  # type: ignore[arg-type]
        try:
            api.create_menu(chosen)
        except WeChatAPIError as error:
            raise click.ClickException(f"WeChat refused the menu: {error}") from error
    click.echo("menu set; WeChat shows it to followers within minutes")


@menu.command("show")
def menu_show() -> None:
    """Print the menu WeChat has for the account."""
    from bot.service import wechat_client
    from bot.wechat.api import WeChatAPIError
    from bot.wechat.menu import describe_menu

    with database(write=False) as (settings, session):
        api = wechat_client(settings, session.get_bind())  # type: ignore[arg-type]
        try:
            current = api.get_menu()
        except WeChatAPIError as error:
            raise click.ClickException(f"WeChat did not answer: {error}") from error
    if current is None:
        click.echo("the account has no custom menu (farmhelp wechat menu push sets one)")
        return
    for line in describe_menu(current):
        click.echo(line)


@click.command()
@click.option("--township", default=None, help="Only the villages of this township.")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PDF to write (one A4 poster per village).",
)
def qrcodes(township: str | None, output: Path) -> None:
    """Village QR posters: each village's permanent QR code on a printable A4 page."""
    from bot.files.posters import PosterError, find_font, write_posters
    from bot.service import wechat_client
    from bot.wechat.api import WeChatAPIError
    from bot.wechat.qrcodes import village_posters, villages

    try:
        find_font()  # before asking WeChat for anything
    except PosterError as error:
        raise click.ClickException(str(error)) from error
    with database() as (settings, session):
        places = villages(session, township)
        if not places:
            where = f"township {township!r}" if township else "the place hierarchy"
            raise click.ClickException(f"no villages in {where} (farmhelp places import …)")
        api = wechat_client(settings, session.get_bind())  # type: ignore[arg-type]
        with click.progressbar(length=len(places), label="QR codes", file=None) as bar:
            try:
                posters = village_posters(session, api, places, progress=lambda _: bar.update(1))
            except WeChatAPIError as error:
                raise click.ClickException(
                    f"WeChat refused a QR code: {error} (codes made so far are kept; "
                    "run the command again to go on)"
                ) from error
    with click.progressbar(length=len(posters), label="posters ") as bar:
        try:
            pdf = write_posters(
                posters, account_name=settings.account_name, progress=lambda _: bar.update(1)
            )
        except PosterError as error:
            raise click.ClickException(str(error)) from error
    output.write_bytes(pdf)
    click.echo(f"wrote {len(posters)} village posters to {output} ({len(pdf) // 1024} KB)")
