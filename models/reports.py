"""Stored monthly reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from models.tables import MonthlyReport


def store_report(
    *, session: Session, month: str, rows: list[tuple[str, str, dict[str, Any]]], now: datetime
) -> None:
    """Replace a month's stored report with these rows."""
    session.execute(delete(MonthlyReport).where(col(MonthlyReport.month) == month))
    for scope, name, figures in rows:
        session.add(
            MonthlyReport(month=month, scope=scope, name=name, figures=figures, computed_at=now)
        )
    session.flush()


def stored_report(*, session: Session, month: str) -> list[MonthlyReport]:
    """Return a month's stored report rows."""
    statement = select(MonthlyReport).where(MonthlyReport.month == month)
    return list(session.exec(statement.order_by(col(MonthlyReport.id))))
