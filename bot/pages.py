"""The page an expert's page links to: one request, readable on a phone.

The link is signed and expires (FARMHELP_LINK_LIFETIME); it shows the farmer's own
words with phone numbers masked, the photos themselves and local times, and nothing
once the request has ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_file,
)
from sqlmodel import Session

from bot.database import get_engine
from handlers import texts
from handlers.config import Policy
from handlers.notify import link_signature_ok
from handlers.privacy import mask_phones
from models.media import list_media
from models.messages import list_messages
from models.requests import get_request_by_code
from models.tables import Farmer, HelpRequest, MediaFile

bp = Blueprint("pages", __name__)

ENDED = ("closed", "cancelled")


def init_app(app: Flask) -> None:
    """Mount the request page."""
    app.register_blueprint(bp)


def _policy() -> Policy:
    policy: Policy = current_app.extensions["farmhelp.policy"]
    return policy


def _checked_request(session: Session, code: str) -> HelpRequest | Response:
    """The request a valid, unexpired link names, or the page to show instead."""
    code = code.upper()
    expires, signature = request.args.get("x", ""), request.args.get("sig", "")
    if not link_signature_ok(_policy(), code, expires, signature):
        return _notice(
            "链接无效", "这个链接不完整或被改动过。请在公众号里回复“任务”查看您的求助。", 403
        )
    if int(expires) < time.time():
        return _notice(
            "链接已过期", "这个链接已经过期。请在公众号里回复“任务”，会看到您手上的求助。", 403
        )
    found = get_request_by_code(session=session, code=code)
    if found is None or found.id is None:
        abort(404)
    if found.status in ENDED:
        what = "已取消" if found.status == "cancelled" else "已办结"
        return _notice(f"求助 {found.code} {what}", "这个求助已经结束，页面不再显示内容。", 410)
    return found


def _notice(title: str, text: str, status: int) -> Response:
    return Response(render_template("notice.html", title=title, text=text), status=status)


@bp.get("/r/<code>")
def show_request(code: str) -> Response | str:
    """Show a request to whoever holds its signed, unexpired link."""
    tz = _policy().tz
    with Session(get_engine()) as session:
        found = _checked_request(session, code)
        if isinstance(found, Response):
            return found
        assert found.id is not None
        farmer = session.get(Farmer, found.farmer_id)
        said = [
            mask_phones(m.content or "")
            for m in list_messages(session=session, request_id=found.id)
            if m.direction == "in"
            and farmer is not None
            and m.openid == farmer.openid
            and m.content
        ]
        media = list_media(session=session, request_id=found.id)
        return render_template(
            "request.html",
            request=found,
            said=said,
            photos=[m for m in media if m.kind == "image"],
            others=[m for m in media if m.kind != "image"],
            query={"x": request.args["x"], "sig": request.args["sig"]},
            created=found.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            category=texts.CATEGORY_NAMES[found.category],
            urgency=texts.URGENCY_NAMES[found.urgency],
            media_names=texts.MEDIA_NAMES,
        )


@bp.get("/r/<code>/media/<int:media_id>")
def show_media(code: str, media_id: int) -> Response:
    """A photo or voice note of the request, for the holder of its link."""
    with Session(get_engine()) as session:
        found = _checked_request(session, code)
        if isinstance(found, Response):
            return found
        media = session.get(MediaFile, media_id)
        if media is None or media.request_id != found.id:
            abort(404)
        if media.status != "stored" or not media.path or not Path(media.path).is_file():
            return _notice("还在下载", "这个文件还在从微信下载，请过一会儿再打开。", 404)
        return send_file(
            Path(media.path).resolve(),
            mimetype=media.content_type or "application/octet-stream",
            download_name=Path(media.path).name,
            as_attachment=media.kind != "image",
            max_age=3600,
        )
