"""Advisories (事前主动): staff warn farmers before a problem reaches them.

Who gets one: farmers who follow the account, did not reply 退订, and whose requests
or stated place lie in the chosen township or village and (if a crop is chosen)
asked about that crop — or everyone. How it goes out keeps to WeChat's rules: a
customer-service message inside the farmer's 48 h window, a template message
outside it when WECHAT_TEMPLATE_ADVISORY is set, otherwise it waits (held) and goes
with the farmer's next message. Every message is an outbox row tied to the advisory,
so its progress is counted from the rows; nobody gets one advisory twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.routing import PlaceParts, resolve_place
from models.outbox import enqueue
from models.tables import Advisory, Farmer, HelpRequest, Outbox

STOP_WORDS = {"退订", "取消订阅", "不要通知", "别发了"}
START_WORDS = {"订阅", "恢复订阅"}


class AdvisoryRefused(Exception):
    """The advisory cannot be sent as asked; the message says why, in Chinese."""


def audience(
    session: Session,
    *,
    crop: str | None,
    township: str | None,
    village: str | None,
    everyone: bool,
) -> list[Farmer]:
    """The farmers an advisory with these choices reaches."""
    farmers = list(
        session.exec(
            select(Farmer).where(
                Farmer.subscribed == True,  # noqa: E712
                Farmer.advisories == True,  # noqa: E712
                col(Farmer.last_message_at).is_not(None),
            )
        )
    )
    if everyone:
        return farmers
    if not (township or village):
        raise AdvisoryRefused("请选乡镇或村（或选择发给所有关注的农户）")
    places: dict[str, PlaceParts] = {}

    def where(place: str | None) -> PlaceParts:
        if place not in places:
            places[place or ""] = resolve_place(session, place)
        return places[place or ""]

    def inside(place: str | None) -> bool:
        if not place:
            return False
        parts = where(place)
        if village:
            return parts.village == village or village in place
        return parts.township == township or bool(township and township in place)

    requests: dict[int, list[HelpRequest]] = {}
    for request in session.exec(select(HelpRequest)):
        requests.setdefault(request.farmer_id, []).append(request)
    chosen = []
    for farmer in farmers:
        own = requests.get(farmer.id or 0, [])
        grows = not crop or any(r.crop == crop for r in own)
        placed = inside(farmer.place) or any(inside(r.place) for r in own)
        if grows and placed:
            chosen.append(farmer)
    return chosen


def send_advisory(
    session: Session, *, advisory: Advisory, config: Policy, now: datetime
) -> Counter[str]:
    """Queue the advisory for its audience; return how many went which way."""
    if advisory.sent_at is not None:
        raise AdvisoryRefused("这条通知已经发过了")
    assert advisory.id is not None
    people = audience(
        session,
        crop=advisory.crop,
        township=advisory.township,
        village=advisory.village,
        everyone=advisory.everyone,
    )
    content = texts.ADVISORY.format(title=advisory.title, body=advisory.body)
    ways: Counter[str] = Counter()
    for farmer in people:
        in_window = notify.in_service_window(farmer.last_message_at, now)
        if in_window or not config.advisory_template:
            row = enqueue(
                session=session,
                openid=farmer.openid,
                payload=notify.text_payload(content),
                now=now,
                purpose="advisory",
            )
            if not in_window:
                row.status = "held"  # goes with the farmer's next message
            ways["custom" if in_window else "held"] += 1
        else:
            row = enqueue(
                session=session,
                openid=farmer.openid,
                payload=notify.template_message(
                    config.advisory_template,
                    keys=config.advisory_keys,
                    values=[advisory.title, advisory.body],
                    # The whole text, and 退订 as a button.
                    url=notify.farmer_link(config, "advisory", a=advisory.id, f=farmer.id or 0),
                ),
                now=now,
                purpose="advisory",
                kind="template",
            )
            ways["template"] += 1
        row.advisory_id = advisory.id
    advisory.sent_at, advisory.recipients = now, len(people)
    return ways


def progress(session: Session, *, advisory_id: int) -> dict[str, object]:
    """Queued, held, sent, dropped and failed (with reasons) for one advisory."""
    rows = list(session.exec(select(Outbox).where(Outbox.advisory_id == advisory_id)))
    states = Counter(row.status for row in rows)
    reasons = Counter(row.last_error or "" for row in rows if row.status == "failed")
    failed = [(row.openid, row.last_error or "") for row in rows if row.status == "failed"]
    return {"states": dict(states), "reasons": dict(reasons), "failed": failed, "total": len(rows)}


def change_subscription(farmer: Farmer, words: str) -> str | None:
    """退订 / 订阅: advisories off or on (help requests unaffected); None: not that."""
    if words in STOP_WORDS:
        farmer.advisories = False
        return texts.UNSUBSCRIBED_ADVISORIES
    if words in START_WORDS:
        farmer.advisories = True
        return texts.SUBSCRIBED_ADVISORIES
    return None
