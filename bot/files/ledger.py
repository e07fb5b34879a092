"""The request ledger (需求台帐): JSON lines for programs, CSV or XLSX for staff.

JSON lines keep the machine format (codes, openids, ISO times in UTC). The staff
formats have Chinese headers and names, local times to the minute and no openids;
the farmer's phone number is masked.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.files.spreadsheet import write_csv, write_xlsx_row
from handlers import texts
from handlers.privacy import mask_phone
from models.requests import iter_ledger
from models.tables import Expert, Farmer, HelpRequest, RequestEvent, Survey

BATCH = 2000  # requests read (and held) at a time

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
# The staff formats: (header, how to show the row's value).
STAFF_COLUMNS = (
    "编号",
    "登记时间",
    "状态",
    "作物/牲畜",
    "问题类别",
    "紧急程度",
    "症状",
    "地点",
    "农户说",
    "农户电话",
    "接单专家",
    "服务队",
    "接单时间",
    "预约上门",
    "上门时间",
    "诊断和建议",
    "上门次数",
    "历次服务",
    "回访",
    "是否解决",
    "评分",
    "农户意见",
)
FORMATS = ("jsonl", "csv", "xlsx")


def ledger_rows(
    session: Session, *, progress: Callable[[int, int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one dict per request with the ledger's columns (machine format), oldest first.

    Requests are read in batches of BATCH by id, each with only its own visits and
    surveys, and forgotten once written, so a province's million requests stream
    through at the memory of one batch. `progress(done, total)` is called per batch.
    """
    experts = {expert.id: expert for expert in session.exec(select(Expert))}
    by_openid = {expert.openid: expert for expert in experts.values()}
    total = int(session.exec(select(func.count()).select_from(HelpRequest)).one())
    done, after = 0, 0
    while True:
        batch = list(iter_ledger(session=session, after=after, limit=BATCH))
        if not batch:
            break
        first, last = batch[0][0].id or 0, batch[-1][0].id or 0
        visits: dict[int, list[RequestEvent]] = defaultdict(list)
        for event in session.exec(
            select(RequestEvent)
            .where(
                RequestEvent.to_status == "visited",
                col(RequestEvent.request_id).between(first, last),
            )
            .order_by(col(RequestEvent.id))
        ):
            visits[event.request_id].append(event)
        surveys: dict[int, list[Survey]] = defaultdict(list)
        for survey in session.exec(
            select(Survey)
            .where(col(Survey.request_id).between(first, last))
            .order_by(col(Survey.id))
        ):
            surveys[survey.request_id].append(survey)
        for request, farmer in batch:
            yield _ledger_row(request, farmer, experts, by_openid, visits, surveys)
        done += len(batch)
        after = last
        session.expunge_all()  # the batch is written: let it go (experts stay readable)
        if progress is not None:
            progress(done, max(total, done))


def _ledger_row(
    request: HelpRequest,
    farmer: Farmer,
    experts: dict[int | None, Expert],
    by_openid: dict[str, Expert],
    visits: dict[int, list[RequestEvent]],
    surveys: dict[int, list[Survey]],
) -> dict[str, Any]:
    expert = experts.get(request.expert_id)
    theirs = surveys[request.id or 0]
    rounds = [_round(event, by_openid, theirs) for event in visits[request.id or 0]]
    latest = theirs[-1] if theirs else None
    return {
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
        "expert_openid": expert.openid if expert else None,
        "accepted_at": _iso(request.accepted_at),
        "visit_booked_for": _iso(request.visit_booked_for),
        "visited_at": _iso(request.visited_at),
        "visit_record": request.visit_record,
        "survey_state": latest.state if latest else None,
        "solved": latest.solved if latest else None,
        "rating": latest.rating if latest else None,
        "comment": latest.comment if latest else None,
        # Not ledger columns: what the staff formats show instead of openids.
        "_expert_name": expert.name if expert else None,
        "_expert_team": expert.team if expert else None,
        "_farmer_phone": farmer.phone,
        "_rounds": rounds,
    }


def _round(
    event: RequestEvent, by_openid: dict[str, Expert], surveys: list[Survey]
) -> dict[str, Any]:
    """One recorded visit and the survey that followed it."""
    visitor = by_openid.get(event.actor.removeprefix("expert:"))
    survey = next(
        (
            s
            for s in surveys
            if abs((s.created_at - event.at).total_seconds()) < 60
            and (visitor is None or s.expert_id == visitor.id)
        ),
        None,
    )
    return {
        "expert": visitor.name if visitor else "",
        "at": event.at,
        "record": event.note,
        "solved": survey.solved if survey else None,
        "rating": survey.rating if survey else None,
        "comment": survey.comment if survey else None,
    }


