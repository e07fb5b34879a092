"""Experts' loads: the counts and the median time to accept the database works out are
those of the offers themselves, worked out one by one."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from models.tables import Expert, Farmer, HelpRequest, Offer
from models.workload import expert_loads, week_and_month

TZ = ZoneInfo("Asia/Shanghai")


def test_accepted_counts_and_median_minutes_are_those_of_the_offers(session: Session) -> None:
    # A Wednesday: this week began in the month before, so the week and the month differ.
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    week, month = week_and_month(now, TZ)
    assert week < month
    experts = [Expert(openid=f"exp-{n}", name=f"专家{n}") for n in range(5)]
    farmer = Farmer(openid="farmer-1")
    session.add_all([*experts, farmer])
    session.flush()
    request = HelpRequest(farmer_id=farmer.id, text="辣椒叶子发黄")
    session.add(request)
    session.flush()
    chance = random.Random(7)
    offers = []
    for _ in range(120):
        expert = chance.choice(experts[:4])  # the fifth accepted nothing
        answered = now - timedelta(minutes=chance.randrange(-600, 20 * 24 * 60))
        waited = timedelta(seconds=chance.choice([0, 30, 90, 600, 3600, 7200, 86400 + 17]))
        status = chance.choice(["accepted", "accepted", "accepted", "declined"])
        offers.append(
            Offer(
                request_id=request.id, expert_id=expert.id, status=status,
                offered_at=answered - waited, answered_at=answered,
            )
        )  # fmt: skip
    # Ties, for one expert, among this month's accepted offers.
    for minutes in (10, 20, 20, 40):
        answered = now - timedelta(hours=1)
        offers.append(
            Offer(
                request_id=request.id, expert_id=experts[0].id, status="accepted",
                offered_at=answered - timedelta(minutes=minutes), answered_at=answered,
            )
        )  # fmt: skip
    session.add_all(offers)
    session.commit()

    loads = {load.expert.openid: load for load in expert_loads(session, now=now, tz=TZ)}
    for expert in experts:
        mine = [
            o
            for o in offers
            if o.expert_id == expert.id and o.status == "accepted" and o.answered_at <= now
        ]
        in_week = [o for o in mine if o.answered_at >= week]
        in_month = [o for o in mine if o.answered_at >= month]
        waits = [(o.answered_at - o.offered_at).total_seconds() / 60 for o in in_month]
        load = loads[expert.openid]
        assert (load.accepted_week, load.accepted_month) == (len(in_week), len(in_month))
        if waits:
            # Exact: a median of 37.5 minutes must not come out 37.4999 (shown as 37).
            expected = statistics.median(waits)
            assert load.median_minutes_to_accept == pytest.approx(expected, abs=1e-9)
        else:
            assert load.median_minutes_to_accept is None
    assert loads["exp-4"].accepted_month == 0 and loads["exp-4"].median_minutes_to_accept is None
