"""The expert's service record as the console and the workbench show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort, flash
from sqlmodel import Session

from bot.files.service_record_export import summary_rows
from handlers.config import Policy
from handlers.scores import Score, ScoreRule, scores
from handlers.service_record import (
    Period,
    PeriodError,
    ServiceRecord,
    read_period,
    service_records,
    services_by_expert,
)
from models.experts import place_book
from models.tables import Expert, utcnow


@dataclass(frozen=True)
class RecordPage:
    """Everything a record's page, its print and its Excel show."""

    record: ServiceRecord
    score: Score
    rule: ScoreRule
    period: Period
    period_text: str
    county: str
    summary: list[tuple[str, object]]
    printed_at: datetime


def county_name(session: Session, config: Policy, expert: Expert | None = None) -> str:
    """The county an expert serves (by their regions in the place hierarchy), for the
    record's heading; the hierarchy's counties when the regions do not tell one."""
    places = place_book(session=session).places
    counties = sorted({p.county for p in places if p.county})
    if expert is not None:
        theirs = {
            p.county
            for region in expert.regions
            for p in places
            if region in (p.county, p.township, p.village)
        }
        if len(theirs) == 1:
            return theirs.pop()
    if len(counties) == 1:
        return counties[0]
    return config.account_name


def record_page(
    session: Session, config: Policy, expert_id: int, period_text: str | None
) -> RecordPage:
    """The record of one expert for the period asked (this quarter when none or unreadable)."""
    today = utcnow().astimezone(config.tz).date()
    try:
        period = read_period(period_text, config.tz, today=today)
    except PeriodError as error:
        flash(str(error), "error")
        period, period_text = read_period("", config.tz, today=today), ""
    records = service_records(session, period, expert_ids=[expert_id])
    if expert_id not in records:
        abort(404)
    rule = ScoreRule.of(config)
    # The volume part is relative to the busiest expert, counted by the database.
    busiest = max(services_by_expert(session, period).values(), default=0)
    scored = scores(records, rule, busiest=busiest)
    record = records[expert_id]
    return RecordPage(
        record=record,
        score=scored[expert_id],
        rule=rule,
        period=period,
        period_text=period_text or "",
        county=county_name(session, config, record.expert),
        summary=summary_rows(record, scored[expert_id], rule),
        printed_at=utcnow(),
    )
