"""Choosing the expert for a request, offering it, and escalating when nobody takes it.

Candidates are active experts whose specialties cover the request's category (and
its crop, where an expert lists crops) and who have not declined or timed out on
it. Only experts on duty are paged; they are ranked by region closeness (village,
township, county, anywhere), then by how few requests they are working on. The
choice, the reason and the ranked alternatives are kept on the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from handlers import notify, texts
from handlers.config import Policy
from handlers.understanding import default_parser
from models.appends import append
from models.experts import Roster, RosterExpert, duty_roster, open_request_counts, place_book
from models.offers import offers_for, pending_offers_of_expert, record_event
from models.outbox import drop_pending
from models.requests import lock_request, requests_of_expert, unassigned_requests
from models.tables import Expert, Farmer, HelpRequest, Offer

REGION_TIERS = ("village", "township", "county", "anywhere")
TIER_NAMES = {"village": "同村", "township": "同乡镇", "county": "同县", "anywhere": "不限地区"}


@dataclass(frozen=True)
class Candidate:
    expert: RosterExpert
    on_duty: bool
    tier: str
    load: int

    @property
    def rank_key(self) -> tuple[bool, int, int, int]:
        return (not self.on_duty, REGION_TIERS.index(self.tier), self.load, self.expert.id)

    def describe(self) -> dict[str, object]:
        return {
            "openid": self.expert.openid,
            "name": self.expert.name,
            "team": self.expert.team,
            "on_duty": self.on_duty,
            "region": self.tier,
            "open_requests": self.load,
        }


@dataclass(frozen=True)
class PlaceParts:
    county: str | None = None
    township: str | None = None
    village: str | None = None


def resolve_place(session: Session, place: str | None) -> PlaceParts:
    """Find the most specific known place named in a request's place text."""
    if not place:
        return PlaceParts()
    best: PlaceParts = PlaceParts()
    for known in place_book(session=session).places:
        if known.village and known.village in place:
            return PlaceParts(known.county, known.township or None, known.village)
        if known.township and known.township in place and best.township is None:
            best = PlaceParts(known.county, known.township, None)
        elif known.county and known.county in place and best.county is None:
            best = PlaceParts(known.county, None, None)
    return best


def place_of(session: Session, request: HelpRequest) -> PlaceParts:
    """Where a request is: its resolved village and township, else what its words name."""
    return place_parts(
        session, village=request.village, township=request.township, place=request.place
    )


def place_parts(
    session: Session, *, village: str | None, township: str | None, place: str | None
) -> PlaceParts:
    """`place_of` for a request's three place columns (read without loading the row)."""
    if village or township:
        # Township names repeat across counties (城关镇): the village tells them apart.
        places = place_book(session=session).places
        county = next(
            (p.county for p in places if p.township == township and p.village == (village or "")),
            next((p.county for p in places if p.township == township), None),
        )
        return PlaceParts(county, township, village)
    return resolve_place(session, place)


def region_tier(expert: Expert | RosterExpert, parts: PlaceParts) -> str:
    """How close an expert's regions are to the request's place."""
    regions = set(expert.regions)
    if parts.village and parts.village in regions:
        return "village"
    if parts.township and parts.township in regions:
        return "township"
    if parts.county and parts.county in regions:
        return "county"
    return "anywhere"


def qualifies(expert: Expert | RosterExpert, request: HelpRequest) -> bool:
    """Whether an expert's specialties (and crops, if listed) cover the request."""
    if request.category not in expert.specialties:
        return False
    if not (expert.crops and request.crop):
        return True
    parser = default_parser()
    return any(parser.crops_match(request.crop, listed) for listed in expert.crops)


def rank_candidates(
    session: Session,
    request: HelpRequest,
    now: datetime,
    exclude: set[int] | None = None,
    roster: Roster | None = None,
) -> list[Candidate]:
    """Return the qualified experts not yet tried on this request, best first."""
    assert request.id is not None
    roster = roster or duty_roster(session=session)
    tried = set(exclude or ())
    if request.routing.get("history"):  # offers are made in rounds, each recorded there
        tried |= {
            offer.expert_id
            for offer in offers_for(session=session, request_id=request.id)
            if offer.status in ("declined", "timed_out", "undeliverable", "pending")
        }
    on_duty = roster.on_duty_ids(now)
    loads = open_request_counts(session=session)
    parts = place_of(session, request)
    candidates = [
        Candidate(expert, expert.id in on_duty, region_tier(expert, parts), loads.get(expert.id, 0))
        for expert in roster.experts
        if qualifies(expert, request) and expert.id not in tried
    ]
    return sorted(candidates, key=lambda candidate: candidate.rank_key)


