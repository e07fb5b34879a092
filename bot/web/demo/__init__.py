"""`farmhelp demo`: the real service with a fake WeChat API and a three-phone simulator.

Mounted only when FARMHELP_FAKE_WECHAT_API is on (the demo command sets it; production
refuses it): /fake-wechat/cgi-bin/ answers like WeChat's API and records what was
sent; /demo/ shows a farmer's and two experts' phones whose messages are real signed
(optionally encrypted) pushes to /wechat, and a clock that jumps forward.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, url_for

bp = Blueprint("demo", __name__, url_prefix="/demo", template_folder="templates")


def init_app(app: Flask) -> None:
    """Mount the fake API and the simulator."""
    from bot.web.auth import csrf
    from bot.web.demo import fake_wechat, views  # noqa: F401

    app.extensions["farmhelp.fake_wechat"] = fake_wechat.init_app(app)
    csrf.exempt(bp)  # the simulator's own JSON calls; it signs its pushes itself
    app.register_blueprint(bp)
    # The demo's address as printed leads to the simulator, and so does its root.
    app.add_url_rule("/", "demo_root", lambda: redirect(url_for("demo.simulator")))
