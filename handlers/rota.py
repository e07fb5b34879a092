"""值班调整: one expert covers another's shifts for a while (leave, illness, a trip),
as on-call tools swap a rota: the absent expert's shifts are cut around the window,
the cover gets shifts marked as covering for them, and both, and their team leader,
are told."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from handlers import texts
from handlers.notify import send_text
from models.tables import DutyShift, Expert

LONGEST_SWAP = timedelta(days=14)


class SwapRefused(Exception):
    """The swap cannot be made as asked; the message says why, in Chinese."""


def when_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """12月8日 08:00 至 12月9日 08:00 (one date when it ends the same day)."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() == b.date():
        return f"{a.month}月{a.day}日 {a:%H:%M}–{b:%H:%M}"
    return f"{a.month}月{a.day}日 {a:%H:%M} 至 {b.month}月{b.day}日 {b:%H:%M}"


def pieces_text(shifts: list[DutyShift], tz: ZoneInfo) -> str:
    """The shifts' times one after another (two separate shifts are not one long one)."""
    return "、".join(when_text(s.start, s.end, tz) for s in shifts)


def swap_duty(
    session: Session,
    *,
    absent: Expert,
    cover: Expert,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    now: datetime,
    arranged_by: str,
) -> list[DutyShift]:
    """Give `cover` every part of `absent`'s shifts between `start` and `end`; return the
    cover's new shifts. Refused when nothing of `absent`'s falls in the window or the
    cover has a shift of their own overlapping it."""
    assert absent.id is not None and cover.id is not None
    if absent.id == cover.id:
        raise SwapRefused("替班的须是另一位专家")
    if not cover.active:
        raise SwapRefused(f"{cover.name}已停用，不能替班")
    if end <= start:
        raise SwapRefused("结束要晚于开始")
    if end - start > LONGEST_SWAP:
        raise SwapRefused(f"一次调整最长 {LONGEST_SWAP.days} 天")
    theirs = list(
        session.exec(
            select(DutyShift)
            .where(DutyShift.expert_id == absent.id, DutyShift.start < end, DutyShift.end > start)
            .order_by(col(DutyShift.start))
        )
    )
    if not theirs:
        raise SwapRefused(f"{absent.name}在 {when_text(start, end, tz)} 没有班，不用调整")
    busy = session.exec(
        select(DutyShift).where(
            DutyShift.expert_id == cover.id, DutyShift.start < end, DutyShift.end > start
        )
    ).first()
    if busy is not None:
        raise SwapRefused(
            f"{cover.name}在 {when_text(busy.start, busy.end, tz)} 自己有班，请另选一位"
        )
    covering = []
    for shift in theirs:
        taken_from, taken_to = max(shift.start, start), min(shift.end, end)
        before, after = shift.start < taken_from, shift.end > taken_to
        if before and after:
            session.add(
                DutyShift(
                    expert_id=absent.id,
                    start=taken_to,
                    end=shift.end,
                    covers_for=shift.covers_for,  # a cover's own tail still covers
                )
            )
            shift.end = taken_from
        elif before:
            shift.end = taken_from
        elif after:
            shift.start = taken_to
        else:
            session.delete(shift)
        covering.append(
            DutyShift(expert_id=cover.id, start=taken_from, end=taken_to, covers_for=absent.id)
        )
    session.add_all(covering)
    session.flush()
    when = pieces_text(covering, tz)
    send_text(
        session,
        openid=absent.openid,
        now=now,
        purpose="notify",
        content=texts.SWAP_TO_ABSENT.format(when=when, cover=texts.expert_title(cover.name)),
    )
    send_text(
        session,
        openid=cover.openid,
        now=now,
        purpose="notify",
        content=texts.SWAP_TO_COVER.format(when=when, absent=texts.expert_title(absent.name)),
    )
    leaders = session.exec(
        select(Expert).where(
            col(Expert.leader), col(Expert.active), col(Expert.id).not_in([absent.id, cover.id])
        )
    ).all()
    same_team = [e for e in leaders if e.team == absent.team] or list(leaders)
    for leader in same_team:
        send_text(
            session,
            openid=leader.openid,
            now=now,
            purpose="notify",
            content=texts.SWAP_TO_LEADER.format(
                when=when, cover=cover.name, absent=absent.name, by=arranged_by
            ),
        )
    return covering
