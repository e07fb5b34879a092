"""What the running scheduler hands its jobs.

Jobs live in a persistent job store, so they are stored as textual references with
no arguments; the scheduler process installs the context they run with at start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from handlers.config import Policy


class WeChat(Protocol):
    """What jobs need from the WeChat API client."""

    def send(self, kind: str, openid: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    def download_media(self, media_id: str) -> Any: ...


@dataclass(frozen=True)
class JobContext:
    """The engine, the WeChat client and the policy the jobs of this process use."""

    engine: Engine
    wechat: WeChat
    media_dir: Path
    config: Policy
    holder: str = "scheduler"  # who claims outbox rows in this process
    deliverers: int = 4  # outbox deliverer threads
    stopping: threading.Event = field(default_factory=threading.Event)


_installed: list[JobContext] = []


def install(context: JobContext) -> None:
    """Set the context for the jobs of this process."""
    _installed[:] = [context]


def current() -> JobContext:
    """Return the context installed by the running scheduler."""
    if not _installed:
        raise RuntimeError("no scheduler context installed in this process")
    return _installed[0]
