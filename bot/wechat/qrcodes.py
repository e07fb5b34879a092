"""Each village's permanent QR code (scene `village:<place id>`), made once and kept."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session, col, select

from bot.files.posters import VillagePoster
from bot.wechat.api import WeChatAPI
from handlers.events import VILLAGE_SCENE_PREFIX
from models.tables import Place

log = logging.getLogger(__name__)


def villages(session: Session, township: str | None = None) -> list[Place]:
    """The villages of the place hierarchy (of one township), by township and name."""
    statement = select(Place).where(Place.village != "")
    if township:
        statement = statement.where(Place.township == township)
    return list(session.exec(statement.order_by(col(Place.township), col(Place.village))))


def village_posters(
    session: Session,
    api: WeChatAPI,
    places: list[Place],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[VillagePoster]:
    """Every village's poster content, asking WeChat only for codes not made before.

    Each new code is committed at once, so an interrupted run goes on where it stopped
    and never spends WeChat's quota (100,000 permanent codes) twice on a village. No
    transaction is open while WeChat is asked (the token may need writing meanwhile).
    """
    session.commit()
    posters = []
    for done, place in enumerate(places, 1):
        if place.qr_url is None:
            place.qr_url = api.create_permanent_qrcode(f"{VILLAGE_SCENE_PREFIX}{place.id}")
            session.add(place)
            session.commit()
            log.info("made the QR code of %s%s", place.township, place.village)
        posters.append(VillagePoster(place.township, place.village, place.qr_url))
        if progress is not None:
            progress(done)
    return posters