def describe_rounds(rounds: list[dict[str, Any]], tz: ZoneInfo) -> str:
    """第1次 王植保 11-25 叶斑病…；回访：没解决 2分「叶子还在黄」 — one line per visit."""
    lines = []
    for number, visit in enumerate(rounds, start=1):
        when = visit["at"].astimezone(tz).strftime("%m-%d %H:%M")
        line = f"第{number}次 {visit['expert']} {when} {visit['record']}"
        answer = texts.SOLVED_NAMES.get(visit["solved"] or "", "")
        if visit["rating"] is not None:
            answer += f" {visit['rating']}分"
        if visit["comment"]:
            answer += f"「{visit['comment']}」"
        lines.append(line + (f"；回访：{answer.strip()}" if answer.strip() else ""))
    return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def staff_row(row: dict[str, Any], tz: ZoneInfo) -> list[Any]:
    """One ledger row as staff read it: Chinese names, local times to the minute."""

    def local(value: str | None) -> str:
        if not value:
            return ""
        return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    return [
        row["code"],
        local(row["created_at"]),
        texts.STATUS_NAMES.get(row["status"], row["status"]),
        row["crop"] or "",
        texts.CATEGORY_NAMES.get(row["category"], row["category"]),
        texts.URGENCY_NAMES.get(row["urgency"], row["urgency"]),
        "、".join(row["symptoms"]),
        row["place"] or "",
        row["text"],
        mask_phone(row.get("_farmer_phone")),
        row.get("_expert_name") or "",
        row.get("_expert_team") or "",
        local(row["accepted_at"]),
        local(row["visit_booked_for"]),
        local(row["visited_at"]),
        row["visit_record"] or "",
        len(row.get("_rounds", [])),
        describe_rounds(row.get("_rounds", []), tz),
        texts.SURVEY_STATE_NAMES.get(row["survey_state"] or "", ""),
        texts.SOLVED_NAMES.get(row["solved"] or "", ""),
        row["rating"],
        row["comment"] or "",
    ]


def write_ledger(
    rows: Iterable[dict[str, Any]], output: BinaryIO, fmt: str, tz: ZoneInfo | None = None
) -> int:
    """Write the rows in `fmt` to a binary stream; return how many were written."""
    tz = tz or ZoneInfo("Asia/Shanghai")
    if fmt == "jsonl":
        count = 0
        for row in rows:
            public = {name: row[name] for name in LEDGER_COLUMNS}
            output.write((json.dumps(public, ensure_ascii=False) + "\n").encode())
            count += 1
        return count
    if fmt == "csv":
        return write_csv(output, STAFF_COLUMNS, (staff_row(row, tz) for row in rows))
    if fmt == "xlsx":
        return _write_xlsx(rows, output, tz)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _write_xlsx(rows: Iterable[dict[str, Any]], output: BinaryIO, tz: ZoneInfo) -> int:
    """Row by row to a temporary file (xlsxwriter's constant-memory mode keeps one row
    in memory, not the sheet), then copied to the output."""
    import xlsxwriter

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.xlsx"
        count = _write_xlsx_file(rows, path, tz, xlsxwriter)
        with path.open("rb") as written:
            shutil.copyfileobj(written, output, 1024 * 1024)
    return count


def _write_xlsx_file(
    rows: Iterable[dict[str, Any]], path: Path, tz: ZoneInfo, xlsxwriter: Any
) -> int:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("需求台帐")
    sheet.freeze_panes(1, 1)
    sheet.set_column(0, 0, 8)
    sheet.set_column(1, 1, 16)
    sheet.set_column(8, 8, 40)
    sheet.set_column(17, 17, 50)
    bold = workbook.add_format({"bold": True})
    write_xlsx_row(sheet, 0, STAFF_COLUMNS, bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        write_xlsx_row(sheet, count, staff_row(row, tz))
    sheet.autofilter(0, 0, max(count, 1), len(STAFF_COLUMNS) - 1)
    workbook.close()
    return count


def default_filename(fmt: str, now: datetime) -> Path:
    """Return a dated file name for an export."""
    return Path(f"farmhelp-requests-{now:%Y%m%d-%H%M}.{fmt}")
