"""The page an expert's page links to: one request, readable on a phone."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, render_template, request
from sqlmodel import Session

from bot.database import get_engine
from handlers import texts
from handlers.notify import link_signature_ok
from models.media import list_media
from models.messages import list_messages
from models.requests import get_request_by_code

bp = Blueprint("pages", __name__)


def init_app(app: Flask) -> None:
    """Mount the request page."""
    app.register_blueprint(bp)


@bp.get("/r/<code>")
def show_request(code: str) -> str:
    """Show a request to whoever holds its signed link."""
    config = current_app.extensions["farmhelp.policy"]
    if not link_signature_ok(config, code.upper(), request.args.get("sig", "")):
        abort(403)
    with Session(get_engine()) as session:
        help_request = get_request_by_code(session=session, code=code)
        if help_request is None or help_request.id is None:
            abort(404)
        messages = [
            m
            for m in list_messages(session=session, request_id=help_request.id)
            if m.direction == "in"
        ]
        media = list_media(session=session, request_id=help_request.id)
        return render_template(
            "request.html",
            request=help_request,
            messages=messages,
            media=media,
            category=texts.CATEGORY_NAMES[help_request.category],
            urgency=texts.URGENCY_NAMES[help_request.urgency],
        )