def reassign_choices(
    session: Session, request: HelpRequest, now: datetime
) -> tuple[list[tuple[Candidate, bool]], list[Candidate]]:
    """The active experts staff may hand a request to: the qualified ones ranked as
    routing ranks them (each with whether they already declined or let it time out,
    those last), then the rest, who do not cover its category or crop."""
    assert request.id is not None
    roster = duty_roster(session=session)
    on_duty = roster.on_duty_ids(now)
    loads = open_request_counts(session=session)
    parts = place_of(session, request)
    tried = {
        offer.expert_id
        for offer in offers_for(session=session, request_id=request.id)
        if offer.status in ("declined", "timed_out", "undeliverable")
    }
    everyone = [
        Candidate(expert, expert.id in on_duty, region_tier(expert, parts), loads.get(expert.id, 0))
        for expert in roster.experts
        if expert.id != request.expert_id
    ]
    qualified = sorted(
        ((c, c.expert.id in tried) for c in everyone if qualifies(c.expert, request)),
        key=lambda pair: (pair[1], pair[0].rank_key),
    )
    others = sorted(
        (c for c in everyone if not qualifies(c.expert, request)), key=lambda c: c.rank_key
    )
    return qualified, others


def route_request(
    session: Session,
    *,
    request: HelpRequest,
    config: Policy,
    now: datetime,
    actor: str = "system",
    farmer: Farmer | None = None,
    exclude_expert_ids: set[int] | None = None,
    quiet: bool = False,
) -> list[int]:
    """Offer the request to the best on-duty expert (or a broadcast team's experts).

    With nobody left to offer it to, leaders and staff are alerted and the farmer
    is told (unless `quiet`: the caller's own reply tells them). Returns the ids of the
    experts it was offered to.
    """
    # Experts excluded once (e.g. the one a survey said did not solve it) stay excluded.
    exclude = set(exclude_expert_ids or ()) | set(request.routing.get("excluded", []))
    request.routing = {**request.routing, "excluded": sorted(exclude)}
    roster = duty_roster(session=session)
    ranked = rank_candidates(session, request, now, exclude, roster)
    paged = [candidate for candidate in ranked if candidate.on_duty]
    if not paged:
        escalate(
            session,
            request=request,
            config=config,
            now=now,
            ranked=ranked,
            farmer=farmer,
            tell_farmer=not quiet,
            roster=roster,
        )
        return []
    chosen = paged[0]
    broadcast = bool(chosen.expert.team) and chosen.expert.team in roster.broadcast_teams
    targets = [c for c in paged if c.expert.team == chosen.expert.team] if broadcast else [chosen]
    reason = f"{TIER_NAMES[chosen.tier]}、在值班、手上 {chosen.load} 单" + (
        "；团队抢单模式，同时发给在值班的队员" if broadcast else ""
    )
    return make_offers(
        session,
        request=request,
        experts=[target.expert for target in targets],
        reason=reason,
        config=config,
        now=now,
        actor=actor,
        broadcast=broadcast,
        alternatives=[c.describe() for c in ranked],
    )


def make_offers(
    session: Session,
    *,
    request: HelpRequest,
    experts: Sequence[Expert | RosterExpert],
    reason: str,
    config: Policy,
    now: datetime,
    actor: str,
    broadcast: bool = False,
    alternatives: list[dict[str, object]] | None = None,
) -> list[int]:
    """Offer the request to these experts, page them, and record why; return their ids."""
    deadline = now + (
        config.urgent_accept_timeout if request.urgency == "urgent" else config.accept_timeout
    )
    offered = []
    for expert in experts:
        assert expert.id is not None and request.id is not None
        append(
            session,
            Offer,
            request_id=request.id,
            expert_id=expert.id,
            reason=reason,
            offered_at=now,
            deadline_at=deadline,
        )
        offered.append(expert.id)
        notify.page_expert(
            session, config=config, expert=expert, request=request, now=now, broadcast=broadcast
        )
    history = list(request.routing.get("history", []))
    history.append(
        {
            "at": now.isoformat(),
            "chosen": [expert.openid for expert in experts],
            "reason": reason,
            "alternatives": alternatives or [],
        }
    )
    request.routing = {**request.routing, "history": history}
    record_event(
        session=session,
        request=request,
        to_status="offered",
        # Routing decides, not the farmer whose message confirmed the request (staff who
        # chose the expert are credited).
        actor=actor if actor.startswith("staff:") else "system",
        now=now,
        note=f"派给 {'、'.join(expert.name for expert in experts)}：{reason}",
    )
    return offered


