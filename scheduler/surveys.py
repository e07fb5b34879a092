"""Timed follow-up: surveys due, their reminder and expiry, and expert reminders."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.survey import question_text, survey_template_values
from models.db import session_scope
from models.offers import record_event
from models.outbox import queue
from models.tables import Expert, Farmer, HelpRequest, Outbox, Survey, TreatmentCheck
from scheduler.claims import each_due

log = logging.getLogger(__name__)


def send_due_surveys(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Send every survey that is due (each exactly once); return how many went out."""
    return each_due(
        engine,
        Survey,
        now=now,
        act=lambda session, survey: _send_survey(session, survey, policy, now),
    )


def _send_survey(session: Session, survey: Survey, policy: Policy, now: datetime) -> int:
    farmer = session.get(Farmer, survey.farmer_id)
    if farmer is None or not farmer.subscribed:
        survey.state = "cancelled"
        return 0
    if policy.out_of_quiet_hours(now) != now:
        survey.state, survey.due_at = "scheduled", policy.out_of_quiet_hours(now)
        return 0
    asked = session.exec(
        select(TreatmentCheck.id).where(
            TreatmentCheck.farmer_id == survey.farmer_id,
            col(TreatmentCheck.state).in_(("held", "sent")),
        )
    ).first()
    if asked is not None:
        # A digit answers either; the survey waits until the other question is settled.
        survey.state, survey.due_at = (
            "scheduled",
            policy.out_of_quiet_hours(now + timedelta(hours=6)),
        )
        return 0
    link = notify.farmer_link(policy, "survey", s=survey.id or 0)
    question = question_text(session, survey, link=link)
    payload = notify.text_payload(question)
    in_window = notify.in_service_window(farmer.last_message_at, now)
    if in_window:
        queue(
            session=session,
            openid=farmer.openid,
            payload=payload,
            now=now,
            purpose="survey",
            request_id=survey.request_id,
        )
    elif policy.survey_template:
        template = notify.template_message(
            policy.survey_template,
            keys=policy.survey_keys,
            values=survey_template_values(session, survey),
            url=link,
        )
        queue(
            session=session,
            openid=farmer.openid,
            payload=template,
            now=now,
            purpose="survey",
            request_id=survey.request_id,
            kind="template",
        )
    else:
        queue(
            session=session,
            openid=farmer.openid,
            payload=payload,
            now=now,
            purpose="survey",
            request_id=survey.request_id,
            status="held",
        )
        survey.state = "held"
        log.info(
            "survey %d held: farmer %s is outside the 48 h window and no survey "
            "template is configured",
            survey.id,
            farmer.openid,
        )
        return 0
    survey.state, survey.sent_at = "sent", now
    return 1


def follow_up_surveys(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """One reminder for unanswered surveys, expiry after that; return how many changed."""
    changed = 0
    with session_scope(engine) as session:
        for survey in session.exec(select(Survey).where(Survey.state == "sent")):
            started = survey.sent_at or survey.due_at
            if survey.step == "comment":
                if (survey.last_answer_at or started) + policy.survey_reminder <= now:
                    survey.state, survey.step, survey.answered_at = "answered", "done", now
                    changed += 1
                continue
            if started + policy.survey_expiry <= now:
                _expire(session, survey, now)
                changed += 1
            elif (
                survey.reminded_at is None
                and survey.step == "solved"
                and started + policy.survey_reminder <= now
                and policy.out_of_quiet_hours(now) == now
            ):
                farmer = session.get(Farmer, survey.farmer_id)
                if farmer is not None and farmer.subscribed:
                    queue(
                        session=session,
                        openid=farmer.openid,
                        now=now,
                        purpose="survey",
                        payload=notify.text_payload(
                            question_text(
                                session,
                                survey,
                                reminder=True,
                                link=notify.farmer_link(policy, "survey", s=survey.id or 0),
                            )
                        ),
                        request_id=survey.request_id,
                    )
                survey.reminded_at = now
                changed += 1
        for survey in session.exec(select(Survey).where(Survey.state == "held")):
            if survey.created_at + policy.survey_expiry <= now:
                _expire(session, survey, now)
                for row in session.exec(
                    select(Outbox).where(
                        Outbox.request_id == survey.request_id,
                        Outbox.status == "held",
                        Outbox.purpose == "survey",
                    )
                ):
                    row.status = "dropped"
                changed += 1
    return changed


def _expire(session: Session, survey: Survey, now: datetime) -> None:
    survey.state = "expired"
    request = session.get(HelpRequest, survey.request_id)
    if request is not None and request.status == "visited":
        request.closed_at = now
        record_event(
            session=session,
            request=request,
            to_status="closed",
            actor="survey",
            now=now,
            note="回访无回复，办结",
        )


def remind_experts(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Remind experts of visits coming up and of accepted requests with no visit yet."""
    reminded = 0
    days = max(1, round(policy.overdue_after.total_seconds() / 86400))
    with session_scope(engine) as session:
        soon = session.exec(
            select(HelpRequest).where(
                HelpRequest.status == "visit_booked",
                col(HelpRequest.visit_reminded_at).is_(None),
                col(HelpRequest.visit_booked_for) <= now + policy.visit_reminder,
                col(HelpRequest.visit_booked_for) > now,
            )
        )
        for request in soon:
            expert = session.get(Expert, request.expert_id)
            if expert is not None and request.visit_booked_for is not None:
                when = request.visit_booked_for.astimezone(policy.tz)
                notify.send_text(
                    session,
                    openid=expert.openid,
                    now=now,
                    purpose="reminder",
                    request=request,
                    content=texts.EXPERT_VISIT_SOON.format(
                        code=request.code, when=f"{when:%H:%M}", place=request.place or "地点未说明"
                    ),
                )
            request.visit_reminded_at = now
            reminded += 1
        overdue = session.exec(
            select(HelpRequest).where(
                col(HelpRequest.status).in_(("accepted", "visit_booked")),
                col(HelpRequest.overdue_alerted_at).is_(None),
                col(HelpRequest.accepted_at) <= now - policy.overdue_after,
            )
        )
        for request in overdue:
            expert = session.get(Expert, request.expert_id)
            if expert is not None:
                notify.send_text(
                    session,
                    openid=expert.openid,
                    now=now,
                    purpose="reminder",
                    request=request,
                    content=texts.EXPERT_OVERDUE.format(code=request.code, days=days),
                )
                notify.alert_staff(
                    session,
                    config=policy,
                    leader_openids=[],
                    request=request,
                    now=now,
                    reason=texts.STAFF_OVERDUE.format(
                        days=days, name=texts.expert_title(expert.name)
                    ),
                )
            request.overdue_alerted_at = now
            reminded += 1
    return reminded
