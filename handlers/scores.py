"""The county's transparent score of experts' service records, and the ranking.

Volume (services relative to the busiest expert of the period) plus results (solved
rate and mean rating), minus upheld complaints and reopened rounds; the rule is
printed beside every score. The records come from handlers/service_record.py.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlmodel import Session

from handlers.config import Policy
from handlers.service_record import Period, ServiceRecord, service_records


@dataclass(frozen=True)
class ScoreRule:
    """A county's scoring rule: volume and results parts, deductions."""

    volume: float = 60.0
    results: float = 40.0
    per_complaint: float = 0.5
    per_reopened: float = 0.5

    @classmethod
    def of(cls, config: Policy) -> ScoreRule:
        return cls(
            config.score_volume, config.score_results, config.score_complaint, config.score_reopened
        )

    def formula(self) -> str:
        """The rule as printed beside every score."""
        return (
            f"得分 = 服务量分 {self.volume:g} × 服务次数 ÷ 本期最多的服务次数"
            f" + 效果分 {self.results:g} × (解决率 × 0.5 + (平均评分 − 1) ÷ 4 × 0.5)"
            f" − 属实投诉 × {self.per_complaint:g} − 重新派单 × {self.per_reopened:g}"
            "（服务次数 = 上门 + 电话/远程指导 + 会诊，后两项每个求助算一次；重新派单 = 农户回访"
            "说没解决或打 1、2 分而转给别的专家，投诉核实不属实的不算；没有回访回答的，"
            "效果分为 0；最低 0 分）"
        )


@dataclass(frozen=True)
class Score:
    volume: float
    results: float
    deductions: float
    total: float


def scores(
    records: dict[int, ServiceRecord], rule: ScoreRule, *, busiest: int | None = None
) -> dict[int, Score]:
    """Every record's score under the rule, the volume part relative to the busiest
    expert's services (of these records, unless given)."""
    busiest = max(
        [r.services for r in records.values()] + ([busiest] if busiest is not None else []),
        default=0,
    )
    found = {}
    for expert_id, record in records.items():
        volume = rule.volume * record.services / busiest if busiest else 0.0
        results = 0.0
        if record.surveys_answered and record.solved_rate is not None:
            mean = statistics.mean(record.ratings) if record.ratings else None
            rating = (mean - 1) / 4 if mean is not None else 0.0
            results = rule.results * (0.5 * record.solved_rate + 0.5 * rating)
        deductions = (
            rule.per_complaint * record.complaints_upheld + rule.per_reopened * record.reopened
        )
        total = max(0.0, volume + results - deductions)
        found[expert_id] = Score(
            round(volume, 2), round(results, 2), round(deductions, 2), round(total, 2)
        )
    return found


@dataclass(frozen=True)
class Ranked:
    """One line of the ranking table."""

    rank: int
    record: ServiceRecord
    score: Score


def ranking(session: Session, period: Period, rule: ScoreRule) -> list[Ranked]:
    """Every active expert (and any inactive one who served) ranked by score."""
    records = service_records(session, period)
    scored = scores(records, rule)
    shown = [
        (records[i], scored[i])
        for i in records
        if records[i].expert.active or records[i].services or records[i].accepted
    ]
    shown.sort(key=lambda item: (-item[1].total, -item[0].services, item[0].expert.name))
    ranked: list[Ranked] = []
    rank = 0
    for n, (record, score) in enumerate(shown, start=1):
        if not ranked or score.total != ranked[-1].score.total:
            rank = n  # equal scores share a place (并列)
        ranked.append(Ranked(rank, record, score))
    return ranked
