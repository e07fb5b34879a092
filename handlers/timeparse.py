"""Reading the visit times experts write: 明天上午9点, 后天下午3点半, 11月25日14:00 …"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_AFTERNOON = ("下午", "晚上", "傍晚", "夜里", "今晚", "明晚")

_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ t]+(\d{1,2}):(\d{2}))?")
_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})[日号]?")
_DAY_ONLY = re.compile(r"(?<![月\d])(\d{1,2})[日号]")
_WEEKDAY = re.compile(r"(下)?(?:周|星期|礼拜)([一二三四五六日天])")
_CLOCK = re.compile(r"(\d{1,2})[:：](\d{2})")
_HOUR = re.compile(
    r"([0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3})[点时](半|(\d{1,2})分?|([一二三四五]十?[一二三四五六七八九]?)分)?"
)


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.startswith("十"):
        return 10 + (_DIGITS[text[1]] if len(text) > 1 else 0)
    if len(text) >= 2 and text[1] == "十":
        return _DIGITS[text[0]] * 10 + (_DIGITS[text[2]] if len(text) > 2 else 0)
    return _DIGITS[text[0]]


def parse_visit_time(text: str, *, now: datetime, tz: tzinfo) -> datetime | None:
    """Return the time meant, in `tz`, or None when the text names no time of day, or a
    day that does not exist (2月30日, 13月), or one far from now."""
    try:
        found = _parse_visit_time(text, now=now, tz=tz)
    except (ValueError, OverflowError):
        return None
    if found is None or abs(found.year - now.year) > 1:
        return None
    return found


def _parse_visit_time(text: str, *, now: datetime, tz: tzinfo) -> datetime | None:
    local_now = now.astimezone(tz)
    text = text.strip()
    iso = _ISO.search(text)
    if iso:
        year, month, day_of_month = (int(g) for g in iso.groups()[:3])
        day = date(year, month, day_of_month)
        if iso.group(4):
            return datetime.combine(day, time(int(iso.group(4)), int(iso.group(5))), tz)
    else:
        day = _day(text, local_now.date())
    clock = _CLOCK.search(text)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
    else:
        match = _HOUR.search(text)
        if match is None:
            return None
        hour = _number(match.group(1))
        minute = 0
        if match.group(2) == "半":
            minute = 30
        elif match.group(3):
            minute = int(match.group(3))
        elif match.group(4):
            minute = _number(match.group(4))
    if any(word in text for word in _AFTERNOON) and hour < 12:
        hour += 12
    if "中午" in text and hour < 6:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return datetime.combine(day, time(hour, minute), tz)


def _day(text: str, today: date) -> date:
    for word in sorted(_RELATIVE_DAYS, key=len, reverse=True):
        if word in text:
            return today + timedelta(days=_RELATIVE_DAYS[word])
    month_day = _MONTH_DAY.search(text)
    if month_day:
        candidate = date(today.year, int(month_day.group(1)), int(month_day.group(2)))
        return candidate if candidate >= today else candidate.replace(year=today.year + 1)
    weekday = _WEEKDAY.search(text)
    if weekday:
        target = _WEEKDAYS[weekday.group(2)]
        if weekday.group(1):  # 下周X: that day of next week (weeks start on Monday)
            return today + timedelta(days=7 - today.weekday() + target)
        return today + timedelta(days=(target - today.weekday()) % 7)
    day_only = _DAY_ONLY.search(text)
    if day_only:
        wanted = int(day_only.group(1))
        candidate = today.replace(day=wanted)
        if candidate < today:
            month = today.month % 12 + 1
            candidate = candidate.replace(year=today.year + (month == 1), month=month)
        return candidate
    return today
