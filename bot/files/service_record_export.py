"""The expert's service record as an XLSX workbook: a summary, then one sheet per list."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from bot.files.spreadsheet import write_xlsx_row
from handlers.privacy import mask_phones
from handlers.scores import Score, ScoreRule
from handlers.service_record import Period, ServiceRecord


def summary_rows(record: ServiceRecord, score: Score, rule: ScoreRule) -> list[tuple[str, Any]]:
    """The record's figures as (name, value) lines, as printed and exported."""
    rate = record.solved_rate
    return [
        ("接单", record.accepted),
        ("接单用时中位数（分钟）", _or_blank(record.median_minutes_to_accept)),
        ("上门", len(record.visits)),
        ("电话/远程指导", len(record.remote)),
        ("会诊（为同事）", len(record.consultations)),
        ("服务农户", len(record.farmer_ids)),
        ("服务的村（乡镇）", mask_phones("、".join(record.villages))),
        ("回访回答", record.surveys_answered),
        ("解决率", f"{round(rate * 100)}%" if rate is not None else ""),
        ("平均评分", _or_blank(record.mean_rating)),
        ("重新派单（没解决）", record.reopened),
        ("投诉", f"{record.complaints} 次，其中核实属实 {record.complaints_upheld} 次"),
        ("拒绝", len(record.declines)),
        ("得分", score.total),
        ("其中服务量分 / 效果分 / 扣分", f"{score.volume} / {score.results} / {score.deductions}"),
        ("评分办法", rule.formula()),
    ]


def write_record(page: Any, *, tz: Any) -> bytes:
    """The workbook's bytes for a record page (bot.web.console.views_records.RecordPage)."""
    import xlsxwriter

    record: ServiceRecord = page.record
    period: Period = page.period
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = workbook.add_format({"bold": True})
    title = f"{page.county}农技专家服务记录：{record.expert.name}（{period.label}）"
    sheets: dict[str, tuple[list[str], list[list[Any]]]] = {
        "概要": (["项目", "数值"], [[name, value] for name, value in page.summary]),
        "上门": (
            ["编号", "村", "预约", "上门时间"],
            [
                [
                    v.code,
                    v.village,
                    v.booked,
                    v.visited_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                ]
                for v in record.visits
            ],
        ),
        "电话远程指导": (
            ["编号", "方式", "时间"],
            [[c, m, _local(w, tz)] for c, m, w in record.remote],
        ),
        "会诊": (
            ["编号", "时间"],
            [[c, _local(w, tz)] for c, w in record.consultations],
        ),
        "拒绝": (
            ["编号", "理由", "时间"],
            [[c, r, _local(w, tz)] for c, r, w in record.declines],
        ),
        "农户评价": (["农户的话"], [[mask_phones(words)] for words in record.words]),
    }
    for name, (header, table) in sheets.items():
        sheet = workbook.add_worksheet(name)
        sheet.write_string(0, 0, title, bold)
        write_xlsx_row(sheet, 1, header, bold)
        for number, row in enumerate(table, start=2):
            write_xlsx_row(sheet, number, row)
        sheet.set_column(0, len(header) - 1, 18)
    workbook.close()
    return buffer.getvalue()


def _or_blank(value: float | None) -> float | str:
    return "" if value is None else value


def _local(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")
