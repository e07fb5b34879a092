"""A farmer's personal data as an XLSX workbook: one sheet per part (PIPL Art. 45)."""

from __future__ import annotations

import io
from typing import Any

from bot.files.spreadsheet import write_xlsx_row

SHEETS = {
    "farmer": "农户",
    "requests": "求助",
    "messages": "对话",
    "files": "照片语音",
    "surveys": "回访",
}


def personal_xlsx(data: dict[str, Any]) -> bytes:
    """The workbook of `handlers.personal_data.personal_data`'s result."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    for key, title in SHEETS.items():
        sheet = book.add_worksheet(title)
        part = data[key]
        rows = [part] if isinstance(part, dict) else list(part)
        columns = list(rows[0]) if rows else ["（没有）"]
        write_xlsx_row(sheet, 0, columns, bold)
        for number, row in enumerate(rows, 1):
            write_xlsx_row(sheet, number, [_cell(row.get(column)) for column in columns])
    book.close()
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, ensure_ascii=False)
    return value
