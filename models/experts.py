"""Experts, teams, the duty rota and the place hierarchy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy import select as select_columns
from sqlmodel import Session, SQLModel, col, func, select

from models.appends import reading_none
from models.generations import Cached, bump, bump_when_flushed, changed_rows
from models.tables import DutyShift, Expert, HelpRequest, Place, Team, utcnow

# Request statuses in which an expert is working on a request.
WORKING_STATUSES = ("accepted", "visit_booked")


def get_expert(*, session: Session, openid: str) -> Expert | None:
    """Return the expert with this openid, if any."""
    return session.exec(select(Expert).where(Expert.openid == openid)).first()


# Every expert's openid, so that a push from a farmer (nearly all of them) needs no query.
_EXPERT_OPENIDS: Cached[frozenset[str]] = Cached(
    "experts", lambda session: frozenset(session.exec(select(Expert.openid)))
)


def find_expert(*, session: Session, openid: str) -> Expert | None:
    """Return the expert with this openid, if any, asking the database only for experts."""
    if openid not in _EXPERT_OPENIDS.get(session):
        return None
    return get_expert(session=session, openid=openid)


def upsert_expert(*, session: Session, openid: str, **fields: object) -> tuple[Expert, bool]:
    """Create or update an expert by openid; return (expert, created)."""
    expert = get_expert(session=session, openid=openid)
    created = expert is None
    if expert is None:
        expert = Expert(openid=openid, name=str(fields.get("name", "")))
        session.add(expert)
        bump(session, "experts")
    for name, value in fields.items():
        setattr(expert, name, value)
    expert.updated_at = utcnow()
    session.flush()
    team = str(fields.get("team") or "")
    if team and session.exec(select(Team).where(Team.name == team)).first() is None:
        session.add(Team(name=team))
        session.flush()
    return expert, created


def get_team(*, session: Session, name: str) -> Team | None:
    """Return the team with this name."""
    return session.exec(select(Team).where(Team.name == name)).first()


def add_shift(*, session: Session, expert: Expert, start: datetime, end: datetime) -> bool:
    """Add a shift to the rota unless it is there already; return whether it was added."""
    assert expert.id is not None
    existing = session.exec(
        select(DutyShift).where(
            DutyShift.expert_id == expert.id, DutyShift.start == start, DutyShift.end == end
        )
    ).first()
    if existing is not None:
        return False
    session.add(DutyShift(expert_id=expert.id, start=start, end=end))
    session.flush()
    return True


def on_duty_expert_ids(*, session: Session, now: datetime) -> set[int]:
    """Return the ids of experts on duty now (rota, then 值班/下班 overrides)."""
    on_rota = set(
        session.exec(select(DutyShift.expert_id).where(DutyShift.start <= now, DutyShift.end > now))
    )
    for expert in session.exec(select(Expert).where(col(Expert.duty_override).is_not(None))):
        until = expert.duty_override_until
        if until is not None and until <= now:
            continue
        assert expert.id is not None
        if expert.duty_override == "on":
            on_rota.add(expert.id)
        else:
            on_rota.discard(expert.id)
    return on_rota


def open_request_counts(*, session: Session) -> dict[int, int]:
    """Return how many requests each expert is working on."""
    # Autoflush only the changes that can move a count: requests that name an expert,
    # or named one when read. A request being opened or routed names none, so its
    # routing is written in one flush later; appended rows (offers, events) wait too.
    if any(_names_an_expert(row) for row in changed_rows(session, HelpRequest)):
        session.flush()
    with session.no_autoflush, reading_none(session):
        rows = session.exec(_LOADS).all()
    return {int(expert_id): int(count) for expert_id, count in rows if expert_id is not None}


_LOADS = (  # built once: every first message's routing runs it
    select(HelpRequest.expert_id, func.count())
    .where(col(HelpRequest.status).in_(WORKING_STATUSES))
    .where(col(HelpRequest.expert_id).is_not(None))
    .group_by(col(HelpRequest.expert_id))
)


def _names_an_expert(request: SQLModel) -> bool:
    """Whether a changed request names an expert, or did when read (not known: yes)."""
    state = inspect(request)
    if "expert_id" not in state.dict or state.dict["expert_id"] is not None:
        return True  # expired since read, or names one
    # Changed attributes keep their value as read here (NO_VALUE: set without reading).
    return state.committed_state.get("expert_id") is not None


def active_experts(*, session: Session) -> list[Expert]:
    """Return every active expert."""
    return list(session.exec(select(Expert).where(Expert.active == True)))  # noqa: E712


def upsert_place(
    *, session: Session, county: str, township: str, village: str, neighbours: Sequence[str] = ()
) -> bool:
    """Add a place to the hierarchy unless it is known; return whether it was added.

    `neighbours` (townships bordering a township) are added to those already known."""
    existing = session.exec(
        select(Place).where(
            Place.county == county, Place.township == township, Place.village == village
        )
    ).first()
    if existing is not None:
        more = [n for n in neighbours if n not in existing.neighbours and n != township]
        if more:
            existing.neighbours = [*existing.neighbours, *more]
            session.flush()
            bump(session, "places")
        return False
    kept = [n for n in dict.fromkeys(neighbours) if n != township]
    session.add(Place(county=county, township=township, village=village, neighbours=kept))
    session.flush()
    bump(session, "places")
    return True


def all_places(*, session: Session) -> list[Place]:
    """Return the whole place hierarchy."""
    return list(session.exec(select(Place)))


@dataclass(frozen=True)
class KnownPlace:
    """One imported place: a county, a township in it, or a village in that."""

    county: str
    township: str
    village: str


@dataclass(frozen=True)
class PlaceBook:
    """The imported places, and their township and village names, longest first."""

    places: tuple[KnownPlace, ...]
    names: tuple[str, ...]
    # (county, township, township) for every two townships that border each other.
    borders: tuple[tuple[str, str, str], ...] = ()

    def neighbours_of(self, county: str | None, township: str) -> frozenset[str]:
        """The townships of `county` that border `township` (either side may list it)."""
        return frozenset(
            b if a == township else a
            for c, a, b in self.borders
            if c == county and township in (a, b)
        )


def _read_place_book(session: Session) -> PlaceBook:
    rows = all_places(session=session)
    places = tuple(
        KnownPlace(county=place.county, township=place.township, village=place.village)
        for place in rows
    )
    names = {name for place in places for name in (place.village, place.township) if len(name) >= 2}
    borders = sorted(
        {
            (place.county, *sorted((place.township, other)))
            for place in rows
            if place.township and not place.village
            for other in place.neighbours
        }
    )
    return PlaceBook(
        places=places,
        names=tuple(sorted(names, key=len, reverse=True)),
        borders=tuple((c, a, b) for c, a, b in borders),
    )


_PLACE_BOOK: Cached[PlaceBook] = Cached("places", _read_place_book)


def place_book(*, session: Session) -> PlaceBook:
    """The imported places, read once and kept until `places import` changes them."""
    return _PLACE_BOOK.get(session)


@dataclass(frozen=True)
class RosterExpert:
    """An active expert as routing sees them: a plain copy, not a database row."""

    id: int
    openid: str
    name: str
    team: str
    specialties: tuple[str, ...]
    crops: tuple[str, ...]
    regions: tuple[str, ...]
    leader: bool
    duty_override: str | None
    duty_override_until: datetime | None


@dataclass(frozen=True)
class Roster:
    """The active experts, the rota's shifts not over when read, and the broadcast teams."""

    experts: tuple[RosterExpert, ...]
    shifts: tuple[tuple[int, datetime, datetime], ...]  # (expert id, start, end)
    broadcast_teams: frozenset[str]

    def on_duty_ids(self, now: datetime) -> set[int]:
        """The ids of the experts on duty at `now` (rota, then 值班/下班 overrides)."""
        on_duty = {expert_id for expert_id, start, end in self.shifts if start <= now < end}
        for expert in self.experts:
            until = expert.duty_override_until
            if expert.duty_override is None or (until is not None and until <= now):
                continue
            if expert.duty_override == "on":
                on_duty.add(expert.id)
            else:
                on_duty.discard(expert.id)
        return on_duty

    def leaders(self, team: str) -> list[RosterExpert]:
        """The active leaders of a team."""
        return [expert for expert in self.experts if expert.team == team and expert.leader]


