"""The application shell: `create_app()` wires settings, database and the WeChat edge."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bot.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app; usable as `gunicorn 'bot:create_app()'`."""
    # Imported here so that CLI commands which need no web app start quickly.
    from flask import Flask

    from bot import database, logs, ops, pages, web
    from bot.settings import load_settings
    from bot.wechat import replies, webhook

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    from bot.web import params

    params.init_app(app)  # before any route: bounded ids in URLs, readable 400 pages
    app.extensions["farmhelp.settings"] = settings
    app.extensions["farmhelp.policy"] = settings.policy()
    configure_logging(settings.log_format)
    logs.init_app(app)
    database.init_app(app, settings)
    replies.init_app(app, settings)
    webhook.init_app(app)
    pages.init_app(app)
    ops.init_app(app)
    web.init_app(app, settings)
    from bot.web.auth import csrf

    csrf.exempt(webhook.bp)  # signed by WeChat, not a browser form
    if settings.fake_wechat_api and settings.env != "production":
        from bot.web import demo

        demo.init_app(app)  # a development tool: the fake WeChat API and the simulator
    app.config["FARMHELP_TRUST_PROXY"] = settings.trust_proxy
    # Lexicons and pinyin tables, built now rather than on the first push: under
    # gunicorn's preload_app this happens once, in the master, before the fork.
    from handlers.understanding import default_parser

    default_parser()
    return app


def configure_logging(fmt: str = "text") -> None:
    """Send farmhelp's log lines to stderr unless the host already configured logging.

    `fmt` "json" writes one JSON object a line (see bot/logs.py).
    """
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if fmt == "json":
            from bot.logs import JsonFormatter

            for handler in root.handlers:
                handler.setFormatter(JsonFormatter())
    # APScheduler logs every run of every job at INFO; keep its warnings and errors.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def get_settings(app: Flask) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = app.extensions["farmhelp.settings"]
    return settings
