"""A fake WeChat API for the benchmarks: tokens, custom and template sends, recorded.

Every send waits --delay seconds (a slow WeChat) and is recorded with the time it
arrived; GET /received returns them all. Run as a process of its own:

    python bench/fake_wechat_server.py PORT [--delay 0.0]

or from another benchmark, `spawn(port, delay)`.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server


def build(delay: float) -> Flask:
    app = Flask("fake-wechat")
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    @app.post("/cgi-bin/stable_token")
    @app.get("/cgi-bin/token")
    def token() -> Response:
        return jsonify(access_token="bench-token", expires_in=7200)

    @app.post("/cgi-bin/message/custom/send")
    @app.post("/cgi-bin/message/template/send")
    def send() -> Response:
        if delay:
            time.sleep(delay)
        body = request.get_json(force=True)
        text = body.get("text", {}).get("content") or str(body.get("data", ""))
        with lock:
            received.append({"to": body.get("touser"), "text": text, "at": time.time()})
        return jsonify(errcode=0, errmsg="ok", msgid=len(received))

    @app.get("/received")
    def everything() -> Response:
        with lock:
            return jsonify(list(received))

    return app


def spawn(port: int, delay: float) -> subprocess.Popen[bytes]:
    """Run the fake API as a process of its own; return once it is listening."""
    process = subprocess.Popen(
        [sys.executable, __file__, str(port), "--delay", str(delay)], stdout=subprocess.PIPE
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", args.port, build(args.delay), threaded=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
