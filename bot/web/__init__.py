"""The web pages people use (the staff console), beside the WeChat edge."""

from __future__ import annotations

from flask import Flask, request

from bot.files.photos import MAX_PHOTO_BYTES, MAX_PHOTOS
from bot.settings import Settings

FORM_ALLOWANCE = 1024 * 1024  # the typed fields beside the files
# Bodies larger than the app-wide limit (FARMHELP_MAX_BODY_BYTES, sized for WeChat's
# pushes), by endpoint: a prescription with its photos, a spreadsheet to import.
BODY_LIMITS = {
    "workbench.act": MAX_PHOTOS * MAX_PHOTO_BYTES + FORM_ALLOWANCE,
    "console.import_file": 20 * 1024 * 1024,
}


def init_app(app: Flask, settings: Settings) -> None:
    """Sign-in, CSRF protection and the console."""
    from bot.web import auth, errors, params
    from bot.web.console import init_app as init_console
    from bot.web.farmer import init_app as init_farmer
    from bot.web.workbench import init_app as init_workbench

    # First of all, before CSRF protection reads the form under the app-wide limit.
    first = app.before_request_funcs.setdefault(None, [])
    first[0:0] = [allow_larger_bodies, params.refuse_nul]
    auth.init_app(app, settings)
    errors.init_app(app)
    init_console(app)
    init_workbench(app)
    init_farmer(app)


def allow_larger_bodies() -> None:
    """Raise the body limit for the endpoints that take files (Flask 3.1, per request)."""
    limit = BODY_LIMITS.get(request.endpoint or "")
    if limit is not None:
        request.max_content_length = limit
