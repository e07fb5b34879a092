"""Log lines operators can search: one JSON object a line (FARMHELP_LOG_FORMAT=json),
each with the request id of the HTTP request it belongs to, openids hashed."""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import re
import secrets
from datetime import UTC, datetime

from flask import Flask, Response, g, request

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# WeChat openids: 28 characters starting with "o".
_OPENID = re.compile(r"\bo[A-Za-z0-9_-]{27}\b")


def hash_openid(openid: str) -> str:
    """A stable short stand-in for an openid in logs (the same openid, the same hash)."""
    return "u:" + hashlib.sha256(openid.encode()).hexdigest()[:12]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        message = _OPENID.sub(lambda m: hash_openid(m.group()), record.getMessage())
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "request_id": REQUEST_ID.get(),
        }
        if record.exc_info:
            line["exception"] = _OPENID.sub(
                lambda m: hash_openid(m.group()), self.formatException(record.exc_info)
            )
        return json.dumps(line, ensure_ascii=False)


def init_app(app: Flask) -> None:
    """Give every request an id (from X-Request-Id, or a new one) for its log lines."""

    @app.before_request
    def name_the_request() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = (
            given[:64] if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", given) else secrets.token_hex(8)
        )
        g.request_id_token = REQUEST_ID.set(g.request_id)

    @app.after_request
    def tell_the_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def forget_the_request(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            REQUEST_ID.reset(token)
