"""The demo's county as a visitor meets it: past cases handled by experts who could have
taken them, and photos that look like leaves and a pig rather than flat squares."""

from __future__ import annotations

import io

from PIL import Image
from sqlmodel import Session, select

from bot.web.demo.photos import PHOTOS, photo_bytes
from bot.web.demo.seed import seed_demo
from handlers.routing import qualifies
from models.tables import Expert, HelpRequest, utcnow


def test_every_past_case_was_handled_by_an_expert_routing_would_offer_it_to(
    session: Session,
) -> None:
    seed_demo(session, now=utcnow(), timezone="Asia/Shanghai")
    session.commit()
    past = list(session.exec(select(HelpRequest).where(HelpRequest.status == "closed")))
    assert len(past) == 30
    categories = set()
    for request in past:
        expert = session.get(Expert, request.expert_id)
        assert expert is not None
        assert qualifies(expert, request), (request.crop, request.category, expert.name)
        categories.add(request.category)
    assert {"plant_protection", "livestock", "aquaculture", "soil_fertilizer"} <= categories


def test_the_demo_photos_are_pictures_of_what_they_name() -> None:
    def share(image: Image.Image, test: object) -> float:
        raw = image.tobytes()
        pixels = [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]
        return sum(1 for p in pixels if test(*p)) / len(pixels)  # type: ignore[operator]

    for name, (shows, _colour) in PHOTOS.items():
        image = Image.open(io.BytesIO(photo_bytes(name))).convert("RGB")
        assert image.size == (480, 360)
        colours = image.getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 500, (name, shows)  # not a flat square
        green = share(image, lambda r, g, b: g > r + 15 and g > b + 15)
        yellow = share(image, lambda r, g, b: r > 150 and g > 130 and b < 110)
        pink = share(image, lambda r, g, b: r > 200 and 130 < g < 200 and 120 < b < 190)
        found = {"green": green, "yellow": yellow, "pink": pink}
        if name == "green-leaf":
            assert green > 0.2 and yellow < 0.001, found
        elif name == "yellow-leaf":
            assert yellow > 0.08 and green > 0.05, found
        elif name == "spotted-leaf":
            assert green > 0.15 and 0.002 < yellow < 0.05, found  # lesions with yellow halos
        else:
            assert pink > 0.12 and green < 0.01, found
