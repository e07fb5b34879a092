"""The policy handlers need (timeouts, who is staff, template ids), built by bot/."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|days?)?\s*$")
_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}


def parse_duration(text: str) -> timedelta:
    """Parse "30min", "10m", "5s", "2h", "1d" or plain seconds; raise ValueError otherwise."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30min, 10m, 45s, 2h)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


@dataclass(frozen=True)
class RoutingConfig:
    """How requests are offered, paged and escalated."""

    accept_timeout: timedelta = timedelta(minutes=30)
    urgent_accept_timeout: timedelta = timedelta(minutes=10)
    staff_openids: tuple[str, ...] = ()
    expert_page_template: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str = field(default="", repr=False)
    duty_override: timedelta = timedelta(hours=12)
    timezone: str = "Asia/Shanghai"
