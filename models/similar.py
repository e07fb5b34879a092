"""Solved past requests most like a given one, to show an expert what worked before."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from models.search import terms_of
from models.tables import HelpRequest, Survey, TreatmentCheck

CANDIDATES = 300  # the newest solved requests of the same crop (or category) are scored
# What the farmer said when asked how it was after the treatment, as weight: a treatment
# that cured counts more than a shared symptom; one that changed nothing counts against.
OUTCOME_WEIGHT = {"recovered": 4.0, "better": 2.0, "same": -4.0}
SOLVED_WEIGHT = 2.0  # the farmer's survey said it was solved (not only partly)
# What a product's name says besides its active ingredients: strength, formulation.
_NOT_INGREDIENT = re.compile(
    r"\d+(\.\d+)?\s*%|可湿性粉剂|水分散粒剂|悬浮剂|乳油|微乳剂|水乳剂|水剂|粉剂|颗粒剂"
    r"|可溶液剂|可溶粉剂|悬浮种衣剂|种衣剂|烟剂|片剂|注射液|[·・\s\-—()（）]"
)


@dataclass(frozen=True)
class SimilarCase:
    request: HelpRequest
    score: float
    shared_symptoms: list[str]
    outcome: str | None = None  # the verified outcome of its treatment, when asked
    # Products it used that an earlier round of this request used without success.
    used_failed: list[str] = field(default_factory=list)


def ingredient(product: str) -> str:
    """A product's name without strength and formulation (72% 霜脲·锰锌可湿性粉剂 → 霜脲锰锌)."""
    return _NOT_INGREDIENT.sub("", product)


def _uses(case: HelpRequest, product: str) -> bool:
    """Whether a past case's treatment used this product (by its active ingredients)."""
    wanted = ingredient(product)
    if len(wanted) < 2:
        return False
    items = (case.prescription or {}).get("items", [])
    named = [ingredient(str(item.get("product", ""))) for item in items]
    if any(wanted in name or (len(name) >= 2 and name in wanted) for name in named):
        return True
    return wanted in ingredient(case.visit_record or "")


def similar_solved(
    session: Session, request: HelpRequest, *, limit: int = 3, failed: Sequence[str] = ()
) -> list[SimilarCase]:
    """Up to `limit` solved requests sharing the crop, symptoms and words of this one.

    Same crop or animal counts most, then each shared symptom, then words in common,
    then what the farmer said: solved in the survey, and of the treatment days later
    (cured first, unchanged last); requests whose last survey said "not solved", or
    whose treatment made it worse, are left out. `failed`: products an earlier round of
    this request used without success; cases that used them are marked and come last.
    """
    same = (
        col(HelpRequest.crop) == request.crop
        if request.crop
        else col(HelpRequest.category) == request.category
    )
    statement = (
        select(HelpRequest)
        .where(
            col(HelpRequest.id) != request.id,
            col(HelpRequest.visit_record).is_not(None),
            col(HelpRequest.status).in_(("visited", "closed")),
            same,
        )
        .order_by(col(HelpRequest.id).desc())
        .limit(CANDIDATES)
    )
    candidates = list(session.exec(statement))
    if not candidates:
        return []
    answers = {
        request_id: solved
        for request_id, solved in session.exec(
            select(Survey.request_id, Survey.solved)
            .where(col(Survey.request_id).in_([c.id for c in candidates]))
            .where(col(Survey.solved).is_not(None))
            .order_by(col(Survey.id))
        )
    }  # the last answer of each
    unsolved = {request_id for request_id, solved in answers.items() if solved == "no"}
    outcomes = {
        check.request_id: check.outcome
        for check in session.exec(
            select(TreatmentCheck)
            .where(
                col(TreatmentCheck.request_id).in_([c.id for c in candidates]),
                TreatmentCheck.state == "answered",
            )
            .order_by(col(TreatmentCheck.id))
        )
    }
    words = {t for t in terms_of(request.text) if len(t) == 2}
    symptoms = set(request.symptoms or [])
    scored = []
    for case in candidates:
        outcome = outcomes.get(case.id or 0)
        if case.id in unsolved or outcome == "worse":
            continue
        shared = sorted(symptoms & set(case.symptoms or []))
        theirs = {t for t in terms_of(case.text) if len(t) == 2}
        overlap = len(words & theirs) / len(words | theirs) if words | theirs else 0.0
        score = 3.0 * (case.crop == request.crop and bool(request.crop)) + 2.0 * len(shared)
        score += 3.0 * overlap + OUTCOME_WEIGHT.get(outcome or "", 0.0)
        score += SOLVED_WEIGHT * (answers.get(case.id or 0) == "yes")
        used = [product for product in failed if _uses(case, product)]
        scored.append(SimilarCase(case, score, shared, outcome, used))
    scored.sort(key=lambda found: (bool(found.used_failed), -found.score, -(found.request.id or 0)))
    return scored[:limit]
