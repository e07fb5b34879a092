"""The service policy handlers and jobs follow (timeouts, quiet hours, who is staff,
template ids), built by bot/ from the settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|days?|w|weeks?|y|years?)?\s*$"
)
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
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
    "y": 365 * 86400,
    "year": 365 * 86400,
    "years": 365 * 86400,
}


def parse_duration(text: str) -> timedelta:
    """Parse "30min", "10m", "5s", "2h", "1d" or plain seconds; raise ValueError otherwise."""
    match = _DURATION.match(text.lower())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30min, 10m, 45s, 2h)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """Parse "21:00-08:00" (or "off"); raise ValueError otherwise."""
    if text.strip().lower() in ("off", "none", "no", ""):
        return None
    try:
        start_text, end_text = text.split("-")
        return time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError as error:
        raise ValueError(f"quiet hours must look like 21:00-08:00 or off, not {text!r}") from error


@dataclass(frozen=True)
class Policy:
    """How requests are offered, paged and escalated, and when follow-ups go out."""

    accept_timeout: timedelta = timedelta(minutes=30)
    urgent_accept_timeout: timedelta = timedelta(minutes=10)
    staff_openids: tuple[str, ...] = ()
    expert_page_template: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str = field(default="", repr=False)
    link_lifetime: timedelta = timedelta(days=7)
    duty_override: timedelta = timedelta(hours=12)
    timezone: str = "Asia/Shanghai"
    survey_delay: timedelta = timedelta(hours=24)
    survey_reminder: timedelta = timedelta(hours=24)
    survey_expiry: timedelta = timedelta(days=7)
    survey_template: str | None = None
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(8, 0))
    visit_reminder: timedelta = timedelta(hours=1)
    overdue_after: timedelta = timedelta(days=3)
    intake_timeout: timedelta = timedelta(minutes=10)
    outbreak_window: timedelta = timedelta(hours=72)
    outbreak_min_requests: int = 3
    # Urgent reports (animals dying, plants dying over a large area) need fewer.
    outbreak_min_urgent: int = 2
    advisory_template: str | None = None
    # How long after a visit the farmer is asked how it is now, and how long the
    # question waits for an answer.
    # The county's scoring rule for experts (handlers/service_record.py).
    score_volume: float = 60.0
    score_results: float = 40.0
    score_complaint: float = 0.5
    score_reopened: float = 0.5
    outcome_delay: timedelta = timedelta(days=7)
    outcome_expiry: timedelta = timedelta(days=7)
    # The keyword names of each template as the account's template has them
    # (category templates name them thing1, character_string2 …).
    expert_page_keys: tuple[str, ...] = ("keyword1", "keyword2", "keyword3", "keyword4")
    survey_keys: tuple[str, ...] = ("keyword1", "keyword2", "keyword3")
    advisory_keys: tuple[str, ...] = ("keyword1", "keyword2")
    account_name: str = "农技服务"
    privacy_contact: str = ""
    retention: timedelta = timedelta(days=3 * 365)
    # Where a county's own pesticide list is installed (`farmhelp pesticides update`).
    instance_dir: str = ""
    unfollow_grace: timedelta = timedelta(days=30)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def out_of_quiet_hours(self, moment: datetime) -> datetime:
        """Return `moment`, or the end of the quiet hours it falls in."""
        if self.quiet_hours is None:
            return moment
        start, end = self.quiet_hours
        local = moment.astimezone(self.tz)
        clock = local.time()
        quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
        if not quiet:
            return moment
        end_day = local.date()
        if start > end and clock >= start:
            end_day += timedelta(days=1)
        return datetime.combine(end_day, end, self.tz).astimezone(moment.tzinfo)
