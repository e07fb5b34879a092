"""The web pages people use (the staff console), beside the WeChat edge."""

from __future__ import annotations

from flask import Flask

from bot.settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Sign-in, CSRF protection and the console."""
    from bot.web import auth
    from bot.web.console import init_app as init_console
    from bot.web.workbench import init_app as init_workbench

    auth.init_app(app, settings)
    init_console(app)
    init_workbench(app)
