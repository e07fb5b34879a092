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

from sqlmodel import Session, col, or_, select

from handlers.routing import place_of
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


def compute_month(
    session: Session, month: str, tz: ZoneInfo
) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (scope, name, figures) rows: one "total", then per county and per team."""
    start, end = month_bounds(month, tz)

    def within(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    teams = {expert.id: expert.team or UNASSIGNED_TEAM for expert in session.exec(select(Expert))}
    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    requests = {r.id: r for r in session.exec(select(HelpRequest))}
    counties: dict[int | None, str] = {}
    for request in requests.values():
        parts = place_of(session, request)
        counties[request.id] = parts.county or UNKNOWN_COUNTY
        keys = [
            ("total", "合计"),
            ("county", counties[request.id]),
            ("team", teams.get(request.expert_id, UNASSIGNED_TEAM)),
        ]
        for key in keys:
            bucket = buckets[key]
            confirmed = request.confirmed_at
            if within(confirmed):
                bucket.requests += 1
            if within(request.accepted_at) and confirmed and request.accepted_at:
                bucket.hours_to_accept.append(
                    (request.accepted_at - confirmed).total_seconds() / 3600
                )
    # Every recorded visit counts, reopened rounds included: one "visited" event each.
    expert_by_openid = {expert.openid: expert for expert in session.exec(select(Expert))}
    visited = select(RequestEvent).where(RequestEvent.to_status == "visited", ENTERS_VISITED)
    for event in session.exec(visited):
        visit = requests.get(event.request_id)
        if visit is None or not within(event.at):
            continue
        visitor = expert_by_openid.get(event.actor.removeprefix("expert:"))
        parts = place_of(session, visit)
        keys = [
            ("total", "合计"),
            ("county", counties[visit.id]),
            ("team", (visitor.team or UNASSIGNED_TEAM) if visitor else UNASSIGNED_TEAM),
        ]
        for key in keys:
            bucket = buckets[key]
            bucket.visits += 1
            if visitor is not None and visitor.id is not None:
                bucket.experts.add(visitor.id)
            bucket.farmers.add(visit.farmer_id)
            bucket.villages.add(parts.village or visit.place or "未说明")
            if visit.confirmed_at:
                bucket.hours_to_visit.append((event.at - visit.confirmed_at).total_seconds() / 3600)
    # Consultations (会诊): colleagues invited in the month, for the inviting expert's team.
    by_id = {expert.id: expert for expert in expert_by_openid.values()}
    for consultation in session.exec(select(Consultation)):
        consulted = requests.get(consultation.request_id)
        if consulted is None or not within(consultation.invited_at):
            continue
        inviter = by_id.get(consultation.invited_by)
        for key in (
            ("total", "合计"),
            ("county", counties[consulted.id]),
            ("team", (inviter.team or UNASSIGNED_TEAM) if inviter else UNASSIGNED_TEAM),
        ):
            buckets[key].consultations += 1
    for survey in session.exec(select(Survey)):
        if not within(survey.sent_at):
            continue
        surveyed = requests.get(survey.request_id)
        if surveyed is None:
            continue
        keys = [
            ("total", "合计"),
            ("county", counties[surveyed.id]),
            ("team", teams.get(survey.expert_id, UNASSIGNED_TEAM)),
        ]
        for key in keys:
            bucket = buckets[key]
            bucket.surveys_sent += 1
            if survey.solved is not None:
                bucket.surveys_answered += 1
                bucket.solved += survey.solved == "yes"
            if survey.rating is not None:
                bucket.ratings.append(survey.rating)
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

    def within(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    requests = [r for r in session.exec(select(HelpRequest)) if within(r.confirmed_at)]
    days: dict[date, int] = defaultdict(int)
    categories: dict[str, int] = defaultdict(int)
    townships: dict[str, int] = defaultdict(int)
    accept, visit = [], []
    for request in requests:
        assert request.confirmed_at is not None
        days[request.confirmed_at.astimezone(tz).date()] += 1
        categories[request.category] += 1
        townships[place_of(session, request).township or "未知乡镇"] += 1
    for request in session.exec(select(HelpRequest)):
        if within(request.accepted_at) and request.confirmed_at and request.accepted_at:
            accept.append((request.accepted_at - request.confirmed_at).total_seconds() / 3600)
    experts = {e.id: e for e in session.exec(select(Expert))}
    by_openid = {e.openid: e for e in experts.values()}
    people: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"taken": 0, "declined": 0, "timed_out": 0, "visits": 0, "ratings": []}
    )
    for offer in session.exec(select(Offer)):
        if within(offer.answered_at) and offer.status in ("accepted", "declined", "timed_out"):
            people[offer.expert_id][OFFER_COLUMNS[offer.status]] += 1
    confirmed = {r.id: r.confirmed_at for r in session.exec(select(HelpRequest))}
    # A visit is the step into "visited" (notes and invitations after it keep the status).
    for event in session.exec(
        select(RequestEvent).where(RequestEvent.to_status == "visited", ENTERS_VISITED)
    ):
        visitor = by_openid.get(event.actor.removeprefix("expert:"))
        if within(event.at) and visitor is not None and visitor.id is not None:
            people[visitor.id]["visits"] += 1
            started = confirmed.get(event.request_id)
            if started is not None:
                visit.append((event.at - started).total_seconds() / 3600)
    unanswered = 0
    for survey in session.exec(select(Survey)):
        if not within(survey.sent_at):
            continue
        if survey.solved is None:
            unanswered += 1
        if survey.rating is not None and survey.expert_id is not None:
            people[survey.expert_id]["ratings"].append(survey.rating)
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
