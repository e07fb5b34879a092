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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_
from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from models.experts import place_book
from models.outbox import enqueue_rows, queued_row
from models.tables import Advisory, Farmer, HelpRequest, Outbox

STOP_WORDS = {"退订", "取消订阅", "不要通知", "别发了"}
START_WORDS = {"订阅", "恢复订阅"}


class AdvisoryRefused(Exception):
    """The advisory cannot be sent as asked; the message says why, in Chinese."""


@dataclass(frozen=True)
class Recipient:
    """A farmer an advisory reaches: what sending it needs, not their whole row."""

    id: int
    openid: str
    last_message_at: datetime | None


def audience_query(
    session: Session,
    *,
    crop: str | None,
    township: str | None,
    village: str | None,
    everyone: bool,
) -> Select[tuple[int, str, datetime | None]]:
    """The farmers an advisory with these choices reaches, as one query (a county's
    hundred thousand farmers are counted and read by the database, not in Python).

    A farmer is inside the chosen village when their stated place or one of their
    requests' places names it (or the request was settled there); inside the chosen
    township when one of those names the township or one of its villages.
    """
    statement = select(Farmer.id, Farmer.openid, Farmer.last_message_at).where(
        Farmer.subscribed == True,  # noqa: E712
        Farmer.advisories == True,  # noqa: E712
        col(Farmer.last_message_at).is_not(None),
    )
    if everyone:
        return statement  # type: ignore[return-value]
    if not (township or village):
        raise AdvisoryRefused("请选乡镇或村（或选择发给所有关注的农户）")
    if village:
        names = [village]
        settled = col(HelpRequest.village) == village
    else:
        assert township is not None
        book = place_book(session=session).places
        names = [township, *sorted({p.village for p in book if p.township == township} - {""})]
        settled = col(HelpRequest.township) == township
    farmer_there = or_(*(col(Farmer.place).contains(name, autoescape=True) for name in names))
    request_there = or_(
        settled, *(col(HelpRequest.place).contains(name, autoescape=True) for name in names)
    )
    own = col(HelpRequest.farmer_id) == col(Farmer.id)
    statement = statement.where(
        or_(farmer_there, select(HelpRequest.id).where(own, request_there).exists())
    )
    if crop:
        statement = statement.where(
            select(HelpRequest.id).where(own, HelpRequest.crop == crop).exists()
        )
    return statement  # type: ignore[return-value]


def audience_count(
    session: Session,
    *,
    crop: str | None,
    township: str | None,
    village: str | None,
    everyone: bool,
) -> int:
    """How many farmers the advisory reaches (the console's preview)."""
    reached = audience_query(
        session, crop=crop, township=township, village=village, everyone=everyone
    ).subquery()
    return int(session.execute(select(func.count()).select_from(reached)).scalar_one())


def audience(
    session: Session,
    *,
    crop: str | None,
    township: str | None,
    village: str | None,
    everyone: bool,
) -> list[Recipient]:
    """The farmers an advisory with these choices reaches."""
    statement = audience_query(
        session, crop=crop, township=township, village=village, everyone=everyone
    )
    return [Recipient(*row) for row in session.execute(statement.order_by(col(Farmer.id)))]


# Outbox rows an advisory writes per transaction. The send writes the first batch (a
# village's advisory is queued whole at once); the scheduler writes the rest, pausing
# between batches so that a county-wide one leaves the webhook its share of the machine.
QUEUE_BATCH = 2000


def send_advisory(
    session: Session, *, advisory: Advisory, config: Policy, now: datetime
) -> Counter[str]:
    """Count the advisory's audience, mark it sent and queue its first batch; return how
    many of that batch went which way (`queue_batch` writes the rest)."""
    if advisory.sent_at is not None:
        raise AdvisoryRefused("这条通知已经发过了")
    assert advisory.id is not None
    advisory.recipients = audience_count(
        session,
        crop=advisory.crop,
        township=advisory.township,
        village=advisory.village,
        everyone=advisory.everyone,
    )
    advisory.sent_at = now
    return queue_batch(session, advisory=advisory, config=config, now=now)


