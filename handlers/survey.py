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
from handlers.outcomes import cancel_checks
from handlers.routing import route_request
from handlers.understanding import normalise
from models.offers import record_event
from models.requests import lock_request
from models.tables import Expert, Farmer, HelpRequest, Survey

# Ways of saying 1/2/3 and the ratings; the first list that matches wins (negations first).
_SOLVED_CUES = (
    (
        "no",
        (
            *("没解决", "没有解决", "未解决", "不解决", "没好", "还没好", "没有好", "没治好"),
            *("不行", "没用", "没效果", "没有效果", "不管用", "没起作用", "还是一样", "一样"),
            *("更严重", "更厉害", "加重", "还在", "越来越"),
        ),
    ),
    (
        "partly",
        (
            *("部分解决", "部分", "好一点", "好一些", "好些", "好多了", "好点了", "有好转"),
            *("好转", "轻了", "减轻", "差不多", "见好"),
        ),
    ),
    ("yes", ("已解决", "解决了", "好了", "治好", "没事了", "全好", "管用", "有效", "见效")),
)
_DIGIT_ANSWERS = {"1": "yes", "2": "partly", "3": "no"}
_RATING_CUES = (
    (1, ("很不满意", "非常不满意", "特别不满意", "太差", "很差", "非常差")),
    (2, ("不满意", "不太满意", "不怎么样", "不好", "差")),
    (5, ("很满意", "非常满意", "特别满意", "十分满意", "太好了", "非常好", "很好", "特别好")),
    (3, ("一般", "还行", "凑合", "还可以", "马马虎虎", "一般般")),
    (4, ("满意", "挺好", "不错", "好")),
)
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


def question_text(
    session: Session, survey: Survey, *, reminder: bool = False, link: str | None = None
) -> str:
    """The first survey question, naming the request and the expert (and the page's link)."""
    request = session.get(HelpRequest, survey.request_id)
    expert = session.get(Expert, survey.expert_id) if survey.expert_id else None
    template = texts.SURVEY_REMINDER if reminder else texts.SURVEY_SOLVED
    question = template.format(
        code=request.code if request else "",
        name=texts.expert_title(expert.name) if expert else "专家",
    )
    return question + (texts.SURVEY_LINK.format(link=link) if link else "")


def survey_template_values(session: Session, survey: Survey) -> list[str]:
    """The survey template's fields: the case, the expert, what to do (each ≤ 20 characters)."""
    request = session.get(HelpRequest, survey.request_id)
    expert = session.get(Expert, survey.expert_id) if survey.expert_id else None
    return [
        f"求助 {request.code}" if request else "求助",
        texts.expert_title(expert.name) if expert else "专家",
        texts.SURVEY_TEMPLATE_ASK,
    ]


def answer_survey_page(
    session: Session,
    *,
    survey: Survey,
    solved: str,
    rating: int,
    comment: str,
    policy: Policy,
    now: datetime,
) -> str:
    """Record the one-tap survey page's answer: all three steps at once, as the chat would.

    Idempotent: a survey already answered (in the chat or the page) is left as it is.
    """
    if survey.state not in ("sent", "held"):
        return texts.SURVEY_PAGE_ANSWERED if survey.state == "answered" else texts.SURVEY_PAGE_ENDED
    if survey.step not in ("solved", "rating"):
        return texts.SURVEY_PAGE_ANSWERED
    # Answered "3" in the chat already: the request was reopened then, not again now.
    reopened = survey.step == "rating" and survey.solved == "no"
    if survey.step == "solved":
        survey.solved = solved
    survey.rating = rating
    if comment.strip():
        said = comment.strip()[:2000]
        survey.comment = f"{survey.comment}；{said}" if survey.comment else said
    survey.state, survey.step = "answered", "done"
    survey.last_answer_at = survey.answered_at = now
    request = session.get(HelpRequest, survey.request_id)
    assert request is not None
    if survey.solved == "no" or rating <= 2:
        reason = "农户说问题没解决" if survey.solved == "no" else f"农户给专家打了 {rating} 分"
        if request.status == "visited" and not reopened:
            reopen(session, request=request, survey=survey, policy=policy, now=now, reason=reason)
            return texts.SURVEY_REOPENED + texts.SURVEY_PAGE_DONE
        return texts.SURVEY_PAGE_DONE
    if request.status == "visited":
        request.closed_at = now
        record_event(
            session=session,
            request=request,
            to_status="closed",
            actor="survey",
            now=now,
            note=f"回访：{texts.SOLVED_NAMES.get(survey.solved or '', '')}，{rating} 分",
        )
    return texts.SURVEY_PAGE_DONE


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
        solved = read_solved(words)
        if solved is None:
            return _unclear(survey, texts.SURVEY_SOLVED_AGAIN)
        survey.solved, survey.step, survey.unclear = solved, "rating", 0
        _keep_words(survey, inbound.words, words)
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
    rating = read_rating(words) or 0
    if not 1 <= rating <= 5:
        return _unclear(survey, texts.SURVEY_RATING_AGAIN)
    survey.rating, survey.step, survey.unclear = rating, "comment", 0
    _keep_words(survey, inbound.words, words)
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
            note=f"回访：{texts.SOLVED_NAMES.get(survey.solved or '', '')}，{rating} 分",
        )
    return texts.SURVEY_COMMENT


