"""The expert's service record (专家服务记录); handlers/scores.py scores and ranks them.

The county programmes count an expert's time with farmers toward title applications
and annual reviews, and score experts on volume and results. Everything such a record
needs is already in the tables: offers accepted and declined (with reasons), visits
recorded and their booked times, remote advice, consultation notes for colleagues,
the farmers and villages served, surveys (solved, rating, the farmers' words), rounds
reopened, and complaints staff upheld. Records are computed for any set of experts and
any period in a handful of queries, so a year for every expert of a province stays
quick (bench/service_records.py).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, distinct, func, literal, not_, union
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, or_, select

from models.tables import Consultation, Expert, HelpRequest, Offer, RequestEvent, Survey

REMOTE_NOTES = ("电话指导", "远程指导")
CONSULT_PREFIX = "会诊："
BOOKING_PREFIX = "预约 "
# A survey that says the problem was not solved, or rates the service 1 or 2, is a
# complaint for staff to look into (upheld or dismissed on the console).
COMPLAINT_RATING = 2
COMPLAINT_VERDICTS = {"upheld": "属实", "dismissed": "不属实"}


class PeriodError(ValueError):
    """A period that cannot be read, said in Chinese."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str  # as printed: 2026 年第 4 季度


def read_period(text: str | None, tz: ZoneInfo, *, today: date) -> Period:
    """A month (2026-11), a quarter (2026-Q4), a year (2026) or dates
    (2026-10-01..2026-12-31, both days included); empty: this quarter so far."""
    text = (text or "").strip()
    if not text:
        quarter = (today.month - 1) // 3 + 1
        text = f"{today.year}-Q{quarter}"

    def at(day: date) -> datetime:
        return datetime.combine(day, time(), tz)

    written = re.match(r"\d{4}", text)
    if written and not 2000 <= int(written.group()) <= 2099:
        raise PeriodError("年份要在 2000 到 2099 之间")

    if found := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
        year, quarter = int(found[1]), int(found[2])
        first = date(year, 3 * quarter - 2, 1)
        last = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
        return Period(at(first), at(last), f"{year} 年第 {quarter} 季度")
    if found := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        year, month = int(found[1]), int(found[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"没有 {month} 月")
        following = date(year + (month == 12), month % 12 + 1, 1)
        return Period(at(date(year, month, 1)), at(following), f"{year} 年 {month} 月")
    if found := re.fullmatch(r"(\d{4})", text):
        year = int(found[1])
        return Period(at(date(year, 1, 1)), at(date(year + 1, 1, 1)), f"{year} 年")
    if found := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*(?:\.\.|~|至|到)\s*(\d{4}-\d{2}-\d{2})", text):
        try:
            first, last = date.fromisoformat(found[1]), date.fromisoformat(found[2])
        except ValueError as error:
            raise PeriodError("日期写得不对") from error
        if last < first:
            raise PeriodError("结束日期在开始日期之前")
        return Period(at(first), at(last + timedelta(days=1)), f"{first} 至 {last}")
    raise PeriodError(
        "期间写成 2026-11（月）、2026-Q4（季度）、2026（年）或 2026-10-01..2026-12-31"
    )


@dataclass(frozen=True)
class VisitRow:
    code: str
    village: str
    booked: str  # the time booked, as the booking said it (预约 11-03 09:00), or ""
    visited_at: datetime


@dataclass
class ServiceRecord:
    """One expert's service in one period."""

    expert: Expert
    accepted: int = 0
    minutes_to_accept: list[float] = field(default_factory=list)
    visits: list[VisitRow] = field(default_factory=list)
    remote: list[tuple[str, str, datetime]] = field(default_factory=list)  # code, mode, when
    consultations: list[tuple[str, datetime]] = field(default_factory=list)  # code, when
    declines: list[tuple[str, str, datetime]] = field(default_factory=list)  # code, reason
    farmer_ids: set[int] = field(default_factory=set)
    villages: list[str] = field(default_factory=list)
    surveys_answered: int = 0
    solved: dict[str, int] = field(default_factory=lambda: {"yes": 0, "partly": 0, "no": 0})
    ratings: list[int] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    reopened: int = 0
    complaints: int = 0  # surveys that complained (not solved, or rated 1–2)
    complaints_upheld: int = 0

    @property
    def services(self) -> int:
        """Visits, remote advice and consultations: what the volume part counts."""
        return len(self.visits) + len(self.remote) + len(self.consultations)

    @property
    def median_minutes_to_accept(self) -> float | None:
        values = self.minutes_to_accept
        return round(statistics.median(values), 1) if values else None

    @property
    def solved_rate(self) -> float | None:
        """Share of answered surveys that said solved."""
        return self.solved["yes"] / self.surveys_answered if self.surveys_answered else None

    @property
    def mean_rating(self) -> float | None:
        return round(statistics.mean(self.ratings), 2) if self.ratings else None


def service_records(
    session: Session, period: Period, *, expert_ids: list[int] | None = None
) -> dict[int, ServiceRecord]:
    """The service records of these experts (every expert when None) in the period."""
    statement = select(Expert)
    if expert_ids is not None:
        statement = statement.where(col(Expert.id).in_(expert_ids))
    experts = {e.id: e for e in session.exec(statement) if e.id is not None}
    records = {expert_id: ServiceRecord(expert) for expert_id, expert in experts.items()}
    by_openid = {f"expert:{e.openid}": expert_id for expert_id, e in experts.items()}
    start, end = period.start, period.end
    # Everything below reads plain columns, and reaches the requests through subqueries
    # (never a list of ids): a province's year is hundreds of thousands of rows.
    answered = [
        col(Offer.answered_at) >= start,
        col(Offer.answered_at) < end,
        col(Offer.status).in_(("accepted", "declined")),
    ]
    said = [
        col(RequestEvent.at) >= start,
        col(RequestEvent.at) < end,
        col(RequestEvent.actor).startswith("expert:"),
        or_(
            col(RequestEvent.to_status) == "visited",
            col(RequestEvent.note).in_(REMOTE_NOTES),
            col(RequestEvent.note).startswith(CONSULT_PREFIX),
        ),
    ]
    if expert_ids is not None:
        answered.append(col(Offer.expert_id).in_(list(experts)))
        said.append(col(RequestEvent.actor).in_(list(by_openid)))
    offers = session.execute(
        select_columns(
            col(Offer.expert_id), col(Offer.request_id), col(Offer.status),
            col(Offer.offered_at), col(Offer.answered_at), col(Offer.reason),
        ).where(*answered)
    ).all()  # fmt: skip
    events = session.execute(
        select_columns(
            col(RequestEvent.request_id), col(RequestEvent.at), col(RequestEvent.actor),
            col(RequestEvent.from_status), col(RequestEvent.to_status), col(RequestEvent.note),
        ).where(*said)
    ).all()  # fmt: skip
    event_requests = select(RequestEvent.request_id).where(*said)
    declined_requests = select(Offer.request_id).where(*answered, Offer.status == "declined")
    requests = {
        request_id: (code or "?", farmer_id, village or township or place or "")
        for request_id, code, farmer_id, village, township, place in session.execute(
            select_columns(
                col(HelpRequest.id), col(HelpRequest.code), col(HelpRequest.farmer_id),
                col(HelpRequest.village), col(HelpRequest.township), col(HelpRequest.place),
            ).where(
                # One IN of a UNION: an OR of two INs reads every request.
                col(HelpRequest.id).in_(union(event_requests, declined_requests))
            )
        )
    }  # fmt: skip
    invited = set(
        session.exec(
            select(Consultation.request_id, Consultation.expert_id).where(
                col(Consultation.request_id).in_(event_requests)
            )
        ).all()
    )
    visited_requests = select(RequestEvent.request_id).where(
        *said, RequestEvent.to_status == "visited"
    )
    # Bookings are the 预约 events themselves (notes and invitations keep the status).
    bookings: dict[tuple[int, str], list[tuple[datetime, str]]] = defaultdict(list)
    for request_id, actor, booked_at, note in session.exec(
        select(
            RequestEvent.request_id, RequestEvent.actor, RequestEvent.at, RequestEvent.note
        ).where(
            RequestEvent.to_status == "visit_booked",
            col(RequestEvent.note).startswith(BOOKING_PREFIX),
            col(RequestEvent.request_id).in_(visited_requests),
        )
    ):
        bookings[(request_id, actor)].append((booked_at, note))
    # Earlier visits of the same expert to the same request (a later round's booking
    # is not the earlier one's).
    earlier: dict[tuple[int, str], datetime] = {}

    for expert_id, request_id, status, offered_at, answered_at, reason in offers:
        record = records.get(expert_id)
        if record is None or answered_at is None:
            continue
        if status == "accepted":
            record.accepted += 1
            record.minutes_to_accept.append((answered_at - offered_at).total_seconds() / 60)
        else:
            code = requests.get(request_id, ("?", 0, ""))[0]
            record.declines.append((code, reason, answered_at))
    villages: dict[int, dict[str, None]] = defaultdict(dict)
    counted: set[tuple[int, int, str]] = set()  # one remote advice or consultation a case
    for request_id, at, actor, from_status, to_status, note in sorted(events, key=lambda e: e[1]):
        expert_id = by_openid.get(actor)
        if expert_id is None:
            continue
        record = records[expert_id]
        code, farmer_id, where = requests.get(request_id, ("?", 0, ""))
        if to_status == "visited" and from_status != "visited":
            since = earlier.get((request_id, actor))
            booked = [
                b
                for b in bookings[(request_id, actor)]
                if b[0] <= at and (not since or b[0] > since)
            ]
            booked_note = max(booked)[1] if booked else ""
            earlier[(request_id, actor)] = at
            record.visits.append(VisitRow(code, where, booked_note, at))
        elif note in REMOTE_NOTES:
            if (expert_id, request_id, "remote") in counted:
                continue
            counted.add((expert_id, request_id, "remote"))
            record.remote.append((code, note, at))
        elif note.startswith(CONSULT_PREFIX) and (request_id, expert_id) in invited:
            if (expert_id, request_id, "consult") not in counted:
                counted.add((expert_id, request_id, "consult"))
                record.consultations.append((code, at))
            continue  # a colleague's farmer: served by the holder
        else:
            continue  # the holder's own note, or a note after the visit
        if farmer_id:
            record.farmer_ids.add(farmer_id)
        if where:
            villages[expert_id][where] = None
    for expert_id, places in villages.items():
        records[expert_id].villages = list(places)

    surveys = [
        col(Survey.created_at) >= start,
        col(Survey.created_at) < end,
    ]
    if expert_ids is not None:
        surveys.append(col(Survey.expert_id).in_(list(experts)))
    for expert_id, solved, rating, comment, complaint, reopened in session.execute(
        select_columns(
            col(Survey.expert_id), col(Survey.solved), col(Survey.rating),
            col(Survey.comment), col(Survey.complaint), col(Survey.reopened),
        ).where(*surveys).order_by(col(Survey.id))
    ):  # fmt: skip
        found = records.get(expert_id or 0)
        if found is None:
            continue
        if solved is not None:
            found.surveys_answered += 1
            found.solved[solved] = found.solved.get(solved, 0) + 1
        if rating is not None:
            found.ratings.append(rating)
        if comment:
            found.words.append(comment)
        if reopened and complaint != "dismissed":
            # Reopened for another expert; staff finding the complaint unfounded clears it.
            found.reopened += 1
        if complains(solved, rating):
            found.complaints += 1
            found.complaints_upheld += complaint == "upheld"
    return records


def services_by_expert(session: Session, period: Period) -> dict[int, int]:
    """Each expert's services in the period (ServiceRecord.services), counted by the
    database: what one expert's page needs of everyone else's (the busiest expert's
    count scales the volume part) without reading every expert's year.

    Two grouped counts: the visits (most of the events: counted by actor, no request
    told apart), and the few remote guidances and consultations, each request once."""
    expert_actor = literal("expert:") + col(Expert.openid)
    in_period = (
        col(RequestEvent.at) >= period.start,
        col(RequestEvent.at) < period.end,
        col(RequestEvent.actor).startswith("expert:"),
    )
    visit = and_(
        col(RequestEvent.to_status) == "visited",
        col(RequestEvent.from_status).is_distinct_from("visited"),
    )
    visits = (
        select_columns(col(RequestEvent.actor).label("actor"), func.count().label("visits"))
        .where(*in_period, visit)
        .group_by(col(RequestEvent.actor))
        .subquery()
    )
    counted = {
        int(expert_id): int(services)
        for expert_id, services in session.execute(
            select_columns(col(Expert.id), visits.c.visits).join(
                visits, visits.c.actor == expert_actor
            )
        )
    }
    remote = col(RequestEvent.note).in_(REMOTE_NOTES)
    invited = (
        select(Consultation.id)
        .where(
            Consultation.request_id == RequestEvent.request_id,
            Consultation.expert_id == Expert.id,
        )
        .exists()
    )
    consult = and_(not_(remote), col(RequestEvent.note).startswith(CONSULT_PREFIX), invited)
    guided = session.execute(
        select_columns(
            col(Expert.id),
            func.count(distinct(case((remote, RequestEvent.request_id))))
            + func.count(distinct(case((consult, RequestEvent.request_id)))),
        )
        .join(RequestEvent, col(RequestEvent.actor) == expert_actor)
        .where(
            *in_period,
            not_(visit),
            or_(remote, col(RequestEvent.note).startswith(CONSULT_PREFIX)),
        )
        .group_by(col(Expert.id))
    )
    for expert_id, services in guided:
        counted[int(expert_id)] = counted.get(int(expert_id), 0) + int(services)
    return {expert_id: services for expert_id, services in counted.items() if services}


def is_complaint(survey: Survey) -> bool:
    """Whether a survey answer complains: not solved, or a rating of 1 or 2."""
    return complains(survey.solved, survey.rating)


def complains(solved: str | None, rating: int | None) -> bool:
    """Not solved, or a rating of 1 or 2."""
    return solved == "no" or (rating is not None and rating <= COMPLAINT_RATING)
