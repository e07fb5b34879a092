"""Importing experts, the duty rota and places from CSV or XLSX files.

Each row is checked on its own: bad rows are reported with their line number and
the rest is imported. Re-importing updates what is there and never duplicates it.
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
            f"{noun}: {self.created} new, {self.updated} updated, {self.unchanged} already "
            f"known, {len(self.errors)} bad rows"
        )
        return "\n".join([text, *(f"  {error}" for error in self.errors)])


def read_rows(
    path: Path, required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """Yield (line number, row, what is wrong with it or None) from a CSV or XLSX file
    with a header row. A cell over MAX_CELL characters or with control characters
    makes its row bad; the caller reports it and goes on."""
    if not path.exists():
        raise ImportFileError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        rows = _xlsx_rows(path)
    elif suffix in (".csv", ".txt"):
        rows = _csv_rows(path)
    else:
        raise ImportFileError(f"{path.name}: use a .csv or .xlsx file")
    try:
        header = [cell.strip().lower() for cell in next(rows)]
    except StopIteration as error:
        raise ImportFileError(f"{path.name} is empty") from error
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(f"{path.name} lacks the columns: {', '.join(missing)}")
    for number, cells in enumerate(rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        padded = [*cells, *[""] * (len(header) - len(cells))]
        row = {name: value.strip() for name, value in zip(header, padded, strict=False)}
        problem = None
        if any(len(cell) > MAX_CELL for cell in cells):
            problem = f"a cell is longer than {MAX_CELL} characters"
        elif any(_CONTROL.search(cell) for cell in cells):
            problem = "a cell holds a control character (such as NUL)"
        yield number, row, problem


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
    raise ImportFileError(f"{path.name}: cannot tell the encoding; save it as UTF-8 CSV")


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise ImportFileError(f"{path.name} is not a readable XLSX file: {error}") from error
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
            report.errors.append(f"line {line}: {bad}")
            continue
        problems = [
            f"{name} is longer than {limit} characters"
            for name, limit in _LIMITS.items()
            if len(row[name]) > limit
        ]
        if not row["openid"]:
            problems.append("openid is empty")
        elif row["openid"] in seen:
            problems.append(f"openid {row['openid']} is already on line {seen[row['openid']]}")
        if not row["name"]:
            problems.append("name is empty")
        specialties = []
        for value in split_values(row["specialties"]):
            code = SPECIALTY_NAMES.get(value.lower())
            if code is None:
                problems.append(f"unknown specialty {value!r}")
            elif code not in specialties:
                specialties.append(code)
        if not specialties and not problems:
            problems.append("no specialty given")
        leader_text = row.get("leader", "").lower()
        if leader_text not in _YES | _NO:
            problems.append(f"leader must be 是/否 (yes/no), not {row.get('leader')!r}")
        active_text = row.get("active", "是").lower() or "是"
        if active_text not in _YES | _NO:
            problems.append(f"active must be 是/否 (yes/no), not {row.get('active')!r}")
        listed = split_values(row["crops"]) + split_values(row["regions"])
        if any(len(value) > _LIST_ITEM_LIMIT for value in listed):
            problems.append(f"a crop or region is longer than {_LIST_ITEM_LIMIT} characters")
        if row["openid"] and row["openid"] not in seen:
            seen[row["openid"]] = line
        if problems:
            report.errors.append(f"line {line}: {'; '.join(problems)}")
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
            report.errors.append(f"line {line}: the database refused it ({type(error).__name__})")
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
            report.errors.append(f"line {line}: {bad}")
            continue
        expert = get_expert(session=session, openid=row["openid"])
        try:
            start = _local_time(row["start"], tz)
            end = _local_time(row["end"], tz)
        except ValueError as error:
            report.errors.append(f"line {line}: {error}")
            continue
        if expert is None:
            report.errors.append(
                f"line {line}: no expert with openid {row['openid']!r} (import experts first)"
            )
            continue
        if end <= start:
            report.errors.append(f"line {line}: end {row['end']} is not after start")
            continue
        if end - start > LONGEST_SHIFT:
            report.errors.append(
                f"line {line}: a shift may last at most {LONGEST_SHIFT.days} days "
                f"({row['start']} to {row['end']})"
            )
            continue
        clash = _overlapping_shift(session, expert.id or 0, start, end)
        if clash is not None:
            report.errors.append(
                f"line {line}: overlaps {expert.name}'s shift "
                f"{clash.start.astimezone(tz):%Y-%m-%d %H:%M} – {clash.end.astimezone(tz):%H:%M}"
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


def _local_time(text: str, tz: ZoneInfo) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not an ISO 8601 time like 2026-11-23T08:00") from error
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"{text!r} is not between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def import_places(session: Session, path: Path) -> ImportReport:
    """Add places from county,township,village (township and village may be empty).

    An optional `neighbours` column on a township's row lists the townships of the same
    county that border it, separated by 、 , ; or spaces (outbreaks reach across)."""
    report = ImportReport()
    for line, row, bad in read_rows(path, ("county", "township", "village")):
        if bad:
            report.errors.append(f"line {line}: {bad}")
            continue
        too_long = [n for n in ("county", "township", "village") if len(row[n]) > _PLACE_LIMIT]
        if too_long:
            report.errors.append(
                f"line {line}: {', '.join(too_long)} longer than {_PLACE_LIMIT} characters"
            )
            continue
        if not row["county"]:
            report.errors.append(f"line {line}: county is empty")
            continue
        if row["village"] and not row["township"]:
            report.errors.append(f"line {line}: a village needs its township")
            continue
        neighbours = [n for n in _NEIGHBOUR_SPLIT.split(row.get("neighbours", "")) if n]
        if neighbours and (row["village"] or not row["township"]):
            report.errors.append(f"line {line}: only a township's row lists neighbours")
            continue
        if any(len(n) > _PLACE_LIMIT for n in neighbours):
            report.errors.append(
                f"line {line}: a neighbour is longer than {_PLACE_LIMIT} characters"
            )
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
