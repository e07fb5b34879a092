"""The monthly dispatch report (月度调度表): last month's figures per county and per team.

Definitions (month boundaries in the local time zone):
- requests: help requests confirmed in the month (intake finished);
- visits / expert_visits (人次): visits recorded in the month, one per expert visit
  (every round of a reopened request counts; the team is the visiting expert's);
- experts: distinct experts who visited; farmers_served: distinct farmers visited;
- villages_covered: distinct places (the village when known) of those visits;
- median_hours_to_accept / _to_visit: from confirmation to acceptance (the latest) /
  to each visit, over requests accepted / visits recorded in the month;
- survey_response_rate: surveys sent in the month that got an answer, over those sent;
- share_solved: answered surveys saying "solved", over answered surveys;
- mean_rating: mean of the ratings given to surveys sent in the month;
- consultations: colleagues invited to consult (会诊) in the month, for the inviting
  expert's team.
A request counts for the county of its place and the team of its expert.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, or_, select

from handlers.routing import PlaceParts, place_parts
from models.tables import Consultation, Expert, HelpRequest, Offer, RequestEvent, Survey

UNKNOWN_COUNTY = "未知县区"
UNASSIGNED_TEAM = "未派单"
FIGURES = (
    "requests",
    "visits",
    "expert_visits",
    "experts",
    "farmers_served",
    "villages_covered",
    "median_hours_to_accept",
    "median_hours_to_visit",
    "surveys_sent",
    "survey_response_rate",
    "share_solved",
    "mean_rating",
    "consultations",
)


@dataclass
class _Bucket:
    requests: int = 0
    visits: int = 0
    experts: set[int] = field(default_factory=set)
    farmers: set[int] = field(default_factory=set)
    villages: set[str] = field(default_factory=set)
    hours_to_accept: list[float] = field(default_factory=list)
    hours_to_visit: list[float] = field(default_factory=list)
    surveys_sent: int = 0
    surveys_answered: int = 0
    solved: int = 0
    ratings: list[int] = field(default_factory=list)
    consultations: int = 0

    def figures(self) -> dict[str, Any]:
        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 2) if values else None

        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "requests": self.requests,
            "visits": self.visits,
            "expert_visits": self.visits,
            "experts": len(self.experts),
            "farmers_served": len(self.farmers),
            "villages_covered": len(self.villages),
            "median_hours_to_accept": median(self.hours_to_accept),
            "median_hours_to_visit": median(self.hours_to_visit),
            "surveys_sent": self.surveys_sent,
            "survey_response_rate": share(self.surveys_answered, self.surveys_sent),
            "share_solved": share(self.solved, self.surveys_answered),
            "mean_rating": round(statistics.mean(self.ratings), 2) if self.ratings else None,
            "consultations": self.consultations,
        }


# A visit is the step into "visited": notes and invitations after it keep the status.
ENTERS_VISITED = or_(
    col(RequestEvent.from_status).is_(None), col(RequestEvent.from_status) != "visited"
)


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the start and end (exclusive) of a month like "2026-10" in `tz`."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime.combine(date(year, number, 1), time(), tz)
    end = datetime.combine(date(year + number // 12, number % 12 + 1, 1), time(), tz)
    return start, end


def previous_month(now: datetime, tz: ZoneInfo) -> str:
    """Return last month as "YYYY-MM", seen from `now` in `tz`."""
    local = now.astimezone(tz)
    year, number = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{number:02d}"


class _Places:
    """Requests' places as the report names them, each distinct one resolved once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[tuple[str | None, str | None, str | None], PlaceParts] = {}

    def of(self, village: str | None, township: str | None, place: str | None) -> PlaceParts:
        key = (village, township, place)
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = place_parts(
                self.session, village=village, township=township, place=place
            )
        return found


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return and_(col(column) >= start, col(column) < end)


# What the report reads of a request (never the whole row: a province has a million).
_R = HelpRequest
_PLACE = (col(_R.village), col(_R.township), col(_R.place))


