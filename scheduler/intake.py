"""Intake timeouts: a farmer who does not answer a follow-up question is still helped."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.intake import proceed
from models.db import session_scope
from models.requests import lock_request
from models.tables import Farmer, HelpRequest

log = logging.getLogger(__name__)


def move_on_unanswered(*, engine: Engine, policy: Policy, now: datetime) -> int:
    """Route requests whose question went unanswered for FARMHELP_INTAKE_TIMEOUT.

    The question stays pending: the farmer's later answer is still added to the
    request. Returns how many requests moved on.
    """
    cutoff = now - policy.intake_timeout
    with session_scope(engine) as session:
        waiting = [
            r.id
            for r in session.exec(
                select(HelpRequest).where(
                    HelpRequest.status == "intake", col(HelpRequest.updated_at) <= cutoff
                )
            )
        ]
    moved = 0
    for request_id in waiting:
        assert request_id is not None
        with session_scope(engine) as session:
            request = lock_request(session=session, request_id=request_id)
            if request.status != "intake" or request.updated_at > cutoff:
                continue  # the farmer answered meanwhile
            farmer = session.get(Farmer, request.farmer_id)
            offers = proceed(
                session,
                request=request,
                config=policy,
                now=now,
                actor="system",
                farmer=farmer,
                quiet=True,
            )
            if farmer is not None:
                template = texts.INTAKE_MOVED_ON if offers else texts.INTAKE_MOVED_ON_NOBODY
                notify.tell_farmer(
                    session,
                    farmer=farmer,
                    request=request,
                    now=now,
                    content=template.format(code=request.code),
                )
            moved += 1
            log.info(
                "request %s moved on without an answer to %s",
                request.code,
                request.pending_question,
            )
    return moved
