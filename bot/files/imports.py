"""Importing experts, the duty rota and places from CSV or XLSX files.

Each row is checked on its own: bad rows are reported in Chinese with their line
number (第 3 行：…) and the rest is imported. Re-importing updates what is there and
never duplicates it. Columns may be headed in English (name, openid …) or as a county
keeps its sheets (姓名、电话、队、专业、作物、地区、组长、在岗; 开始、结束; 县、乡镇、村).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from handlers.understanding import default_parser, normalise
from models.experts import add_shift, get_expert, upsert_expert, upsert_place
from models.tables import DutyShift, Place

SPECIALTY_NAMES = {
    "plant_protection": "plant_protection",
    "病虫害": "plant_protection",
    "植保": "plant_protection",
    "植物保护": "plant_protection",
    "病虫害防治": "plant_protection",
    "cultivation": "cultivation",
    "栽培管理": "cultivation",
    "栽培": "cultivation",
    "种植": "cultivation",
    "soil_fertilizer": "soil_fertilizer",
    "土壤肥料": "soil_fertilizer",
    "土肥": "soil_fertilizer",
    "土壤": "soil_fertilizer",
    "肥料": "soil_fertilizer",
    "livestock": "livestock",
    "畜牧兽医": "livestock",
    "畜牧": "livestock",
    "兽医": "livestock",
    "aquaculture": "aquaculture",
    "水产": "aquaculture",
    "水产养殖": "aquaculture",
    "machinery": "machinery",
    "农机": "machinery",
    "农业机械": "machinery",
    "market": "market",
    "销售市场": "market",
    "市场": "market",
    "销售": "market",
    "营销": "market",
    "other": "other",
    "其他": "other",
    "政策": "other",
}
# Chinese column headers as counties write them, and the column each one is.
HEADER_NAMES = {
    "姓名": "name", "名字": "name", "专家": "name", "专家姓名": "name",
    "微信openid": "openid", "微信 openid": "openid", "专家openid": "openid",
    "电话": "phone", "手机": "phone", "手机号": "phone", "联系电话": "phone",
    "队": "team", "服务队": "team", "所属队": "team", "所在队": "team",
    "专业": "specialties", "专业方向": "specialties",
    "作物": "crops", "作物/牲畜": "crops", "品种": "crops",
    "地区": "regions", "服务地区": "regions", "负责地区": "regions",
    "组长": "leader", "是否组长": "leader",
    "在岗": "active", "在用": "active", "是否在岗": "active",
    "开始": "start", "开始时间": "start", "结束": "end", "结束时间": "end",
    "县": "county", "县区": "county", "区县": "county",
    "乡镇": "township", "镇": "township", "乡": "township",
    "村": "village", "行政村": "village",
    "相邻乡镇": "neighbours", "邻近乡镇": "neighbours", "接壤乡镇": "neighbours",
}  # fmt: skip
# The columns' Chinese names, for messages.
COLUMN_NAMES = {
    "name": "姓名", "openid": "openid", "phone": "电话", "team": "队", "specialties": "专业",
    "crops": "作物", "regions": "地区", "leader": "组长", "active": "在岗", "start": "开始",
    "end": "结束", "county": "县", "township": "乡镇", "village": "村", "neighbours": "相邻乡镇",
}  # fmt: skip
SPECIALTY_CHOICES = "病虫害、栽培管理、土壤肥料、畜牧兽医、水产、农机、销售市场、其他"
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_YES = {"是", "yes", "y", "true", "1", "组长", "队长"}
_NO = {"否", "no", "n", "false", "0", ""}
_SPLIT = re.compile(r"[;；、]")
# What the expert table holds; longer cells are reported, not cut.
_LIMITS = {"name": 64, "openid": 64, "phone": 32, "team": 64}
_LIST_ITEM_LIMIT = 64
_PLACE_LIMIT = 64
_NEIGHBOUR_SPLIT = re.compile(r"[;；、,，\s]+")
# No cell of any import is longer; a longer one (a pasted document) makes its row bad.
MAX_CELL = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
LONGEST_SHIFT = timedelta(days=14)
# The csv module refuses fields over 128 KiB with an error that ends the whole file; let
# it read them (imports are capped at 20 MB), so that such a row is reported as bad.
csv.field_size_limit(32 * 1024 * 1024)


class ImportFileError(Exception):
    """The file cannot be read at all (missing, wrong format, missing columns)."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self, noun: str) -> str:
        text = (
            f"{noun}：新增 {self.created}，更新 {self.updated}，已有 {self.unchanged}，"
            f"有问题的行 {len(self.errors)}"
        )
        return "\n".join([text, *(f"  {error}" for error in self.errors)])


