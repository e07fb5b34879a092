"""Reading rows in a short session of their own (a long-lived one would hold SQLite's lock)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select


def rows(engine: Engine, model: Any) -> list[Any]:
    """Return every row of a table, in id order."""
    with Session(engine) as session:
        return list(session.exec(select(model).order_by(model.id)))
