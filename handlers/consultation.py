"""Consultation (把脉会诊): the expert holding a request asks colleagues to look at it.

Invitees get their own workbench link and may post notes that only experts and staff
see; the holder decides what goes to the farmer. Every invitation and note is a
request_event.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers import notify, texts
from handlers.config import Policy
from models.consultations import consultations_of, is_consulted
from models.offers import record_event
from models.requests import lock_request
from models.tables import Consultation, Expert, HelpRequest

NOTE_PREFIX = "会诊："


class ConsultationRefused(Exception):
    """Not allowed, said in Chinese."""


def invite_colleagues(
    session: Session,
    *,
    request_id: int,
    holder: Expert,
    invitees: list[Expert],
    config: Policy,
    now: datetime,
) -> list[Expert]:
    """Invite colleagues to consult; return those newly invited."""
    request = lock_request(session=session, request_id=request_id)
    if request.expert_id != holder.id or request.status not in (
        "accepted",
        "visit_booked",
        "visited",
    ):
        raise ConsultationRefused(f"只有接了求助 {request.code} 的专家能邀请会诊")
    assert request.id is not None
    already = {c.expert_id for c in consultations_of(session=session, request_id=request.id)}
    invited = [e for e in invitees if e.active and e.id != holder.id and e.id not in already]
    if not invited:
        raise ConsultationRefused("请选一位还没邀请过的同事")
    for colleague in invited:
        assert colleague.id is not None and holder.id is not None
        session.add(
            Consultation(
                request_id=request.id, expert_id=colleague.id, invited_by=holder.id, invited_at=now
            )
        )
        link = notify.workbench_link(config, expert=colleague, request=request)
        notify.send_text(
            session,
            openid=colleague.openid,
            now=now,
            purpose="consult",
            request=request,
            content=texts.CONSULT_INVITE.format(
                code=request.code,
                holder=texts.expert_title(holder.name),
                summary=_summary(request),
                link=link,
            ),
        )
    record_event(
        session=session,
        request=request,
        to_status=request.status,
        actor=f"expert:{holder.openid}",
        now=now,
        note=f"邀请 {'、'.join(e.name for e in invited)} 会诊",
    )
    return invited


def post_note(
    session: Session, *, request_id: int, expert: Expert, text: str, now: datetime
) -> HelpRequest:
    """A consultation note: seen by experts on the request and by staff, never the farmer."""
    text = text.strip()[:2000]
    if not text:
        raise ConsultationRefused("会诊意见是空的")
    request = lock_request(session=session, request_id=request_id)
    assert request.id is not None and expert.id is not None
    holds = request.expert_id == expert.id
    if not holds and not is_consulted(session=session, request_id=request.id, expert_id=expert.id):
        raise ConsultationRefused(f"您没有受邀参加求助 {request.code} 的会诊")
    record_event(
        session=session,
        request=request,
        to_status=request.status,
        actor=f"expert:{expert.openid}",
        now=now,
        note=f"{NOTE_PREFIX}{text}",
    )
    holder = session.get(Expert, request.expert_id) if request.expert_id else None
    if holder is not None and not holds:
        notify.send_text(
            session,
            openid=holder.openid,
            now=now,
            purpose="consult",
            request=request,
            content=texts.CONSULT_NOTE.format(code=request.code, name=expert.name, text=text),
        )
    return request


def _summary(request: HelpRequest) -> str:
    crop = request.crop or "作物未说明"
    return f"{crop} · {texts.CATEGORY_NAMES[request.category]}（{request.place or '地点未说明'}）"
