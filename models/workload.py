"""How much each expert is carrying: open cases now, what they accepted and visited
this week and month, how fast they accept, what farmers said, and who is on duty.

Read for the console's experts page and dashboard; every figure is one grouped query
over indexed columns (offer.answered_at, request_event.at, survey.created_at), so the
page costs the same for a county's month as for a province's year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, FunctionElement, case, func
from sqlalchemy import select as select_columns
from sqlalchemy.ext.compiler import compiles
from sqlmodel import Session, col, select

from models.experts import WORKING_STATUSES, on_duty_expert_ids
from models.tables import Expert, HelpRequest, Offer, RequestEvent, Survey


@dataclass(frozen=True)
class Load:
    """One expert's load and record of the current week and month."""

    expert: Expert
    on_duty: bool
    open_now: int  # accepted or visit booked, not yet visited
    waiting: int  # offers waiting for their answer
    accepted_week: int
    accepted_month: int
    visited_week: int
    visited_month: int
    median_minutes_to_accept: float | None  # this month
    surveys: int  # answered this month
    solved: int
    mean_rating: float | None

    @property
    def solved_rate(self) -> float | None:
        return self.solved / self.surveys if self.surveys else None


def week_and_month(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The start of this week (Monday) and of this month, local midnight."""
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    first = date(today.year, today.month, 1)
    return datetime.combine(monday, time(), tz), datetime.combine(first, time(), tz)


def expert_loads(
    session: Session, *, now: datetime, tz: ZoneInfo, active_only: bool = False
) -> list[Load]:
    """Every expert's load, the busiest (most open cases) first."""
    week, month = week_and_month(now, tz)
    since = min(week, month)
    statement = select(Expert)
    if active_only:
        statement = statement.where(col(Expert.active))
    experts = list(session.exec(statement))
    on_duty = on_duty_expert_ids(session=session, now=now)
    open_now = dict(
        session.execute(
            select_columns(col(HelpRequest.expert_id), func.count())
            .where(col(HelpRequest.status).in_(WORKING_STATUSES))
            .group_by(col(HelpRequest.expert_id))
        ).all()
    )
    waiting = dict(
        session.execute(
            select_columns(col(Offer.expert_id), func.count())
            .where(col(Offer.status) == "pending")
            .group_by(col(Offer.expert_id))
        ).all()
    )
    accepted: dict[int, tuple[int, int]] = {
        expert_id: (int(in_week or 0), int(in_month or 0))
        for expert_id, in_week, in_month in session.execute(
            select_columns(
                col(Offer.expert_id),
                func.sum(case((col(Offer.answered_at) >= week, 1), else_=0)),
                func.sum(case((col(Offer.answered_at) >= month, 1), else_=0)),
            )
            .where(*_accepted_between(since, now))
            .group_by(col(Offer.expert_id))
        )
    }
    minutes = median_minutes_to_accept(session, since=month, now=now)
    visited: dict[str, tuple[int, int]] = {}
    for actor, in_week, in_month in session.execute(
        select_columns(
            col(RequestEvent.actor),
            func.sum(case((col(RequestEvent.at) >= week, 1), else_=0)),
            func.sum(case((col(RequestEvent.at) >= month, 1), else_=0)),
        )
        .where(
            col(RequestEvent.at) >= since,
            col(RequestEvent.at) <= now,
            col(RequestEvent.to_status) == "visited",
            func.coalesce(col(RequestEvent.from_status), "") != "visited",
            col(RequestEvent.actor).startswith("expert:"),
        )
        .group_by(col(RequestEvent.actor))
    ):
        visited[actor] = (int(in_week or 0), int(in_month or 0))
    surveyed: dict[int, tuple[int, int, float | None]] = {}
    for expert_id, answered, solved, rating in session.execute(
        select_columns(
            col(Survey.expert_id),
            func.count(col(Survey.solved)),
            func.sum(case((col(Survey.solved) == "yes", 1), else_=0)),
            func.avg(col(Survey.rating)),
        )
        .where(col(Survey.created_at) >= month, col(Survey.solved).is_not(None))
        .group_by(col(Survey.expert_id))
    ):
        surveyed[expert_id] = (int(answered), int(solved or 0), rating)
    loads = []
    for expert in experts:
        assert expert.id is not None
        answered, solved, rating = surveyed.get(expert.id, (0, 0, None))
        loads.append(
            Load(
                expert=expert,
                on_duty=expert.id in on_duty,
                open_now=int(open_now.get(expert.id, 0)),
                waiting=int(waiting.get(expert.id, 0)),
                accepted_week=accepted.get(expert.id, (0, 0))[0],
                accepted_month=accepted.get(expert.id, (0, 0))[1],
                visited_week=visited.get(f"expert:{expert.openid}", (0, 0))[0],
                visited_month=visited.get(f"expert:{expert.openid}", (0, 0))[1],
                median_minutes_to_accept=minutes.get(expert.id),
                surveys=answered,
                solved=solved,
                mean_rating=float(rating) if rating is not None else None,
            )
        )
    return sorted(loads, key=lambda load: (-load.open_now, -load.waiting, load.expert.name))


def _accepted_between(since: datetime, now: datetime) -> tuple[Any, ...]:
    """Offers accepted from `since` up to `now`."""
    return (
        col(Offer.answered_at) >= since,
        col(Offer.answered_at) <= now,
        col(Offer.status) == "accepted",
    )


class minutes_between(FunctionElement[float]):
    """The minutes from one timestamp to a later one, in SQL (PostgreSQL and SQLite)."""

    type = Float()
    inherit_cache = True
    name = "minutes_between"


@compiles(minutes_between)
def _minutes_in_sqlite(element: minutes_between, compiler: Any, **kw: Any) -> str:
    # julianday keeps milliseconds, in a float of days: the difference is rounded to
    # whole milliseconds, or 37.5 minutes would come out 37.49999977 (and show as 37).
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(ROUND((julianday({end}) - julianday({start})) * 86400000.0) / 60000.0)"


@compiles(minutes_between, "postgresql")
def _minutes_in_postgresql(element: minutes_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)"


def median_minutes_to_accept(
    session: Session, *, since: datetime, now: datetime
) -> dict[int, float]:
    """Each expert's median minutes from an offer to its acceptance, of the offers they
    accepted since `since`: worked out by the database (the middle one or two of each
    expert's, ranked), so that a province's month is not read row by row."""
    taken = minutes_between(col(Offer.offered_at), col(Offer.answered_at))
    ranked = (
        select_columns(
            col(Offer.expert_id).label("expert_id"),
            taken.label("minutes"),
            func.row_number()
            .over(partition_by=col(Offer.expert_id), order_by=taken)
            .label("place"),
            func.count().over(partition_by=col(Offer.expert_id)).label("accepted"),
        )
        .where(*_accepted_between(since, now))
        .subquery()
    )
    middle = ranked.c.place.between((ranked.c.accepted + 1) // 2, (ranked.c.accepted + 2) // 2)
    return {
        expert_id: float(median)
        for expert_id, median in session.execute(
            select_columns(ranked.c.expert_id, func.avg(ranked.c.minutes))
            .where(middle)
            .group_by(ranked.c.expert_id)
        )
    }


def busiest_and_idle(loads: list[Load], *, most: int = 3) -> tuple[list[Load], list[Load]]:
    """The active experts carrying most now, and those on duty with nothing in hand."""
    active = [load for load in loads if load.expert.active]
    busiest = [load for load in active if load.open_now + load.waiting > 0][:most]
    idle = [load for load in active if load.on_duty and load.open_now + load.waiting == 0]
    return busiest, idle