def _read_roster(session: Session) -> Roster:
    # Plain columns, not Expert objects: the copy is kept across sessions anyway.
    rows = session.execute(
        select_columns(
            col(Expert.id),
            col(Expert.openid),
            col(Expert.name),
            col(Expert.team),
            col(Expert.specialties),
            col(Expert.crops),
            col(Expert.regions),
            col(Expert.leader),
            col(Expert.duty_override),
            col(Expert.duty_override_until),
        ).where(col(Expert.active).is_(True))
    )
    experts = tuple(
        RosterExpert(
            id=id_ or 0,
            openid=openid,
            name=name,
            team=team,
            specialties=tuple(specialties),
            crops=tuple(crops),
            regions=tuple(regions),
            leader=leader,
            duty_override=override,
            duty_override_until=until,
        )
        for id_, openid, name, team, specialties, crops, regions, leader, override, until in rows
    )
    shifts = session.exec(
        select(DutyShift.expert_id, DutyShift.start, DutyShift.end).where(DutyShift.end > utcnow())
    )
    teams = session.exec(select(Team.name).where(Team.broadcast == True))  # noqa: E712
    return Roster(
        experts=experts,
        shifts=tuple((expert_id, start, end) for expert_id, start, end in shifts),
        broadcast_teams=frozenset(teams),
    )


_ROSTER: Cached[Roster] = Cached("roster", _read_roster)
# Experts' duty overrides, the rota and the teams change in many places (commands,
# the console, imports): every flush that touches them makes the roster reload.
bump_when_flushed("roster", Expert, DutyShift, Team)


def duty_roster(*, session: Session) -> Roster:
    """Who is active and on duty, as of every change committed before this call.

    Checks a generation number (one small query, none in a push: its sender-state
    statement read the numbers) and reloads only when it moved.
    """
    # As a query's autoflush would: this transaction's own unflushed changes to
    # experts, shifts or teams bump the roster before it is checked. (Other changes
    # wait for the next flush, so a new request's offers are written with it.)
    if changed_rows(session, Expert, DutyShift, Team):
        session.flush()
    with session.no_autoflush:
        return _ROSTER.get(session, fresh=True)
