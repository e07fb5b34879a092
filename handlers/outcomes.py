"""Treatments that worked: a set time after a visit (`FARMHELP_OUTCOME_DELAY`, 7 days)
the farmer is asked how it is now; the answer (好了 / 好一些 / 没变化 / 更重了) is the
prescription's verified outcome, shown with the case and used to rank similar cases.

The question goes out of quiet hours as a customer-service message inside WeChat's 48 h
window; outside it, it is held until the farmer next writes (scheduler/outcomes.py).
It waits while the visit's survey is still open, and is dropped when the survey
reopened the request (the treatment did not work, and another expert took it on).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from handlers import texts
from handlers.config import Policy
from handlers.notify import send_text
from models.tables import Expert, Farmer, HelpRequest, TreatmentCheck

OUTCOMES = ("recovered", "better", "same", "worse")
# Ways of saying each outcome, longest first where one holds another (好一些 before 好).
_SAID = (
    ("worse", ("更重", "加重", "严重了", "更厉害", "更多了", "更差", "恶化", "死了")),
    (
        "same",
        ("没变化", "没有变化", "没变", "老样子", "还那样", "还是那样", "一样", "没效果", "没用"),
    ),
    ("better", ("好一些", "好一点", "好点", "好些", "好多了", "好转", "轻了", "少了", "见效")),
    ("recovered", ("好了", "全好", "治好", "好啦", "痊愈", "没事了", "正常了")),
)
_DIGITS = {"1": "recovered", "2": "better", "3": "same", "4": "worse"}
_NEGATED = re.compile(r"没(有)?好|不见好|还没好")


def schedule_check(
    session: Session, *, request: HelpRequest, farmer: Farmer, policy: Policy, now: datetime
) -> TreatmentCheck | None:
    """Plan the question for a recorded visit (nothing for farmers who unsubscribed)."""
    if not farmer.subscribed:
        return None
    assert request.id is not None and farmer.id is not None
    check = TreatmentCheck(
        request_id=request.id,
        farmer_id=farmer.id,
        expert_id=request.expert_id,
        visited_at=now,
        due_at=policy.out_of_quiet_hours(now + policy.outcome_delay),
        created_at=now,
    )
    session.add(check)
    session.flush()
    return check


def question_text(session: Session, check: TreatmentCheck) -> str:
    """The question as the farmer reads it."""
    request = session.get(HelpRequest, check.request_id)
    expert = session.get(Expert, check.expert_id) if check.expert_id else None
    name = f"{expert.name}专家" if expert is not None else "专家"
    return texts.OUTCOME_QUESTION.format(code=request.code if request else "", name=name)


def read_outcome(words: str) -> str | None:
    """好了 → recovered, 好一些 → better, 没变化 → same, 更重了 → worse (or 1–4)."""
    bare = re.sub(r"[\s，。！!,.？?~～]", "", words)
    if bare in _DIGITS:
        return _DIGITS[bare]
    if not bare or len(bare) > 30:
        return None
    if _NEGATED.search(bare):
        return "same"
    for outcome, ways in _SAID:
        if any(way in bare for way in ways):
            return outcome
    return None


def answer_check(
    session: Session, *, check: TreatmentCheck, words: str, policy: Policy, now: datetime
) -> str | None:
    """Take the farmer's words as the answer; None when they are about something else."""
    outcome = read_outcome(words)
    if outcome is None:
        return None
    check.state, check.outcome, check.answered_at = "answered", outcome, now
    check.words = words.strip()[:500]
    request = session.get(HelpRequest, check.request_id)
    expert = session.get(Expert, check.expert_id) if check.expert_id else None
    name = f"{expert.name}专家" if expert is not None else "专家"
    code = request.code if request else ""
    if outcome in ("same", "worse"):
        days = max(1, (now - check.visited_at).days)
        told = texts.OUTCOME_TO_EXPERT.format(
            code=code, days=days, outcome=texts.OUTCOME_NAMES[outcome], words=check.words
        )
        targets = [expert.openid] if expert is not None else []
        if outcome == "worse":
            targets += list(policy.staff_openids)
        for openid in dict.fromkeys(targets):
            send_text(session, openid=openid, content=told, now=now, purpose="outcome")
    return texts.OUTCOME_THANKS[outcome].format(code=code, name=name)


