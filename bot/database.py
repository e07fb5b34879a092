"""The app's database engine."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Engine

from bot.settings import Settings
from models.db import make_engine


def init_app(app: Flask, settings: Settings) -> None:
    """Create the engine for this app (connections are opened lazily)."""
    if settings.database_url.startswith("sqlite"):
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    app.extensions["farmhelp.engine"] = make_engine(settings.database_url)


def get_engine() -> Engine:
    """Return the current app's engine."""
    engine: Engine = current_app.extensions["farmhelp.engine"]
    return engine
