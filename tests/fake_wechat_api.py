"""A fake WeChat API on localhost: stable_token, token and media/get, recording calls."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server


@dataclass
class FakeWeChatAPI:
    base_url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens_issued: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds every call waits, to play a slow WeChat
    menu: dict[str, Any] | None = None
    qrcodes: dict[str, str] = field(default_factory=dict)  # scene_str → url
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _lock: Any = field(default_factory=threading.Lock)

    def sent(self, path: str = "message/custom/send") -> list[dict[str, Any]]:
        """Bodies of the messages sent through `path`, in order."""
        return [body for called, body in self.calls if called == path]

    def texts_to(self, openid: str) -> list[str]:
        """Contents of the custom text messages sent to one user."""
        return [
            body["text"]["content"]
            for body in self.sent()
            if body["touser"] == openid and body["msgtype"] == "text"
        ]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> float:
        """Wait until predicate(self) is true; return the seconds it took."""
        started = time.monotonic()
        while not predicate(self):
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"fake WeChat API: condition not met in {timeout} s; calls: {self.calls}"
                )
            time.sleep(0.02)
        return time.monotonic() - started

    def _record(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.calls.append((path, body))
            failures = self.failures.get(path)
            return failures.pop(0) if failures else None

    def _issue_token(self) -> str:
        with self._lock:
            token = f"token-{next(self._counter)}"
            self.tokens_issued.append(token)
        return token

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]

    def fail_next(self, path: str, **error: Any) -> None:
        """Make the next call to `path` answer with this JSON error."""
        self.failures.setdefault(path, []).append(error)

    def app(self) -> Flask:
        app = Flask("fake-wechat")

        @app.post("/cgi-bin/stable_token")
        def stable_token() -> Response:
            self._record("stable_token", dict(request.get_json() or {}))
            return jsonify(access_token=self._issue_token(), expires_in=7200)

        @app.get("/cgi-bin/token")
        def legacy_token() -> Response:
            self._record("token", dict(request.args))
            return jsonify(access_token=self._issue_token(), expires_in=7200)

        def send(path: str) -> Response:
            body = dict(request.get_json() or {})
            failure = self._record(path, body)
            if failure is not None:
                # fail_next(path, http_status=502) answers an HTTP error, not a JSON errcode.
                status = int(failure.pop("http_status", 200))
                return Response("Bad Gateway", status=status) if status >= 500 else jsonify(failure)
            if request.args.get("access_token") not in self.tokens_issued:
                return jsonify(errcode=40001, errmsg="invalid credential")
            return jsonify(errcode=0, errmsg="ok", msgid=next(self._counter))

        @app.post("/cgi-bin/message/custom/send")
        def custom_send() -> Response:
            return send("message/custom/send")

        @app.post("/cgi-bin/message/template/send")
        def template_send() -> Response:
            return send("message/template/send")

        @app.post("/cgi-bin/menu/create")
        def menu_create() -> Response:
            body = dict(request.get_json() or {})
            failure = self._record("menu/create", body)
            if failure is not None:
                return jsonify(failure)
            if request.args.get("access_token") not in self.tokens_issued:
                return jsonify(errcode=40001, errmsg="invalid credential")
            refused = wechat_menu_error(body)
            if refused is not None:
                return jsonify(errcode=refused[0], errmsg=refused[1])
            self.menu = body
            return jsonify(errcode=0, errmsg="ok")

        @app.get("/cgi-bin/menu/get")
        def menu_get() -> Response:
            self._record("menu/get", dict(request.args))
            if self.menu is None:
                return jsonify(errcode=46003, errmsg="menu no exist")
            return jsonify(menu=self.menu)

        @app.post("/cgi-bin/qrcode/create")
        def qrcode_create() -> Response:
            body = dict(request.get_json() or {})
            failure = self._record("qrcode/create", body)
            if failure is not None:
                return jsonify(failure)
            if request.args.get("access_token") not in self.tokens_issued:
                return jsonify(errcode=40001, errmsg="invalid credential")
            scene = body.get("action_info", {}).get("scene", {}).get("scene_str", "")
            if body.get("action_name") != "QR_LIMIT_STR_SCENE" or not 1 <= len(scene) <= 64:
                return jsonify(errcode=40053, errmsg="invalid action info")
            with self._lock:
                url = self.qrcodes.setdefault(
                    scene, f"http://weixin.qq.com/q/fake{len(self.qrcodes)}x"
                )
            return jsonify(ticket=f"ticket-{scene}", url=url)

        @app.get("/cgi-bin/media/get")
        def media_get() -> Response:
            failure = self._record("media/get", dict(request.args))
            if failure is not None:
                return jsonify(failure)
            if request.args.get("access_token") not in self.tokens_issued:
                return jsonify(errcode=40001, errmsg="invalid credential")
            found = self.media.get(request.args.get("media_id", ""))
            if found is None:
                return jsonify(errcode=40007, errmsg="invalid media_id")
            content, content_type = found
            return Response(
                content,
                content_type=content_type,
                headers={
                    "Content-Disposition": f'attachment; filename="{request.args["media_id"]}.jpg"'
                },
            )

        return app


# WeChat's menu/create limits and the errcodes its documentation gives for them.
MENU_TYPES = {
    "click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
    "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "article_id",
    "article_view_limited", "view_limited", "miniprogram",
}  # fmt: skip
UNKEYED = ("media_id", "article_id", "article_view_limited", "view_limited")


def wechat_menu_error(body: dict[str, Any]) -> tuple[int, str] | None:
    """What WeChat answers to a menu it refuses (None: accepted)."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"
    for button in buttons:
        name = button.get("name", "")
        if not name or len(name.encode()) > 16:
            return 40018, "invalid button name size"
        subs = button.get("sub_button")
        if subs:
            if len(subs) > 5:
                return 40023, "invalid sub button size"
            for sub in subs:
                if not sub.get("name") or len(sub["name"].encode()) > 60:
                    return 40025, "invalid sub button name size"
                if sub.get("type") not in MENU_TYPES:
                    return 40024, "invalid sub button type"
                if sub["type"] in ("view", "miniprogram") and not sub.get("url"):
                    return 40027, "invalid sub button url size"
                keyed = sub["type"] not in ("view", "miniprogram", *UNKEYED)
                if keyed and (not sub.get("key") or len(sub["key"].encode()) > 128):
                    return 40026, "invalid sub button key size"
            continue
        if button.get("type") not in MENU_TYPES:
            return 40017, "invalid button type"
        url, key = button.get("url") or "", button.get("key") or ""
        if button["type"] in ("view", "miniprogram") and not 0 < len(url.encode()) <= 1024:
            return 40020, "invalid button url size"
        keyed = button["type"] not in ("view", "miniprogram", *UNKEYED)
        if keyed and not 0 < len(key.encode()) <= 128:
            return 40019, "invalid button key size"
    return None


@pytest.fixture
def fake_api() -> Iterator[FakeWeChatAPI]:
    fake = FakeWeChatAPI()
    server = make_server("127.0.0.1", 0, fake.app(), threaded=True)
    fake.base_url = f"http://127.0.0.1:{server.server_port}/cgi-bin/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()
