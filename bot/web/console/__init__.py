"""The staff console at /console/: requests, conversations, experts, the rota, staff.

Views read through query functions in models/ and act through handlers/; every
change and every unmasking of personal data is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, flash
from flask_login import current_user
from sqlmodel import Session

from bot.database import get_engine
from bot.web.auth import client_address
from handlers import texts
from handlers.config import Policy
from handlers.privacy import mask_phone, mask_phones
from models.db import session_scope
from models.staff import record_audit
from models.tables import utcnow

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def init_app(app: Flask) -> None:
    """Mount the console and give its templates the names and helpers they use."""
    from bot.web.console import (  # noqa: F401  (they register their views)
        views_admin,
        views_ahead,
        views_farmers,
        views_people,
        views_personal,
        views_places,
        views_records,
        views_requests,
    )

    app.register_blueprint(bp)

    @app.template_filter("local")
    def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(policy().tz).strftime(fmt) if value else ""

    @app.template_filter("local_iso")
    def local_iso(value: str | None) -> str:
        return local_time(datetime.fromisoformat(value)) if value else ""

    @app.template_filter("masked")
    def masked_openid(openid: str | None) -> str:
        return f"{openid[:4]}…{openid[-3:]}" if openid and len(openid) > 8 else "…"

    from bot.web.console.views_people import voice_playable

    app.jinja_env.globals.update(
        voice_playable=voice_playable,
        STATUS_NAMES=texts.STATUS_NAMES,
        CATEGORY_NAMES=texts.CATEGORY_NAMES,
        URGENCY_NAMES=texts.URGENCY_NAMES,
        SOLVED_NAMES=texts.SOLVED_NAMES,
        OUTCOME_NAMES=texts.OUTCOME_NAMES,
        mask_phone=mask_phone,
        mask_phones=mask_phones,
    )


def policy() -> Policy:
    found: Policy = current_app.extensions["farmhelp.policy"]
    return found


@contextmanager
def reading() -> Iterator[Session]:
    """A session for reading (nothing is committed)."""
    with Session(get_engine()) as session:
        yield session


@contextmanager
def changing() -> Iterator[Session]:
    """A session whose changes are committed together with their audit entries."""
    with session_scope(get_engine()) as session:
        yield session


def audit(
    session: Session,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record what the signed-in staff member did, in the same transaction."""
    record_audit(
        session=session,
        username=current_user.username,
        action=action,
        target=target,
        now=utcnow(),
        before=before,
        after=after,
        address=client_address(),
    )


def audit_read(action: str, target: str, **details: Any) -> None:
    """Record that the signed-in staff member read personal data (its own transaction)."""
    with changing() as session:
        audit(session, action, target, after=details or None)


def done(message: str) -> None:
    flash(message, "ok")


def refused(message: str) -> None:
    flash(message, "error")
