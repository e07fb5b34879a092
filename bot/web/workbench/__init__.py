"""The expert's workbench at /w/: a request on a phone, acted on with taps.

Each tap becomes the command the expert could have typed (接单, 拒绝, 预约, a
message, 完成) and goes through the same inbound pipeline as a WeChat message: it
is logged, deduplicated by a one-time action id (a double tap acts once), decided
under the request's lock and relayed exactly as from WeChat.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "workbench", __name__, url_prefix="/w", template_folder="templates", static_folder=None
)


def init_app(app: Flask) -> None:
    """Mount the workbench."""
    from bot.web.workbench import views  # noqa: F401

    app.register_blueprint(bp)