def compute_month(
    session: Session, month: str, tz: ZoneInfo
) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (scope, name, figures) rows: one "total", then per county and per team.

    Reads only the month's requests, visits, consultations and surveys, as columns."""
    start, end = month_bounds(month, tz)

    def within(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    experts = list(session.exec(select(Expert)))
    teams = {expert.id: expert.team or UNASSIGNED_TEAM for expert in experts}
    expert_by_openid = {expert.openid: expert for expert in experts}
    by_id = {expert.id: expert for expert in experts}
    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    buckets[("total", "合计")] = _Bucket()
    places = _Places(session)

    def county(village: str | None, township: str | None, place: str | None) -> str:
        return places.of(village, township, place).county or UNKNOWN_COUNTY

    for expert_id, confirmed, accepted, *where in session.execute(
        select_columns(col(_R.expert_id), col(_R.confirmed_at), col(_R.accepted_at), *_PLACE).where(
            or_(_in(_R.confirmed_at, start, end), _in(_R.accepted_at, start, end))
        )
    ):
        keys = [
            ("total", "合计"),
            ("county", county(*where)),
            ("team", teams.get(expert_id, UNASSIGNED_TEAM)),
        ]
        confirmed_now = within(confirmed)
        hours = (
            (accepted - confirmed).total_seconds() / 3600
            if confirmed and accepted and within(accepted)
            else None
        )
        for key in keys:
            bucket = buckets[key]
            bucket.requests += confirmed_now
            if hours is not None:
                bucket.hours_to_accept.append(hours)
    # Every recorded visit counts, reopened rounds included: one "visited" event each.
    for at, actor, farmer_id, confirmed, village, township, place in session.execute(
        select_columns(
            col(RequestEvent.at), col(RequestEvent.actor), col(_R.farmer_id),
            col(_R.confirmed_at), *_PLACE,
        )
        .join(_R, col(_R.id) == col(RequestEvent.request_id))
        .where(
            col(RequestEvent.to_status) == "visited",
            ENTERS_VISITED,
            _in(RequestEvent.at, start, end),
        )
    ):  # fmt: skip
        visitor = expert_by_openid.get(actor.removeprefix("expert:"))
        parts = places.of(village, township, place)
        keys = [
            ("total", "合计"),
            ("county", parts.county or UNKNOWN_COUNTY),
            ("team", (visitor.team or UNASSIGNED_TEAM) if visitor else UNASSIGNED_TEAM),
        ]
        for key in keys:
            bucket = buckets[key]
            bucket.visits += 1
            if visitor is not None and visitor.id is not None:
                bucket.experts.add(visitor.id)
            bucket.farmers.add(farmer_id)
            bucket.villages.add(parts.village or place or "未说明")
            if confirmed:
                bucket.hours_to_visit.append((at - confirmed).total_seconds() / 3600)
    # Consultations (会诊): colleagues invited in the month, for the inviting expert's team.
    for invited_by, *where in session.execute(
        select_columns(col(Consultation.invited_by), *_PLACE)
        .join(_R, col(_R.id) == col(Consultation.request_id))
        .where(_in(Consultation.invited_at, start, end))
    ):
        inviter = by_id.get(invited_by)
        for key in (
            ("total", "合计"),
            ("county", county(*where)),
            ("team", (inviter.team or UNASSIGNED_TEAM) if inviter else UNASSIGNED_TEAM),
        ):
            buckets[key].consultations += 1
    for expert_id, solved, rating, *where in session.execute(
        select_columns(col(Survey.expert_id), col(Survey.solved), col(Survey.rating), *_PLACE)
        .join(_R, col(_R.id) == col(Survey.request_id))
        .where(_in(Survey.sent_at, start, end))
    ):
        keys = [
            ("total", "合计"),
            ("county", county(*where)),
            ("team", teams.get(expert_id, UNASSIGNED_TEAM)),
        ]
        for key in keys:
            bucket = buckets[key]
            bucket.surveys_sent += 1
            if solved is not None:
                bucket.surveys_answered += 1
                bucket.solved += solved == "yes"
            if rating is not None:
                bucket.ratings.append(rating)
    order = {"total": 0, "county": 1, "team": 2}
    rows = [
        (scope, name, bucket.figures())
        for (scope, name), bucket in buckets.items()
        if any(bucket.figures()[f] for f in ("requests", "visits", "surveys_sent"))
        or scope == "total"
    ]
    return sorted(rows, key=lambda row: (order[row[0]], row[1]))


OFFER_COLUMNS = {"accepted": "taken", "declined": "declined", "timed_out": "timed_out"}


@dataclass
class MonthDetails:
    """What the report page draws, beyond the dispatch table's figures."""

    month: str
    per_day: list[tuple[date, int]]
    by_category: list[tuple[str, int]]
    by_township: list[tuple[str, int]]
    hours_to_accept: dict[str, float | None]
    hours_to_visit: dict[str, float | None]
    surveys_unanswered: int
    experts: list[dict[str, Any]]
    teams: list[dict[str, Any]]


def percentile(values: list[float], share: float) -> float | None:
    """The `share` percentile (0.9 → 90th) by nearest rank; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, min(len(ordered) - 1, int(share * len(ordered) + 0.5) - 1))], 2)


def month_details(session: Session, month: str, tz: ZoneInfo) -> MonthDetails:
    """Per day, category, township, expert and team, for the report page and its XLSX."""
    start, end = month_bounds(month, tz)
    days: dict[date, int] = defaultdict(int)
    categories: dict[str, int] = defaultdict(int)
    townships: dict[str, int] = defaultdict(int)
    accept, visit = [], []
    places = _Places(session)
    for confirmed, category, *where in session.execute(
        select_columns(col(_R.confirmed_at), col(_R.category), *_PLACE).where(
            _in(_R.confirmed_at, start, end)
        )
    ):
        days[confirmed.astimezone(tz).date()] += 1
        categories[category] += 1
        townships[places.of(*where).township or "未知乡镇"] += 1
    for confirmed, accepted in session.execute(
        select_columns(col(_R.confirmed_at), col(_R.accepted_at)).where(
            _in(_R.accepted_at, start, end)
        )
    ):
        if confirmed and accepted:
            accept.append((accepted - confirmed).total_seconds() / 3600)
    experts = {e.id: e for e in session.exec(select(Expert))}
    by_openid = {e.openid: e for e in experts.values()}
    people: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"taken": 0, "declined": 0, "timed_out": 0, "visits": 0, "ratings": []}
    )
    for expert_id, status in session.execute(
        select_columns(col(Offer.expert_id), col(Offer.status)).where(
            _in(Offer.answered_at, start, end),
            col(Offer.status).in_(("accepted", "declined", "timed_out")),
        )
    ):
        people[expert_id][OFFER_COLUMNS[status]] += 1
    # A visit is the step into "visited" (notes and invitations after it keep the status).
    for at, actor, confirmed in session.execute(
        select_columns(col(RequestEvent.at), col(RequestEvent.actor), col(_R.confirmed_at))
        .join(_R, col(_R.id) == col(RequestEvent.request_id))
        .where(
            col(RequestEvent.to_status) == "visited",
            ENTERS_VISITED,
            _in(RequestEvent.at, start, end),
        )
    ):
        visitor = by_openid.get(actor.removeprefix("expert:"))
        if visitor is not None and visitor.id is not None:
            people[visitor.id]["visits"] += 1
            if confirmed is not None:
                visit.append((at - confirmed).total_seconds() / 3600)
    unanswered = 0
    for expert_id, solved, rating in session.execute(
        select_columns(col(Survey.expert_id), col(Survey.solved), col(Survey.rating)).where(
            _in(Survey.sent_at, start, end)
        )
    ):
        if solved is None:
            unanswered += 1
        if rating is not None and expert_id is not None:
            people[expert_id]["ratings"].append(rating)
    rows = []
    for expert_id, counts in people.items():
        expert = experts.get(expert_id)
        ratings = counts.pop("ratings")
        rows.append(
            {
                "name": expert.name if expert else "?",
                "team": (expert.team if expert else "") or UNASSIGNED_TEAM,
                **counts,
                "rating": round(statistics.mean(ratings), 2) if ratings else None,
                "_ratings": ratings,
            }
        )
    teams: dict[str, dict[str, Any]] = {}
    for row in rows:
        team = teams.setdefault(
            row["team"],
            {"name": row["team"], "taken": 0, "declined": 0, "timed_out": 0, "visits": 0, "_r": []},
        )
        for key in ("taken", "declined", "timed_out", "visits"):
            team[key] += row[key]
        team["_r"].extend(row.pop("_ratings"))
    for team in teams.values():
        ratings = team.pop("_r")
        team["rating"] = round(statistics.mean(ratings), 2) if ratings else None
    every_day = [start.date() + timedelta(days=n) for n in range((end - start).days)]
    return MonthDetails(
        month=month,
        per_day=[(day, days.get(day, 0)) for day in every_day],
        by_category=sorted(categories.items(), key=lambda item: -item[1]),
        by_township=sorted(townships.items(), key=lambda item: -item[1]),
        hours_to_accept={"median": _median(accept), "p90": percentile(accept, 0.9)},
        hours_to_visit={"median": _median(visit), "p90": percentile(visit, 0.9)},
        surveys_unanswered=unanswered,
        experts=sorted(rows, key=lambda row: (-row["visits"], row["name"])),
        teams=sorted(teams.values(), key=lambda team: -team["visits"]),
    )


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None
