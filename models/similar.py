"""Solved past requests most like a given one, to show an expert what worked before."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.search import terms_of
from models.tables import HelpRequest, Survey, TreatmentCheck

CANDIDATES = 300  # the newest solved requests of the same crop (or category) are scored
# What the farmer said when asked how it was after the treatment, as weight: a treatment
# that cured counts more than a shared symptom; one that changed nothing counts against.
OUTCOME_WEIGHT = {"recovered": 4.0, "better": 2.0, "same": -4.0}


@dataclass(frozen=True)
class SimilarCase:
    request: HelpRequest
    score: float
    shared_symptoms: list[str]
    outcome: str | None = None  # the verified outcome of its treatment, when asked


def similar_solved(session: Session, request: HelpRequest, *, limit: int = 3) -> list[SimilarCase]:
    """Up to `limit` solved requests sharing the crop, symptoms and words of this one.

    Same crop or animal counts most, then each shared symptom, then words in common,
    then what the farmer said of the treatment days later (cured first, unchanged
    last); requests whose last survey said "not solved", or whose treatment made it
    worse, are left out.
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
    unsolved = set(
        session.exec(
            select(Survey.request_id).where(
                col(Survey.request_id).in_([c.id for c in candidates]), Survey.solved == "no"
            )
        )
    )
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
        scored.append(SimilarCase(case, score, shared, outcome))
    scored.sort(key=lambda found: (-found.score, -(found.request.id or 0)))
    return scored[:limit]