def release_held_checks(session: Session, *, farmer_id: int, now: datetime) -> None:
    """The farmer wrote: a question held outside the 48 h window goes out now."""
    for check in session.exec(
        select(TreatmentCheck).where(
            TreatmentCheck.farmer_id == farmer_id, TreatmentCheck.state == "held"
        )
    ):
        check.state, check.sent_at = "sent", now


def verified_outcomes(session: Session, request_ids: Iterable[int]) -> dict[int, str]:
    """Each request's latest answered outcome, for the requests that have one."""
    ids = list(request_ids)
    if not ids:
        return {}
    statement = (
        select(TreatmentCheck)
        .where(col(TreatmentCheck.request_id).in_(ids), TreatmentCheck.state == "answered")
        .order_by(col(TreatmentCheck.id))
    )
    return {c.request_id: c.outcome for c in session.exec(statement) if c.outcome}


def checks_of(session: Session, request_id: int) -> list[TreatmentCheck]:
    """A request's treatment checks, one per recorded visit, oldest first."""
    statement = (
        select(TreatmentCheck)
        .where(TreatmentCheck.request_id == request_id)
        .order_by(col(TreatmentCheck.id))
    )
    return list(session.exec(statement))


@dataclass
class TreatmentResult:
    """How one treatment of one problem of one crop went, by the farmers' answers."""

    crop: str
    problem: str
    treatment: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    @property
    def recovered_share(self) -> float:
        """Share of answers that said 好了 or 好一些."""
        return (self.counts["recovered"] + self.counts["better"]) / self.answered


_INTERVAL_CLAUSE = re.compile(r"[，,；;]?\s*安全间隔期[^，,；;。]*")


def diagnosis_and_treatment(request: HelpRequest) -> tuple[str, str]:
    """What the expert found and what was given: the structured prescription's
    diagnosis and products, or the typed record's first clause and the rest."""
    prescription = request.prescription or {}
    if prescription.get("diagnosis"):
        products = [i.get("product", "") for i in prescription.get("items", []) if i.get("product")]
        treatment = "、".join(products) or prescription.get("advice", "")
        return str(prescription["diagnosis"])[:40], str(treatment)[:60]
    record = _INTERVAL_CLAUSE.sub("", request.visit_record or "").strip()
    first, *rest = re.split(r"[，,。；;\n]", record, maxsplit=1)
    return first.strip()[:40], (rest[0] if rest else "").strip("，,。；; \n")[:60]


def treatment_results(session: Session, start: datetime, end: datetime) -> list[TreatmentResult]:
    """Per crop, problem and treatment, the answers given between `start` and `end`:
    which treatments were followed by recovery and which were not."""
    checks = list(
        session.exec(
            select(TreatmentCheck).where(
                TreatmentCheck.state == "answered",
                col(TreatmentCheck.answered_at) >= start,
                col(TreatmentCheck.answered_at) < end,
            )
        )
    )
    requests = {
        r.id: r
        for r in session.exec(
            select(HelpRequest).where(col(HelpRequest.id).in_([c.request_id for c in checks]))
        )
    }
    results: dict[tuple[str, str, str], TreatmentResult] = {}
    for check in checks:
        request = requests.get(check.request_id)
        if request is None or check.outcome not in OUTCOMES:
            continue
        problem, treatment = diagnosis_and_treatment(request)
        key = (request.crop or "未说明", problem, treatment)
        result = results.setdefault(key, TreatmentResult(*key))
        result.counts[check.outcome] += 1
    ordered = defaultdict(list)
    for result in results.values():
        ordered[(result.crop, result.problem)].append(result)
    return [
        result
        for key in sorted(ordered)
        for result in sorted(ordered[key], key=lambda r: (-r.recovered_share, -r.answered))
    ]
