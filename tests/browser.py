"""Real pages in a real browser: the app served on localhost, Debian's Chromium driven by
Playwright, screenshots written where the README says."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.web.demo.photos import png

__all__ = ["browser_page", "png", "require_chromium", "screenshot", "serving"]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("FARMHELP_SCREENSHOTS", ROOT / "docs" / "screenshots"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine needs (no sandbox as root, no calls home).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> str:
    """Chromium's path; skip without it (fail in CI, where .ci/run installs it)."""
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    message = "chromium is not installed (apt-get install chromium fonts-noto-cjk)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {message}")
    pytest.skip(message)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve the app on a free localhost port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def browser_page(*, width: int = 1280, height: int = 860) -> Iterator[Any]:
    """A fresh Chromium page (headless) of the given viewport."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, locale="zh-CN"
            )
            yield context.new_page()
            context.close()
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
