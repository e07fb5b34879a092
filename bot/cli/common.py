"""What every command needs: settings read with a readable error, and a session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from bot.service import ready_schema
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlmodel import Session


def load() -> Settings:
    """The settings, or a ClickException that says what is wrong with them."""
    try:
        return load_settings()
    except SettingsError as error:
        raise click.ClickException(f"configuration: {error}") from error


@contextmanager
def database(*, write: bool = True) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on a ready schema; with `write` the changes are committed."""
    from sqlmodel import Session

    from models.db import make_engine, session_scope

    settings = load()
    ready_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) if write else Session(engine) as session:
            yield settings, session
    finally:
        engine.dispose()


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