def read_rows(
    path: Path, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """Yield (line number, row, what is wrong with it or None) from a CSV or XLSX file
    with a header row. A cell over MAX_CELL characters or with control characters
    makes its row bad; the caller reports it and goes on."""
    if not path.exists():
        raise ImportFileError(f"找不到文件：{path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        rows = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        rows = _csv_rows(path)
    else:
        raise ImportFileError(f"{path.name}：请用 .csv 或 .xlsx 文件")
    try:
        header = [column_of(cell) for cell in next(rows)]
    except StopIteration as error:
        raise ImportFileError(f"{path.name} 是空的") from error
    missing = [name for name in required if name not in header]
    if missing:
        named = "、".join(f"{COLUMN_NAMES.get(n, n)}（{n}）" for n in missing)
        raise ImportFileError(f"{path.name} 缺少这些列：{named}")
    for number, cells in enumerate(rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        padded = [*cells, *[""] * (len(header) - len(cells))]
        row = {name: value.strip() for name, value in zip(header, padded, strict=False)}
        problem = None
        if any(len(cell) > MAX_CELL for cell in cells):
            problem = f"有一格超过 {MAX_CELL} 个字"
        elif any(_CONTROL.search(cell) for cell in cells):
            problem = "有一格里有看不见的控制字符（如 NUL）"
        yield number, row, problem


def column_of(header: str) -> str:
    """The column a header cell names: English as it is, Chinese through HEADER_NAMES."""
    text = header.strip().lstrip("\ufeff").strip("*＊ ")
    return HEADER_NAMES.get(text, HEADER_NAMES.get(text.lower(), text.lower()))


def line_error(line: int, problem: str) -> str:
    """A bad row as staff read it: 第 3 行：…"""
    return f"第 {line} 行：{problem}"


def _csv_rows(path: Path) -> Iterator[list[str]]:
    # newline="" keeps control characters inside cells (splitlines would cut at them),
    # so that their row is reported.
    yield from csv.reader(io.StringIO(decode_csv(path), newline=""))


def decode_csv(path: Path) -> str:
    """Read a CSV saved as UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode
    text") or GBK/GB18030 (Excel on Chinese Windows)."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(f"{path.name}：看不出文件的编码，请另存为 UTF-8 的 CSV")


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise ImportFileError(f"{path.name} 不是能打开的 Excel（.xlsx）文件：{error}") from error
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield ["" if cell is None else _cell_text(cell) for cell in row]
    finally:
        workbook.close()


def _cell_text(cell: object) -> str:
    if isinstance(cell, datetime):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def split_values(cell: str) -> list[str]:
    """Split a cell holding several values separated by ; or 、."""
    return [value.strip() for value in _SPLIT.split(cell) if value.strip()]


def import_experts(session: Session, path: Path) -> ImportReport:
    """Create or update experts from name,openid,phone,team,specialties,crops,regions
    [,leader][,active]; each row is checked and saved on its own."""
    report = ImportReport()
    parser = default_parser()
    required = ("name", "openid", "phone", "team", "specialties", "crops", "regions")
    seen: dict[str, int] = {}
    for line, row, bad in read_rows(path, required):
        if bad:
            report.errors.append(line_error(line, bad))
            continue
        problems = [
            f"{COLUMN_NAMES[name]}超过 {limit} 个字"
            for name, limit in _LIMITS.items()
            if len(row[name]) > limit
        ]
        if not row["openid"]:
            problems.append("openid 是空的")
        elif not _OPENID.fullmatch(row["openid"]):
            problems.append(
                f"openid“{row['openid']}”不像微信给的（一串英文字母、数字、- 和 _）："
                "请换成这位专家关注公众号后的 openid"
            )
        elif row["openid"] in seen:
            problems.append(f"openid {row['openid']} 和第 {seen[row['openid']]} 行重复")
        if not row["name"]:
            problems.append("姓名是空的")
        specialties = []
        for value in split_values(row["specialties"]):
            code = SPECIALTY_NAMES.get(value.lower())
            if code is None:
                problems.append(f"不认识的专业“{value}”（写 {SPECIALTY_CHOICES}）")
            elif code not in specialties:
                specialties.append(code)
        if not specialties and not problems:
            problems.append("没写专业")
        leader_text = row.get("leader", "").lower()
        if leader_text not in _YES | _NO:
            problems.append(f"组长一栏写 是 或 否，不是“{row.get('leader')}”")
        active_text = row.get("active", "是").lower() or "是"
        if active_text not in _YES | _NO:
            problems.append(f"在岗一栏写 是 或 否，不是“{row.get('active')}”")
        listed = split_values(row["crops"]) + split_values(row["regions"])
        if any(len(value) > _LIST_ITEM_LIMIT for value in listed):
            problems.append(f"有一个作物或地区超过 {_LIST_ITEM_LIMIT} 个字")
        if row["openid"] and row["openid"] not in seen:
            seen[row["openid"]] = line
        if problems:
            report.errors.append(line_error(line, "；".join(problems)))
            continue
        crops = [
            parser.find_crop(normalise(value)) or value for value in split_values(row["crops"])
        ]
        fields = {
            "name": row["name"],
            "phone": row["phone"] or None,
            "team": row["team"],
            "specialties": specialties,
            "crops": list(dict.fromkeys(crops)),
            "regions": split_values(row["regions"]),
            "leader": leader_text in _YES,
            "active": active_text in _YES,
        }
        existing = get_expert(session=session, openid=row["openid"])
        if existing is not None and all(getattr(existing, k) == v for k, v in fields.items()):
            report.unchanged += 1
            continue
        try:
            with session.begin_nested():
                _expert, created = upsert_expert(session=session, openid=row["openid"], **fields)
        except SQLAlchemyError as error:
            report.errors.append(
                line_error(line, f"数据库拒绝保存这一行（{type(error).__name__}）")
            )
            continue
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report


def import_duty(session: Session, path: Path, timezone: str) -> ImportReport:
    """Add shifts from openid,start,end (local ISO 8601 times unless they carry an offset)."""
    report = ImportReport()
    tz = ZoneInfo(timezone)
    for line, row, bad in read_rows(path, ("openid", "start", "end")):
        if bad:
            report.errors.append(line_error(line, bad))
            continue
        expert = get_expert(session=session, openid=row["openid"])
        try:
            start = _local_time(row["start"], tz)
            end = _local_time(row["end"], tz)
        except ValueError as error:
            report.errors.append(line_error(line, str(error)))
            continue
        if expert is None:
            report.errors.append(
                line_error(line, f"没有 openid 是“{row['openid']}”的专家（请先导入专家）")
            )
            continue
        if end <= start:
            report.errors.append(line_error(line, f"结束 {row['end']} 不在开始之后"))
            continue
        if end - start > LONGEST_SHIFT:
            report.errors.append(
                line_error(
                    line,
                    f"一个班最长 {LONGEST_SHIFT.days} 天（{row['start']} 到 {row['end']}）",
                )
            )
            continue
        clash = _overlapping_shift(session, expert.id or 0, start, end)
        if clash is not None:
            report.errors.append(
                line_error(
                    line,
                    f"和{expert.name}已有的班重叠（{clash.start.astimezone(tz):%Y-%m-%d %H:%M}"
                    f" 到 {clash.end.astimezone(tz):%Y-%m-%d %H:%M}）",
                )
            )
            continue
        with session.begin_nested():
            added = add_shift(session=session, expert=expert, start=start, end=end)
        if added:
            report.created += 1
        else:
            report.unchanged += 1
    return report


def _overlapping_shift(
    session: Session, expert_id: int, start: datetime, end: datetime
) -> DutyShift | None:
    """Another shift of the same expert that overlaps this one (the same one is fine)."""
    statement = select(DutyShift).where(
        DutyShift.expert_id == expert_id, DutyShift.start < end, DutyShift.end > start
    )
    for shift in session.exec(statement):
        if not (shift.start == start and shift.end == end):
            return shift
    return None


_CHINESE_TIME = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:\s*T?\s*(\d{1,2})\s*[:：点时]\s*(\d{1,2})?\s*分?)?(?:[:：](\d{1,2}))?"
)


def _local_time(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 time (2026-11-23T08:00) or one as people type it in a sheet
    (2026/11/23 8:00, 2026年11月23日 8点)."""
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        found = _CHINESE_TIME.fullmatch(text.strip().replace("T", " "))
        if found is None:
            raise ValueError(f"“{text}”不是时间，写成 2026-11-23 08:00 这样") from None
        year, month, day, hour, minute, second = (int(g or 0) for g in found.groups())
        midnight = (hour, minute, second) == (24, 0, 0)  # a shift "to 24:00" ends at midnight
        try:
            value = datetime(year, month, day, 0 if midnight else hour, minute, second)
        except ValueError:
            raise ValueError(f"“{text}”这个日期或时间不存在") from None
        value += timedelta(days=1) if midnight else timedelta()
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"“{text}”不在 {EARLIEST_YEAR} 到 {LATEST_YEAR} 年之间")
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def import_places(session: Session, path: Path) -> ImportReport:
    """Add places from county,township,village (township and village may be empty).

    An optional `neighbours` column on a township's row lists the townships of the same
    county that border it, separated by 、 , ; or spaces (outbreaks reach across)."""
    report = ImportReport()
    for line, row, bad in read_rows(path, ("county", "township", "village")):
        if bad:
            report.errors.append(line_error(line, bad))
            continue
        too_long = [n for n in ("county", "township", "village") if len(row[n]) > _PLACE_LIMIT]
        if too_long:
            named = "、".join(COLUMN_NAMES[n] for n in too_long)
            report.errors.append(line_error(line, f"{named}超过 {_PLACE_LIMIT} 个字"))
            continue
        if not row["county"]:
            report.errors.append(line_error(line, "县是空的"))
            continue
        if row["village"] and not row["township"]:
            report.errors.append(line_error(line, "写了村就要写它所在的乡镇"))
            continue
        neighbours = [n for n in _NEIGHBOUR_SPLIT.split(row.get("neighbours", "")) if n]
        if neighbours and (row["village"] or not row["township"]):
            report.errors.append(line_error(line, "只有乡镇那一行（村空着）才写相邻乡镇"))
            continue
        if any(len(n) > _PLACE_LIMIT for n in neighbours):
            report.errors.append(line_error(line, f"有一个相邻乡镇超过 {_PLACE_LIMIT} 个字"))
            continue
        known = (
            session.exec(
                select(Place).where(
                    Place.county == row["county"],
                    Place.township == row["township"],
                    Place.village == "",
                )
            ).first()
            if neighbours
            else None
        )
        before = list(known.neighbours) if known else []
        added = upsert_place(
            session=session,
            county=row["county"],
            township=row["township"],
            village=row["village"],
            neighbours=neighbours,
        )
        if added:
            report.created += 1
        elif known is not None and known.neighbours != before:
            report.updated += 1  # new neighbours for a known township
        else:
            report.unchanged += 1
    if report.created:
        from handlers.places import resolve_pending_places

        session.flush()
        resolve_pending_places(session)  # requests whose place was not known until now
    return report