def offer_unassigned_to(
    session: Session, *, expert: Expert, config: Policy, now: datetime
) -> list[HelpRequest]:
    """An expert came on duty: offer them the unassigned requests they qualify for."""
    assert expert.id is not None
    offered = []
    for waiting in unassigned_requests(session=session, categories=expert.specialties):
        assert waiting.id is not None
        if not qualifies(expert, waiting) or expert.id in waiting.routing.get("excluded", []):
            continue
        request = lock_request(session=session, request_id=waiting.id)
        if request.status != "unassigned":
            continue
        make_offers(
            session,
            request=request,
            experts=[expert],
            reason="专家开始值班，领取等待中的求助",
            config=config,
            now=now,
            actor=f"expert:{expert.openid}",
        )
        offered.append(request)
    return offered


def escalate(
    session: Session,
    *,
    request: HelpRequest,
    config: Policy,
    now: datetime,
    ranked: list[Candidate],
    farmer: Farmer | None,
    tell_farmer: bool = True,
    roster: Roster | None = None,
) -> None:
    """Nobody (left) on duty to take it: alert leaders and staff, tell the farmer."""
    roster = roster or duty_roster(session=session)
    qualified = [e for e in roster.experts if qualifies(e, request)]
    if not qualified:
        reason = "没有对口的专家"
    elif len(qualified) > len(ranked):
        reason = "对口专家都已拒绝、超时或不在值班"
    else:
        reason = "没有在值班的对口专家"
    teams = sorted({expert.team for expert in qualified if expert.team})
    leaders = [leader.openid for team in teams for leader in roster.leaders(team)]
    history = list(request.routing.get("history", []))
    history.append(
        {
            "at": now.isoformat(),
            "chosen": [],
            "reason": reason,
            "alternatives": [c.describe() for c in ranked],
        }
    )
    request.routing = {**request.routing, "history": history}
    record_event(
        session=session,
        request=request,
        to_status="unassigned",
        actor="system",
        now=now,
        note=reason,
    )
    notify.alert_staff(
        session, config=config, leader_openids=leaders, request=request, reason=reason, now=now
    )
    if farmer is None:
        farmer = session.get(Farmer, request.farmer_id)
    if farmer is not None and tell_farmer:
        notify.tell_farmer(
            session,
            farmer=farmer,
            request=request,
            now=now,
            content=texts.FARMER_WAITING.format(code=request.code),
        )


def expire_offers(
    session: Session,
    *,
    config: Policy,
    now: datetime,
    offers: list[Offer],
    status: str = "timed_out",
) -> int:
    """End unanswered offers (timed out, or the page undeliverable) and offer each
    request to the next candidate."""
    handled = 0
    for offer in offers:
        if offer.status != "pending":
            continue
        request = lock_request(session=session, request_id=offer.request_id)
        session.refresh(offer)
        if offer.status != "pending":
            continue  # answered while we waited for the lock
        offer.status, offer.answered_at = status, now
        if request.status != "offered":
            continue
        still_pending = [
            o
            for o in offers_for(session=session, request_id=request.id or 0)
            if o.status == "pending"
        ]
        if not still_pending:
            route_request(session, request=request, config=config, now=now)
        handled += 1
    return handled


def deactivate_expert(
    session: Session, *, expert: Expert, config: Policy, now: datetime
) -> list[str]:
    """An expert leaves: no more pages, their offers withdrawn, their requests handed on.

    Returns one line per request that moved, for whoever deactivated them.
    """
    assert expert.id is not None
    expert.active = False
    expert.duty_override, expert.duty_override_until = None, None
    moved = []
    for offer in pending_offers_of_expert(session=session, expert_id=expert.id):
        request = lock_request(session=session, request_id=offer.request_id)
        session.refresh(offer)
        if offer.status != "pending":
            continue
        offer.status, offer.answered_at = "withdrawn", now
        assert request.id is not None
        drop_pending(
            session=session, request_id=request.id, purposes=("page",), openid=expert.openid
        )
        still_pending = [
            o for o in offers_for(session=session, request_id=request.id) if o.status == "pending"
        ]
        if request.status == "offered" and not still_pending:
            route_request(session, request=request, config=config, now=now)
        moved.append(f"{request.code}: offer withdrawn")
    for held in requests_of_expert(session=session, expert_id=expert.id):
        assert held.id is not None
        request = lock_request(session=session, request_id=held.id)
        request.expert_id, request.accepted_at = None, None
        record_event(
            session=session,
            request=request,
            to_status="reopened",
            actor="system",
            now=now,
            note=f"{expert.name} 已停用，重新派单",
        )
        notify.alert_staff(
            session,
            config=config,
            leader_openids=[],
            request=request,
            reason=f"{expert.name}专家已停用，求助转给其他专家",
            now=now,
        )
        route_request(
            session, request=request, config=config, now=now, exclude_expert_ids={expert.id}
        )
        moved.append(f"{request.code}: handed on to another expert")
    return moved