def read_solved(words: str) -> str | None:
    """Read "was it solved?" from a digit or words: yes, partly, no (None: unclear)."""
    match = _DIGIT.match(words)
    if match:
        return _DIGIT_ANSWERS.get(match.group(1))
    for answer, cues in _SOLVED_CUES:
        if any(cue in words for cue in cues):
            return answer
    return None


def read_rating(words: str) -> int | None:
    """Read a 1-5 rating from a digit or words (很满意 5 … 很不满意 1)."""
    match = _DIGIT.match(words)
    if match:
        return int(match.group(1))
    for rating, cues in _RATING_CUES:
        if any(cue in words for cue in cues):
            return rating
    return None


def _keep_words(survey: Survey, said: str, bare: str) -> None:
    """An answer in words (没解决，叶子还在黄) is kept as the comment too."""
    if _DIGIT.match(bare) or len(bare) <= 3:
        return
    words = said.strip()[:2000]
    survey.comment = f"{survey.comment}；{words}" if survey.comment else words


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
    """Reopen a request after a bad survey answer: a different expert, and staff told.

    The round that did not help is kept on the request (expert, diagnosis, the
    farmer's answer), shown to the next expert, and its expert is told the outcome.
    """
    assert request.id is not None
    request = lock_request(session=session, request_id=request.id)
    cancel_checks(session, request_id=request.id or 0)  # that treatment did not work
    survey.reopened = True
    previous = request.expert_id
    expert = session.get(Expert, previous) if previous else None
    outcome = texts.SOLVED_NAMES.get(survey.solved or "", "")
    if survey.rating is not None:
        outcome += f"，打 {survey.rating} 分"
    rounds = list(request.routing.get("rounds", []))
    rounds.append(
        {
            "expert": expert.name if expert else "",
            "visited_at": request.visited_at.isoformat() if request.visited_at else None,
            "record": request.visit_record,
            "outcome": outcome,
            "comment": survey.comment,
            "survey_id": survey.id,
            "solved": survey.solved,
            "products": [
                str(item.get("product", ""))
                for item in (request.prescription or {}).get("items", [])
                if item.get("product")
            ],
        }
    )
    request.routing = {**request.routing, "rounds": rounds}
    if expert is not None:
        notify.send_text(
            session,
            openid=expert.openid,
            now=now,
            purpose="notify",
            request=request,
            content=texts.EXPERT_ROUND_OUTCOME.format(
                code=request.code,
                outcome=outcome,
                said=f"农户说：{survey.comment}" if survey.comment else "",
            ),
        )
    request.expert_id = None
    request.accepted_at = None
    record_event(
        session=session, request=request, to_status="reopened", actor="survey", now=now, note=reason
    )
    notify.alert_staff(
        session,
        config=policy,
        leader_openids=[],
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


def survey_rounds(session: Session, request_id: int) -> list[Survey]:
    """Every survey of a request, one per recorded visit, oldest first."""
    statement = select(Survey).where(Survey.request_id == request_id).order_by(col(Survey.id))
    return list(session.exec(statement))
