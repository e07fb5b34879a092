"""The sample sheets the console's import page offers: headed as a county keeps its
sheets, with placeholder openids that the import refuses until they are replaced."""

from __future__ import annotations

import io

SAMPLES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "experts": (
        ("姓名", "openid", "电话", "队", "专业", "作物", "地区", "组长", "在岗"),
        (
            ("王植保", "换成王植保关注公众号后的openid", "13800000001", "植保队", "病虫害",
             "辣椒、玉米", "木鱼镇", "否", "是"),
            ("李栽培", "换成李栽培的openid", "13800000002", "植保队", "栽培管理、土壤肥料",
             "", "木鱼镇、城关镇", "否", "是"),
            ("张畜牧", "换成张畜牧的openid", "13800000003", "畜牧队", "畜牧兽医", "猪、牛、羊",
             "青川县", "否", "是"),
            ("刘组长", "换成刘组长的openid", "13800000004", "植保队", "病虫害", "", "青川县",
             "是", "是"),
        ),
    ),
    "duty": (
        ("openid", "开始", "结束"),
        (
            ("换成王植保关注公众号后的openid", "2026-12-07 08:00", "2026-12-07 18:00"),
            ("换成李栽培的openid", "2026-12-07 08:00", "2026-12-07 18:00"),
            ("换成张畜牧的openid", "2026-12-07 08:00", "2026-12-08 08:00"),
        ),
    ),
    "places": (
        ("县", "乡镇", "村", "相邻乡镇"),
        (
            ("青川县", "木鱼镇", "石坝村", ""),
            ("青川县", "木鱼镇", "马园村", ""),
            ("青川县", "木鱼镇", "", "城关镇"),
            ("青川县", "城关镇", "东河村", ""),
        ),
    ),
}  # fmt: skip


def sample_file(kind: str, fmt: str) -> bytes:
    """A sample sheet to fill in (`kind` of SAMPLES; `fmt` csv or xlsx)."""
    from bot.files.spreadsheet import write_csv, write_xlsx_row

    header, rows = SAMPLES[kind]
    output = io.BytesIO()
    if fmt == "csv":
        write_csv(output, header, rows)
        return output.getvalue()
    import xlsxwriter

    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    sheet = workbook.add_worksheet("导入")
    bold = workbook.add_format({"bold": True})
    write_xlsx_row(sheet, 0, header, bold)
    for number, row in enumerate(rows, start=1):
        write_xlsx_row(sheet, number, row)
    sheet.set_column(0, len(header) - 1, 16)
    workbook.close()
    return output.getvalue()
