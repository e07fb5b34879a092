"""The monthly report as JSON, CSV or XLSX, with Chinese column names for staff."""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

from bot.files.spreadsheet import write_csv, write_xlsx_row
from handlers.report import FIGURES

SCOPE_NAMES = {"total": "全县", "county": "县区", "team": "服务队"}
FIGURE_NAMES = {
    "requests": "求助数",
    "visits": "上门次数",
    "expert_visits": "专家人次",
    "experts": "出诊专家数",
    "farmers_served": "服务农户数",
    "villages_covered": "覆盖村数",
    "median_hours_to_accept": "接单用时中位数(小时)",
    "median_hours_to_visit": "上门用时中位数(小时)",
    "surveys_sent": "回访数",
    "survey_response_rate": "回访应答率",
    "share_solved": "解决率",
    "mean_rating": "平均评分",
    "consultations": "会诊人次",
}


def write_report(
    rows: list[tuple[str, str, dict[str, Any]]], output: BinaryIO, fmt: str, month: str
) -> None:
    """Write the report rows in `fmt` to a binary stream."""
    if fmt == "json":
        document = {
            "month": month,
            "rows": [{"scope": scope, "name": name, **figures} for scope, name, figures in rows],
        }
        output.write(json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n")
        return
    header = ["范围", "名称", *(FIGURE_NAMES[f] for f in FIGURES)]
    table = [
        [SCOPE_NAMES[scope], name, *(shown(f, figures[f]) for f in FIGURES)]
        for scope, name, figures in rows
    ]
    if fmt == "csv":
        write_csv(output, header, table)
        return
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet(f"{month} 月度调度表")
    bold = workbook.add_format({"bold": True, "text_wrap": True})
    write_xlsx_row(sheet, 0, header, bold)
    for number, row in enumerate(table, start=1):
        write_xlsx_row(sheet, number, row)
    sheet.set_column(0, 1, 12)
    sheet.set_column(2, len(header) - 1, 10)
    sheet.freeze_panes(1, 2)
    workbook.close()
    output.write(buffer.getvalue())


RATES = ("survey_response_rate", "share_solved")


def shown(figure: str, value: Any) -> Any:
    """A figure as staff read it: rates as whole percentages (0.6667 → 67%)."""
    if value is None:
        return ""
    if figure in RATES:
        return f"{round(value * 100)}%"
    return value
