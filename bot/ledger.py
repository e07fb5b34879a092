"""The request ledger (需求台帐) as JSON lines, CSV or XLSX."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlmodel import Session, select

from handlers.survey import survey_fields
from models.requests import iter_ledger
from models.tables import Expert

LEDGER_COLUMNS = (
    "code",
    "created_at",
    "farmer_openid",
    "status",
    "crop",
    "category",
    "urgency",
    "symptoms",
    "place",
    "text",
    "expert_openid",
    "accepted_at",
    "visit_booked_for",
    "visited_at",
    "visit_record",
    "survey_state",
    "solved",
    "rating",
    "comment",
)
FORMATS = ("jsonl", "csv", "xlsx")


def ledger_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Yield one dict per request with the ledger's columns."""
    experts = {expert.id: expert.openid for expert in session.exec(select(Expert))}
    for request, farmer in iter_ledger(session=session):
        yield {
            "code": request.code,
            "created_at": request.created_at.isoformat(),
            "farmer_openid": farmer.openid,
            "status": request.status,
            "crop": request.crop,
            "category": request.category,
            "urgency": request.urgency,
            "symptoms": list(request.symptoms or []),
            "place": request.place,
            "text": request.text,
            "expert_openid": experts.get(request.expert_id),
            "accepted_at": _iso(request.accepted_at),
            "visit_booked_for": _iso(request.visit_booked_for),
            "visited_at": _iso(request.visited_at),
            "visit_record": request.visit_record,
            **survey_fields(session, request.id or 0),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def write_ledger(rows: Iterable[dict[str, Any]], output: BinaryIO, fmt: str) -> int:
    """Write the rows in `fmt` to a binary stream; return how many were written."""
    if fmt == "jsonl":
        count = 0
        for row in rows:
            output.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
            count += 1
        return count
    if fmt == "csv":
        text = io.TextIOWrapper(output, encoding="utf-8-sig", newline="")
        writer = csv.DictWriter(text, fieldnames=LEDGER_COLUMNS)
        writer.writeheader()
        count = 0
        for row in rows:
            writer.writerow({**row, "symptoms": "、".join(row["symptoms"])})
            count += 1
        text.flush()
        text.detach()
        return count
    if fmt == "xlsx":
        return _write_xlsx(rows, output)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_xlsx(rows: Iterable[dict[str, Any]], output: BinaryIO) -> int:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("需求台帐")
    bold = workbook.add_format({"bold": True})
    for column, name in enumerate(LEDGER_COLUMNS):
        sheet.write(0, column, name, bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        for column, name in enumerate(LEDGER_COLUMNS):
            value = row[name]
            if isinstance(value, list):
                value = "、".join(value)
            elif value is None:
                value = ""
            sheet.write(count, column, value)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(count, 1), len(LEDGER_COLUMNS) - 1)
    workbook.close()
    output.write(buffer.getvalue())
    return count


def default_filename(fmt: str, now: datetime) -> Path:
    """Return a dated file name for an export."""
    return Path(f"farmhelp-requests-{now:%Y%m%d-%H%M}.{fmt}")
