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
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from handlers import texts
from handlers.config import Policy
from handlers.notify import send_text
from models.tables import Expert, Farmer, HelpRequest, Outbox, TreatmentCheck

OUTCOMES = ("recovered", "better", "same", "worse")
# The answers, as whole phrases (a message counts when its first phrase is one of them:
# "好多了，斑点少了" is an answer, "玉米叶子发黄好些天了" is not).
_ANSWERS = {
    "recovered": (
        "好了", "全好了", "都好了", "治好了", "已经好了", "好啦", "痊愈了", "没事了", "正常了",
        "完全好了",
    ),
    "better": (
        "好一些", "好一些了", "好一点", "好一点了", "好点了", "好些了", "好多了", "好转了",
        "有好转", "轻了", "轻一些", "轻多了", "见效了", "有效果", "快好了", "还没全好",
        "没那么严重了", "不那么严重了", "没以前严重了",
    ),
    "same": (
        "没变化", "没有变化", "没变", "老样子", "还是老样子", "还那样", "还是那样", "一样",
        "没效果", "没有效果", "没用", "还没好", "没好", "不见好", "不见效", "没见效",
    ),
    "worse": (
        "更重了", "更重", "加重了", "严重了", "更严重了", "更厉害了", "更差了", "恶化了",
        "越来越重", "越来越严重",
    ),
}  # fmt: skip
_PHRASE = {phrase: outcome for outcome, phrases in _ANSWERS.items() for phrase in phrases}
_DIGITS = {"1": "recovered", "2": "better", "3": "same", "4": "worse"}
_LEAD = re.compile(r"^(现在|目前|已经|用了药|用药后|打了药|打药后|专家)+")
_TAIL = re.compile(r"(啊|呀|哦|呢|吧|的|哈|谢谢|谢谢专家|谢谢老师)+$")
_PHRASE_END = re.compile(r"[\s，。！!,.？?~～、；;]+")


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
    return texts.OUTCOME_QUESTION.format(
        code=request.code if request else "", name=_title(session, check)
    )


def _title(session: Session, check: TreatmentCheck) -> str:
    expert = session.get(Expert, check.expert_id) if check.expert_id else None
    return texts.expert_title(expert.name) if expert is not None else "专家"


def cancel_checks(session: Session, *, request_id: int) -> None:
    """The visit's treatment is no longer the one to ask about (the request was reopened
    or visited again): its open question is dropped, and so is a held one's message."""
    for check in session.exec(
        select(TreatmentCheck).where(
            TreatmentCheck.request_id == request_id,
            col(TreatmentCheck.state).in_(("scheduled", "held", "sent")),
        )
    ):
        check.state = "cancelled"
    drop_held_questions(session, request_ids=[request_id])


def drop_held_questions(session: Session, *, request_ids: list[int]) -> None:
    """Held outcome questions of these requests never go out."""
    for row in session.exec(
        select(Outbox).where(
            col(Outbox.request_id).in_(request_ids),
            Outbox.status == "held",
            Outbox.purpose == "outcome",
        )
    ):
        row.status = "dropped"


def read_outcome(words: str) -> str | None:
    """好了 → recovered, 好多了 → better, 还没好 → same, 更重了 → worse (or 1–4): the
    message's first phrase must be one of the answers, so a new report is never one."""
    first = _PHRASE_END.split(words.strip(), maxsplit=1)[0]
    if first in _DIGITS and len(words.strip()) <= 2:
        return _DIGITS[first]
    bare = _TAIL.sub("", _LEAD.sub("", first))
    return _PHRASE.get(bare)


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
    name = _title(session, check)
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
            send_text(
                session,
                openid=openid,
                content=told,
                now=now,
                purpose="outcome_told",
                request=request,
            )
    return texts.OUTCOME_THANKS[outcome].format(code=code, name=name)


def release_held_checks(session: Session, *, farmer_id: int, now: datetime) -> None:
    """The farmer wrote: a question held outside the 48 h window goes out now."""
    for check in session.exec(
        select(TreatmentCheck).where(
            TreatmentCheck.farmer_id == farmer_id, TreatmentCheck.state == "held"
        )
    ):
        check.state, check.sent_at = "sent", now


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
