"""A fake WeChat API on localhost: stable_token, token and media/get, recording calls."""

from __future__ import annotations

import itertools
import threading
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
    _counter: Any = field(default_factory=lambda: itertools.count(1))

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]

    def fail_next(self, path: str, **error: Any) -> None:
        """Make the next call to `path` answer with this JSON error."""
        self.failures.setdefault(path, []).append(error)

    def app(self) -> Flask:
        app = Flask("fake-wechat")

        @app.post("/cgi-bin/stable_token")
        def stable_token() -> Response:
            self.calls.append(("stable_token", dict(request.get_json() or {})))
            token = f"token-{next(self._counter)}"
            self.tokens_issued.append(token)
            return jsonify(access_token=token, expires_in=7200)

        @app.get("/cgi-bin/media/get")
        def media_get() -> Response:
            self.calls.append(("media/get", dict(request.args)))
            failures = self.failures.get("media/get")
            if failures:
                return jsonify(failures.pop(0))
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
