"""The follow-up survey (回访反馈): scheduled after a visit, answered one digit at a time.

solved? (1 yes / 2 partly / 3 no) → rating 1-5 → an optional comment. "3" or a
rating of 2 or less reopens the request, offers it to a different expert and
alerts staff; otherwise the request closes with the rating.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.inbound import Inbound
from handlers.routing import route_request
from handlers.understanding import normalise
from models.offers import record_event
from models.tables import Expert, Farmer, HelpRequest, Survey

OPEN_STATES = ("sent",)
_SOLVED_WORDS = {
    "1": "yes",
    "已解决": "yes",
    "解决了": "yes",
    "好了": "yes",
    "2": "partly",
    "部分解决": "partly",
    "部分": "partly",
    "好一点": "partly",
    "3": "no",
    "没解决": "no",
    "没有解决": "no",
    "没好": "no",
    "还没好": "no",
}
_NO_COMMENT = {"没有", "无", "没", "不用", "没了", "没有了", "没什么"}
_DIGIT = re.compile(r"^\D*([0-9])\D*$")
_PUNCTUATION = re.compile(r"[\s,.!?;:，。！？；：、~～…]+")


def schedule_survey(
    session: Session, *, request: HelpRequest, farmer: Farmer, policy: Policy, now: datetime
) -> Survey | None:
    """Plan the survey for a recorded visit (nothing for farmers who unsubscribed)."""
    if not farmer.subscribed:
        return None
    assert request.id is not None and farmer.id is not None
    survey = Survey(
        request_id=request.id,
        farmer_id=farmer.id,
        expert_id=request.expert_id,
        due_at=policy.out_of_quiet_hours(now + policy.survey_delay),
        created_at=now,
    )
    session.add(survey)
    session.flush()
    return survey


def open_survey(session: Session, *, farmer_id: int) -> Survey | None:
    """Return the farmer's survey that is waiting for an answer, if any."""
    statement = (
        select(Survey)
        .where(Survey.farmer_id == farmer_id)
        .where(col(Survey.state).in_(OPEN_STATES))
        .order_by(col(Survey.id).desc())
    )
    return session.exec(statement).first()


def question_text(session: Session, survey: Survey, *, reminder: bool = False) -> str:
    """The first survey question, naming the request and the expert."""
    request = session.get(HelpRequest, survey.request_id)
    expert = session.get(Expert, survey.expert_id) if survey.expert_id else None
    template = texts.SURVEY_REMINDER if reminder else texts.SURVEY_SOLVED
    return template.format(code=request.code if request else "", name=expert.name if expert else "")


def answer_survey(
    session: Session, *, survey: Survey, inbound: Inbound, policy: Policy, now: datetime
) -> str | None:
    """Take a message as the survey's answer; None when it is not one (handle it normally)."""
    words = _PUNCTUATION.sub("", normalise(inbound.words))
    survey.last_answer_at = now
    if survey.step == "comment":
        survey.state, survey.step, survey.answered_at = "answered", "done", now
        if not words or words in _NO_COMMENT:
            return texts.SURVEY_THANKS
        survey.comment = inbound.words.strip()[:2000]
        return texts.SURVEY_THANKS_COMMENT
    request = session.get(HelpRequest, survey.request_id)
    assert request is not None
    if survey.step == "solved":
        solved = _SOLVED_WORDS.get(words)
        if solved is None:
            return _unclear(survey, texts.SURVEY_SOLVED_AGAIN)
        survey.solved, survey.step, survey.unclear = solved, "rating", 0
        if solved == "no":
            reopen(
                session,
                request=request,
                survey=survey,
                policy=policy,
                now=now,
                reason="农户说问题没解决",
            )
            return texts.SURVEY_REOPENED + texts.SURVEY_RATING
        return texts.SURVEY_RATING
    match = _DIGIT.match(words)
    rating = int(match.group(1)) if match else 0
    if not 1 <= rating <= 5:
        return _unclear(survey, texts.SURVEY_RATING_AGAIN)
    survey.rating, survey.step, survey.unclear = rating, "comment", 0
    if rating <= 2 and request.status == "visited":
        reopen(
            session,
            request=request,
            survey=survey,
            policy=policy,
            now=now,
            reason=f"农户给专家打了 {rating} 分",
        )
        return texts.SURVEY_REOPENED + texts.SURVEY_COMMENT
    if request.status == "visited":
        request.closed_at = now
        record_event(
            session=session,
            request=request,
            to_status="closed",
            actor="survey",
            now=now,
            note=f"solved={survey.solved} rating={rating}",
        )
    return texts.SURVEY_COMMENT


def _unclear(survey: Survey, again: str) -> str | None:
    if survey.unclear >= 1:
        return None  # asked twice: the farmer is talking about something else
    survey.unclear += 1
    return again


def reopen(
    session: Session,
    *,
    request: HelpRequest,
    survey: Survey,
    policy: Policy,
    now: datetime,
    reason: str,
) -> None:
    """Reopen a request after a bad survey answer: a different expert, and staff told."""
    previous = request.expert_id
    request.expert_id = None
    request.accepted_at = None
    record_event(
        session=session, request=request, to_status="reopened", actor="survey", now=now, note=reason
    )
    notify.alert_staff(
        session,
        config=policy,
        leaders=[],
        request=request,
        now=now,
        reason=texts.STAFF_SURVEY_REOPEN.format(reason=reason),
    )
    route_request(
        session,
        request=request,
        config=policy,
        now=now,
        actor="survey",
        exclude_expert_ids={previous} if previous else set(),
    )


def release_held_surveys(session: Session, *, farmer_id: int, now: datetime) -> None:
    """The farmer wrote: a survey held outside the 48 h window goes out now."""
    for survey in session.exec(
        select(Survey).where(Survey.farmer_id == farmer_id, Survey.state == "held")
    ):
        survey.state, survey.sent_at = "sent", now


def survey_fields(session: Session, request_id: int) -> dict[str, object]:
    """The latest survey's state and answers, for the request ledger."""
    survey = session.exec(
        select(Survey).where(Survey.request_id == request_id).order_by(col(Survey.id).desc())
    ).first()
    if survey is None:
        return {"survey_state": None, "solved": None, "rating": None, "comment": None}
    return {
        "survey_state": survey.state,
        "solved": survey.solved,
        "rating": survey.rating,
        "comment": survey.comment,
    }
