"""The prescription (处方) an expert writes on the workbench: its form fields, the units
that fit its subject, the text the farmer reads, and the visit's photos."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app, request
from sqlmodel import Session

from bot.files.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoRefused, shrink_photo
from handlers.config import Policy
from handlers.prescriptions import current_rules, dose_problem, missing_interval, refusal
from models.requests import lock_request
from models.tables import Expert, HelpRequest, MediaFile, Message

PRODUCT_FIELDS = ("product", "dose", "unit", "dilution", "method", "timing", "interval")
PRODUCT_ROWS = 3
# What a dose is counted per, by subject: a field, an animal, a pond.
DOSE_UNITS = {
    "plant": ("每亩", "每株", "每桶水（15 公斤）"),
    "animal": ("每头", "每只", "每公斤体重", "每吨饲料"),
    "water": ("每亩水面", "每立方米水体", "每公斤鱼体重"),
}
MIXING = {"plant": "兑水", "animal": "兑水或拌料", "water": "兑水"}


def subject_of(found: HelpRequest) -> str:
    """Whether a request is about a crop, an animal or a pond (for the prescription's units)."""
    from handlers.understanding import ANIMAL_GROUPS, default_parser

    group = default_parser().lexicon.crop_groups.get(found.crop or "", "")
    kind = ANIMAL_GROUPS.get(group) or found.category
    return {"livestock": "animal", "aquaculture": "water"}.get(kind, "plant")


def dose_units(found: HelpRequest) -> tuple[str, ...]:
    """The units a dose can be written in for this request, the usual one first."""
    return DOSE_UNITS[subject_of(found)]


def prescription_of(form: Any, units: tuple[str, ...] = DOSE_UNITS["plant"]) -> dict[str, Any]:
    """The structured prescription from the form (a unit not offered becomes the usual one)."""
    items = []
    for row in range(PRODUCT_ROWS):
        item = {name: form.get(f"{name}{row}", "").strip()[:100] for name in PRODUCT_FIELDS}
        if item["unit"] not in units:
            item["unit"] = units[0]
        if item["product"]:
            items.append(item)
    return {
        "diagnosis": form.get("diagnosis", "").strip()[:500],
        "items": items,
        "advice": form.get("advice", "").strip()[:500],
    }


def unsafe_prescription(form: Any, found: HelpRequest, config: Policy) -> str | None:
    """Why the form's prescription may not be sent (a banned or barred product, an
    unchecked absurd dose, no safety interval for a sprayed crop), or None. Only the
    product rows are checked for pesticides: the diagnosis may name one that did harm."""
    units = dose_units(found)
    items = prescription_of(form, units)["items"]
    if not form.get("dose_checked"):
        for number, item in enumerate(items, start=1):
            problem = dose_problem(item["dose"], item["unit"], row=number)
            if problem:
                return problem
    rules = current_rules(Path(config.instance_dir) if config.instance_dir else None)
    crop, category = found.crop, found.category
    for item in items:
        row = f"{item['product']} {item['method']} 安全间隔期 {item['interval']}"
        unsafe = refusal(
            item["product"], crop=crop, category=category, rules=rules
        ) or missing_interval(row, crop=crop, category=category, rules=rules, typed=False)
        if unsafe:
            return unsafe
    return None


def prescription_text(form: Any, units: tuple[str, ...] = DOSE_UNITS["plant"]) -> str:
    """The prescription as the farmer reads it (empty without a diagnosis)."""
    found = prescription_of(form, units)
    if not found["diagnosis"]:
        return ""
    mixing = next(MIXING[kind] for kind, offered in DOSE_UNITS.items() if offered == units)
    lines = [found["diagnosis"]]
    for number, item in enumerate(found["items"], start=1):
        parts = [item["product"]]
        parts += [
            f"{item['unit']} {item['dose']}" if item["dose"] else "",
            f"{mixing} {item['dilution']}" if item["dilution"] else "",
        ]
        parts += [item["method"], item["timing"]]
        if item["interval"]:
            parts.append(f"安全间隔期 {item['interval']}")
        lines.append(f"用药{number}：" + "，".join(p for p in parts if p))
    if found["advice"]:
        lines.append(f"后续：{found['advice']}")
    return "\n".join(lines)


def visit_photos() -> list[bytes]:
    """The uploaded visit photos, shrunk; PhotoRefused names the first that cannot be kept."""
    uploads = [u for u in request.files.getlist("photos") if u.filename or u.content_length]
    if len(uploads) > MAX_PHOTOS:
        raise PhotoRefused(f"最多传 {MAX_PHOTOS} 张照片，这次选了 {len(uploads)} 张")
    return [shrink_photo(u.read(MAX_PHOTO_BYTES + 1), u.filename or "") for u in uploads]


def prescription_keeper(
    request_id: int, expert_id: int | None, form: Any, photos: list[bytes]
) -> Callable[[Session, datetime], str]:
    """What `完成` from the form also keeps, in the command's own transaction."""

    def keep(db: Session, now: datetime) -> str:
        # Authorised here, on the locked row: only the expert who holds the request
        # and recorded its visit in this very transaction writes the prescription.
        found = lock_request(session=db, request_id=request_id)
        if found.expert_id != expert_id or found.status != "visited" or found.visited_at != now:
            return ""
        found.prescription = prescription_of(form, dose_units(found))
        stored = _store_visit_photos(db, found, now, photos)
        return f"（{stored} 张现场照片已存）" if stored else ""

    return keep


def _store_visit_photos(db: Session, found: HelpRequest, now: datetime, photos: list[bytes]) -> int:
    """Photos from the visit, kept like the farmer's (files and media rows)."""
    media_dir: Path = current_app.extensions["farmhelp.settings"].media_dir
    holder = db.get(Expert, found.expert_id)
    openid = holder.openid if holder is not None else ""
    for content in photos:
        message = Message(
            direction="in",
            channel="workbench",
            openid=openid,
            request_id=found.id,
            msg_type="image",
            content="现场照片",
            payload={"via": "workbench"},
            status="handled",
            created_at=now,
        )
        db.add(message)
        db.flush()
        assert message.id is not None
        media = MediaFile(
            media_id=f"visit-{message.id}",
            kind="image",
            message_id=message.id,
            request_id=found.id,
            status="stored",
            content_type="image/jpeg",
            size=len(content),
            created_at=now,
            stored_at=now,
        )
        db.add(media)
        db.flush()
        path = media_dir / str(found.code) / f"{media.id}-visit.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        media.path = str(path)
    return len(photos)
