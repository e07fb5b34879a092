"""The treatment checks that are due: asked once, out of quiet hours, inside WeChat's
48 h window or held until the farmer writes; unanswered ones expire."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from handlers import notify
from handlers.config import Policy
from handlers.outcomes import drop_held_questions, question_text
from models.db import session_scope
from models.outbox import queue
from models.requests import OPEN_STATUSES
from models.tables import Farmer, HelpRequest, Survey, TreatmentCheck
from scheduler.claims import each_due

log = logging.getLogger(__name__)

# While the farmer is busy with a survey, an open request or another such question, the
# question waits this long again.
SURVEY_PAUSE = timedelta(hours=6)


def send_due_checks(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Ask every treatment check that is due (each exactly once), expire the unanswered;
    return how many were asked or held."""
    with session_scope(engine) as session:
        stale = now - policy.outcome_expiry
        session.execute(
            update(TreatmentCheck)
            .where(col(TreatmentCheck.state) == "sent", col(TreatmentCheck.sent_at) < stale)
            .values(state="expired")
        )
        # Held while the farmer stayed silent: after as long, the question is stale.
        stale_held = list(
            session.exec(
                select(TreatmentCheck).where(
                    TreatmentCheck.state == "held", col(TreatmentCheck.due_at) < stale
                )
            )
        )
        for stale_check in stale_held:
            stale_check.state = "expired"
        drop_held_questions(session, request_ids=[c.request_id for c in stale_held])
    return each_due(
        engine,
        TreatmentCheck,
        now=now,
        act=lambda session, check: _ask(session, check, policy, now),
    )


def _busy(session: Session, check: TreatmentCheck) -> bool:
    """Whether the farmer is in the middle of something an answer could be mistaken
    for: an open request, a survey of any visit, or another question of this kind."""
    farmer_id = check.farmer_id
    survey = session.exec(
        select(Survey.id).where(
            Survey.farmer_id == farmer_id,
            col(Survey.state).in_(("scheduled", "sending", "sent", "held")),
        )
    ).first()
    request = session.exec(
        select(HelpRequest.id).where(
            HelpRequest.farmer_id == farmer_id, col(HelpRequest.status).in_(OPEN_STATUSES)
        )
    ).first()
    other = session.exec(
        select(TreatmentCheck.id).where(
            TreatmentCheck.farmer_id == farmer_id,
            col(TreatmentCheck.state).in_(("held", "sent")),
            TreatmentCheck.id != check.id,
        )
    ).first()
    return survey is not None or request is not None or other is not None


def _ask(session: Session, check: TreatmentCheck, policy: Policy, now: datetime) -> int:
    farmer = session.get(Farmer, check.farmer_id)
    request = session.get(HelpRequest, check.request_id)
    if farmer is None or not farmer.subscribed or request is None:
        check.state = "cancelled"
        return 0
    if request.status not in ("visited", "closed") or request.visited_at != check.visited_at:
        # The survey reopened it (the treatment did not work) or another visit followed:
        # this visit's treatment is no longer the one to ask about.
        check.state = "cancelled"
        return 0
    if _busy(session, check):
        check.state, check.due_at = "scheduled", policy.out_of_quiet_hours(now + SURVEY_PAUSE)
        return 0
    if policy.out_of_quiet_hours(now) != now:
        check.state, check.due_at = "scheduled", policy.out_of_quiet_hours(now)
        return 0
    payload = notify.text_payload(question_text(session, check))
    in_window = notify.in_service_window(farmer.last_message_at, now)
    queue(
        session=session,
        openid=farmer.openid,
        payload=payload,
        now=now,
        purpose="outcome",
        request_id=check.request_id,
        status="pending" if in_window else "held",
    )
    if in_window:
        check.state, check.sent_at = "sent", now
    else:
        check.state = "held"
        log.info(
            "treatment check %d held: farmer %s is outside the 48 h window; it goes out "
            "when they next write",
            check.id,
            farmer.id,
        )
    return 1
