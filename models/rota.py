"""The rota week as people read it: who covers which hours of each day, a shift over
several days with its first and last day, and the hours nobody of a specialty covers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.tables import DutyShift, Expert


@dataclass(frozen=True)
class DayPiece:
    """The part of one shift that falls on one day."""

    shift: DutyShift
    hours: str  # 08:00–18:00, 全天, 08:00–24:00
    span: str  # the whole shift, dates included when it crosses midnight
    several_days: bool


def _clock(moment: datetime, tz: ZoneInfo, day_start: datetime) -> str:
    if moment >= day_start + timedelta(days=1):
        return "24:00"
    return moment.astimezone(tz).strftime("%H:%M")


def day_pieces(shifts: Iterable[DutyShift], day: date, tz: ZoneInfo) -> list[DayPiece]:
    """What each shift covers of `day` (local), earliest first."""
    day_start = datetime.combine(day, time(), tz)
    day_end = day_start + timedelta(days=1)
    pieces = []
    for shift in sorted(shifts, key=lambda s: s.start):
        if not (shift.start < day_end and shift.end > day_start):
            continue
        start, end = max(shift.start, day_start), min(shift.end, day_end)
        whole_day = start == day_start and end == day_end
        hours = (
            "全天" if whole_day else f"{_clock(start, tz, day_start)}–{_clock(end, tz, day_start)}"
        )
        local_start, local_end = shift.start.astimezone(tz), shift.end.astimezone(tz)
        several = local_start.date() != (local_end - timedelta(microseconds=1)).date()
        ends_at_midnight = local_end.date() != local_start.date() and not several
        span = (
            f"{local_start:%m-%d %H:%M} 至 {local_end:%m-%d %H:%M}"
            if several
            else f"{local_start:%H:%M}–{'24:00' if ends_at_midnight else f'{local_end:%H:%M}'}"
        )
        pieces.append(DayPiece(shift, hours, span, several))
    return pieces


def uncovered(
    shifts: Iterable[DutyShift], day: date, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The stretches of `day` (local) that none of these shifts covers."""
    day_start = datetime.combine(day, time(), tz)
    day_end = day_start + timedelta(days=1)
    gaps, at = [], day_start
    for shift in sorted(shifts, key=lambda s: s.start):
        if shift.end <= at or shift.start >= day_end:
            continue
        if shift.start > at:
            gaps.append((at, shift.start))
        at = max(at, shift.end)
    if at < day_end:
        gaps.append((at, day_end))
    return gaps


def gaps_by_specialty(
    experts: list[Expert], shifts: list[DutyShift], day: date, tz: ZoneInfo
) -> list[tuple[str, str]]:
    """For each specialty some active expert has: the hours of `day` nobody of it covers
    (a shift covers every specialty of its expert), as (specialty, 00:00–08:00、…)."""
    day_start = datetime.combine(day, time(), tz)
    found = []
    specialties = list(dict.fromkeys(s for e in experts for s in e.specialties))
    for specialty in specialties:
        ids = {e.id for e in experts if specialty in e.specialties}
        holes = uncovered((s for s in shifts if s.expert_id in ids), day, tz)
        if holes:
            said = "、".join(
                "全天"
                if end - start >= timedelta(days=1)
                else f"{_clock(start, tz, day_start)}–{_clock(end, tz, day_start)}"
                for start, end in holes
            )
            found.append((specialty, said))
    return found
