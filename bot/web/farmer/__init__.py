"""The farmer's own pages at /f/: the one-tap survey, an advisory with 退订, their data.

Each page is opened from a link the farmer received in WeChat (a template message's
link or a text's): it carries ids only, signed and expiring, so a page shows one
farmer's things to whoever holds that farmer's link and to nobody else. The
privacy notice and the how-to page are public.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("farmer", __name__, template_folder="templates", static_folder=None)


def init_app(app: Flask) -> None:
    """Mount the farmer's pages."""
    from bot.web.farmer import views  # noqa: F401

    app.register_blueprint(bp)