def queue_batch(
    session: Session, *, advisory: Advisory, config: Policy, now: datetime
) -> Counter[str]:
    """Write the outbox rows of the advisory's next QUEUE_BATCH farmers (by farmer id,
    after the last one written), in one plain INSERT; the advisory is queued when a
    batch comes back short. Each farmer is written once: the place reached is stored
    with the rows, in the same transaction."""
    assert advisory.id is not None and advisory.queued_at is None
    statement = audience_query(
        session,
        crop=advisory.crop,
        township=advisory.township,
        village=advisory.village,
        everyone=advisory.everyone,
    )
    people = [
        Recipient(*row)
        for row in session.execute(
            statement.where(col(Farmer.id) > advisory.queued_through)
            .order_by(col(Farmer.id))
            .limit(QUEUE_BATCH)
        )
    ]
    custom = notify.text_payload(texts.ADVISORY.format(title=advisory.title, body=advisory.body))
    # One payload for all: each farmer's own link (the whole text, 退订 as a button) is
    # signed by the deliverer as it sends the row (scheduler/outbox.py), which keeps a
    # hundred thousand signatures out of the queueing and starts each link's age then.
    template = (
        notify.template_message(
            config.advisory_template,
            keys=config.advisory_keys,
            values=[advisory.title, advisory.body],
            url="",
        )
        if config.advisory_template
        else None
    )
    ways: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for farmer in people:
        in_window = notify.in_service_window(farmer.last_message_at, now)
        if in_window or not config.advisory_template:
            kind, payload = "custom", custom
            # Outside the window without a template it goes with the farmer's next message.
            status = "pending" if in_window else "held"
            ways["custom" if in_window else "held"] += 1
        else:
            assert template is not None
            kind, status, payload = "template", "pending", template
            ways["template"] += 1
        rows.append(
            queued_row(
                openid=farmer.openid,
                kind=kind,
                payload=payload,
                purpose="advisory",
                status=status,
                now=now,
                advisory_id=advisory.id,
            )
        )
    enqueue_rows(session, rows)
    advisory.queued += len(people)
    if people:
        advisory.queued_through = people[-1].id
    if len(people) < QUEUE_BATCH:
        advisory.queued_at = now
    return ways


def advisories_to_queue(session: Session) -> list[int]:
    """Advisories sent whose outbox rows are not all written yet, oldest first."""
    waiting = session.exec(
        select(Advisory.id)
        .where(col(Advisory.sent_at).is_not(None), col(Advisory.queued_at).is_(None))
        .order_by(col(Advisory.id))
    )
    return [advisory_id for advisory_id in waiting if advisory_id is not None]


def progress(session: Session, *, advisory_id: int) -> dict[str, object]:
    """Queued, held, sent, dropped and failed (with reasons) for one advisory, counted
    by the database; the failed farmers listed up to FAILED_LISTED."""
    mine = Outbox.advisory_id == advisory_id
    states = {
        str(status): int(count)
        for status, count in session.execute(
            select(Outbox.status, func.count()).where(mine).group_by(col(Outbox.status))
        )
    }
    failed_rows = [mine, Outbox.status == "failed"]
    reasons = {
        str(reason or ""): int(count)
        for reason, count in session.execute(
            select(Outbox.last_error, func.count())
            .where(*failed_rows)
            .group_by(col(Outbox.last_error))
        )
    }
    failed = [
        (str(openid), str(error or ""))
        for openid, error in session.execute(
            select(Outbox.openid, Outbox.last_error)
            .where(*failed_rows)
            .order_by(col(Outbox.id))
            .limit(FAILED_LISTED)
        )
    ]
    return {"states": states, "reasons": reasons, "failed": failed, "total": sum(states.values())}


FAILED_LISTED = 200


def change_subscription(farmer: Farmer, words: str) -> str | None:
    """退订 / 订阅: advisories off or on (help requests unaffected); None: not that."""
    if words in STOP_WORDS:
        farmer.advisories = False
        return texts.UNSUBSCRIBED_ADVISORIES
    if words in START_WORDS:
        farmer.advisories = True
        return texts.SUBSCRIBED_ADVISORIES
    return None
