"""The monthly report page as one value: computed now, or read from the snapshot the
scheduler stores of a closed month (a province's month takes seconds to go through).

A snapshot is used only for a month that has ended, and only if it was made in this
format, time zone and scoring rule; the page says when it was computed. The scheduler
computes last month's again every night, so answers that come in during the following
month still count; an older month keeps the snapshot of the last night of the month
after it, until `farmhelp report --month …` computes it again (a complaint upheld
later, say).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.outcomes import OUTCOMES, TreatmentResult, treatment_results
from handlers.report import FIGURES, MonthDetails, compute_month, month_bounds, month_details
from handlers.scores import Ranked, ScoreRule, ranking
from handlers.service_record import Period
from models.tables import ReportSnapshot

log = logging.getLogger(__name__)
# Bumped whenever what a snapshot holds changes shape: snapshots of another format are
# computed afresh rather than shown (their months' figures, rows or columns would not
# match the page's).
SNAPSHOT_FORMAT = 1
RANK_HEADER = (
    "名次", "专家", "服务队", "服务次数", "解决率", "平均评分", "重新派单", "属实投诉",
    "服务量分", "效果分", "扣分", "得分",
)  # fmt: skip


@dataclass
class ReportPage:
    """Everything the report page and its spreadsheet show for one month."""

    month: str
    rows: list[tuple[str, str, dict[str, Any]]]  # scope, name, figures
    previous: dict[str, Any]  # the month before's totals
    details: MonthDetails
    treatments: list[TreatmentResult]
    rule: ScoreRule
    ranking: list[list[Any]]  # the ranking's lines, as RANK_HEADER names them
    computed_at: datetime | None = None  # set when read from a snapshot

    @property
    def total(self) -> dict[str, Any]:
        return self.rows[0][2]


def month_before(month: str) -> str:
    """The month before "YYYY-MM"."""
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def rank_row(line: Ranked) -> list[Any]:
    """One line of the ranking, as the report page and its sheet show it."""
    record, score = line.record, line.score
    rate = record.solved_rate
    return [
        line.rank,
        record.expert.name,
        record.expert.team,
        record.services,
        f"{round(rate * 100)}%" if rate is not None else "",
        record.mean_rating or "",
        record.reopened,
        record.complaints_upheld,
        score.volume,
        score.results,
        score.deductions,
        score.total,
    ]


def compute_page(session: Session, month: str, tz: ZoneInfo, rule: ScoreRule) -> ReportPage:
    """Go through the month's rows now."""
    start, end = month_bounds(month, tz)
    return ReportPage(
        month=month,
        rows=compute_month(session, month, tz),
        previous=compute_month(session, month_before(month), tz)[0][2],
        details=month_details(session, month, tz),
        treatments=treatment_results(session, start, end),
        rule=rule,
        ranking=[rank_row(line) for line in ranking(session, Period(start, end, month), rule)],
    )


def report_page(
    session: Session, month: str, tz: ZoneInfo, rule: ScoreRule, *, now: datetime
) -> ReportPage:
    """The month's page: from its snapshot if the month is over and the snapshot was
    made in this format, time zone and rule, computed now otherwise."""
    if month_bounds(month, tz)[1] <= now:
        snapshot = session.get(ReportSnapshot, month)
        page = _read_snapshot(snapshot, tz) if snapshot is not None else None
        if page is not None and snapshot is not None and page.rule == rule:
            page.computed_at = snapshot.computed_at
            return page
    return compute_page(session, month, tz, rule)


def store_snapshot(session: Session, page: ReportPage, tz: ZoneInfo, *, now: datetime) -> None:
    """Keep the page as the month's snapshot, replacing an earlier one."""
    snapshot = session.get(ReportSnapshot, page.month)
    if snapshot is None:
        snapshot = ReportSnapshot(month=page.month)
    snapshot.page = {"format": SNAPSHOT_FORMAT, "tz": tz.key, **_to_json(page)}
    snapshot.computed_at = now
    session.add(snapshot)
    session.flush()


def _read_snapshot(snapshot: ReportSnapshot, tz: ZoneInfo) -> ReportPage | None:
    data = snapshot.page
    if data.get("format") != SNAPSHOT_FORMAT or data.get("tz") != tz.key:
        return None  # made by another version, or for other month bounds
    try:
        return _from_json(data)
    except (KeyError, TypeError, ValueError):
        log.warning("report snapshot of %s cannot be read; computing it now", snapshot.month)
        return None


def _to_json(page: ReportPage) -> dict[str, Any]:
    details = asdict(page.details)
    details["per_day"] = [[day.isoformat(), count] for day, count in page.details.per_day]
    return {
        "month": page.month,
        "rows": [list(row) for row in page.rows],
        "previous": page.previous,
        "details": details,
        "treatments": [asdict(result) for result in page.treatments],
        "rule": asdict(page.rule),
        "ranking": page.ranking,
    }


def _from_json(data: dict[str, Any]) -> ReportPage:
    details = dict(data["details"])
    details["per_day"] = [(date.fromisoformat(day), n) for day, n in details["per_day"]]
    for key in ("by_category", "by_township"):
        details[key] = [tuple(item) for item in details[key]]
    rows = [(scope, name, figures) for scope, name, figures in data["rows"]]
    figures_kept = all(set(FIGURES) <= set(f) for f in [data["previous"], *(r[2] for r in rows)])
    lines_fit = all(len(line) == len(RANK_HEADER) for line in data["ranking"])
    outcomes_kept = all(set(t["counts"]) == set(OUTCOMES) for t in data["treatments"])
    if not (rows and figures_kept and lines_fit and outcomes_kept):
        raise ValueError("the snapshot does not hold what the page shows")
    return ReportPage(
        month=data["month"],
        rows=rows,
        previous=data["previous"],
        details=MonthDetails(**details),
        treatments=[TreatmentResult(**result) for result in data["treatments"]],
        rule=ScoreRule(**data["rule"]),
        ranking=data["ranking"],
    )
