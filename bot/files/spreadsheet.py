"""Writing cells that spreadsheet programs read as data, never as formulas.

A farmer's words that begin with = + - @ (or a tab or carriage return, which some
programs strip before looking) would be run as a formula by Excel or WPS. CSV cells
get a leading apostrophe, the usual neutraliser; XLSX cells are always written as
strings, numbers as numbers, so nothing becomes a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Return a value safe to write into a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(output: BinaryIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a UTF-8 (with BOM, for Excel) CSV; return the number of data rows."""
    text = io.TextIOWrapper(output, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        count += 1
    text.flush()
    text.detach()
    return count


def write_xlsx_row(sheet: Any, row: int, values: Sequence[Any], cell_format: Any = None) -> None:
    """Write one row with xlsxwriter: strings as strings (never formulas), numbers as numbers."""
    for column, value in enumerate(values):
        if value is None:
            sheet.write_blank(row, column, None, cell_format)
        elif isinstance(value, bool):
            sheet.write_boolean(row, column, value, cell_format)
        elif isinstance(value, int | float):
            sheet.write_number(row, column, value, cell_format)
        else:
            sheet.write_string(row, column, str(value), cell_format)
