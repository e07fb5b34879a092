"""Who was invited to consult on a request."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.tables import Consultation


def consultations_of(*, session: Session, request_id: int) -> list[Consultation]:
    """The colleagues invited to a request, in the order they were invited."""
    statement = (
        select(Consultation)
        .where(Consultation.request_id == request_id)
        .order_by(col(Consultation.id))
    )
    return list(session.exec(statement))


def is_consulted(*, session: Session, request_id: int, expert_id: int) -> bool:
    """Whether this expert was invited to consult on this request."""
    statement = select(Consultation.id).where(
        Consultation.request_id == request_id, Consultation.expert_id == expert_id
    )
    return session.exec(statement).first() is not None
