"""A local stand-in for WeChat's API, for the demo: it records every call.

Mounted at /fake-wechat/cgi-bin/ only when FARMHELP_FAKE_WECHAT_API is on, which
production refuses. It answers token, stable_token, custom and template sends and
media upload/get the way WeChat does, and keeps what was sent to whom so the
simulator can show it on the right phone.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

PREFIX = "/fake-wechat/cgi-bin"


@dataclass
class Delivery:
    """One message farmhelp sent through the fake API."""

    number: int
    at: float
    openid: str
    kind: str  # text, image, voice, video, template
    text: str
    url: str | None = None
    media_id: str | None = None


@dataclass
class FakeWeChat:
    """What the fake API holds: tokens it issued, media, and every delivery."""

    tokens: set[str] = field(default_factory=set)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _numbers: Any = field(default_factory=lambda: itertools.count(1))
    _lock: Any = field(default_factory=threading.Lock)

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return token

    def record(self, openid: str, kind: str, text: str, **extra: Any) -> None:
        with self._lock:
            self.deliveries.append(
                Delivery(next(self._numbers), time.time(), openid, kind, text, **extra)
            )

    def since(self, openid: str, after: int) -> list[Delivery]:
        """What was delivered to one user after delivery number `after`."""
        with self._lock:
            return [d for d in self.deliveries if d.openid == openid and d.number > after]


def init_app(app: Flask) -> FakeWeChat:
    """Mount the fake API on the app and return its state."""
    fake = FakeWeChat()
    bp = Blueprint("fake_wechat", __name__, url_prefix=PREFIX)

    def authorised() -> bool:
        return request.args.get("access_token", "") in fake.tokens

    @bp.post("/stable_token")
    def stable_token() -> Response:
        return jsonify(access_token=fake.issue_token(), expires_in=7200)

    @bp.get("/token")
    def legacy_token() -> Response:
        return jsonify(access_token=fake.issue_token(), expires_in=7200)

    @bp.post("/message/custom/send")
    def custom_send() -> Response:
        if not authorised():
            return jsonify(errcode=40001, errmsg="invalid credential")
        body = request.get_json(silent=True) or {}
        kind = str(body.get("msgtype", "text"))
        part = body.get(kind) or {}
        text = str(part.get("content", "")) if kind == "text" else ""
        fake.record(str(body.get("touser", "")), kind, text, media_id=part.get("media_id"))
        return jsonify(errcode=0, errmsg="ok")

    @bp.post("/message/template/send")
    def template_send() -> Response:
        if not authorised():
            return jsonify(errcode=40001, errmsg="invalid credential")
        body = request.get_json(silent=True) or {}
        fields = body.get("data") or {}
        text = "\n".join(str(v.get("value", "")) for v in fields.values() if isinstance(v, dict))
        fake.record(str(body.get("touser", "")), "template", text, url=body.get("url"))
        return jsonify(errcode=0, errmsg="ok", msgid=next(fake._numbers))

    @bp.post("/media/upload")
    def media_upload() -> Response:
        if not authorised():
            return jsonify(errcode=40001, errmsg="invalid credential")
        upload = request.files.get("media")
        if upload is None:
            return jsonify(errcode=41005, errmsg="media data missing")
        media_id = secrets.token_urlsafe(16)
        fake.media[media_id] = (upload.read(), upload.mimetype or "application/octet-stream")
        return jsonify(
            type=request.args.get("type", "image"), media_id=media_id, created_at=int(time.time())
        )

    @bp.get("/media/get")
    def media_get() -> Response:
        if not authorised():
            return jsonify(errcode=40001, errmsg="invalid credential")
        found = fake.media.get(request.args.get("media_id", ""))
        if found is None:
            return jsonify(errcode=40007, errmsg="invalid media_id")
        content, content_type = found
        name = request.args["media_id"]
        return Response(
            content,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{name}.png"'},
        )

    from bot.web.auth import csrf

    csrf.exempt(bp)  # called by farmhelp's own WeChat client, not a browser
    app.register_blueprint(bp)
    return fake
