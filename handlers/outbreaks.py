"""Outbreak alerts (事前主动): requests about one crop family whose signs overlap, from
one township or neighbouring ones of a county, within a window, are one cluster; a
cluster large enough raises one alert, which grows as more requests join it.

A farmer's words become canonical signs when the request is understood
(`handlers/lexicon/signs.toml`: 黄色的粉, 像铁锈 and 条锈 are all 锈病), so reports
worded differently still meet. Two reports are related when they share a sign that
says something on its own and marks a problem that spreads (锈病, 蚜虫, 拉稀; not 黄叶,
not weeds or a nutrient lacking). The cluster of a request is checked when the
request is confirmed (or, paged at once as urgent, when its place becomes known), for
its crop family and area only, so the alert follows the report that completes it; the
`find_outbreaks` job looks at every recent request as a backstop. Staff and the
leaders of the specialty the requests need are messaged once, when the alert is
raised.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.routing import place_of
from handlers.understanding import Parser, default_parser
from models.experts import PlaceBook, place_book
from models.tables import Expert, HelpRequest, OutbreakAlert

SEEN = ("new", "offered", "unassigned", "accepted", "visit_booked", "visited", "closed", "reopened")
_CODES_SHOWN = 8
# An urgent report counts as urgent for a cluster when it tells of death.
_DEADLY = frozenset({"死亡", "死鱼", "死苗", "枯萎"})


@dataclass(frozen=True)
class Report:
    """One confirmed request as clustering sees it."""

    request: HelpRequest
    family: str
    county: str
    township: str
    village: str
    signs: frozenset[str]
    urgent: bool


def find_outbreaks(session: Session, *, config: Policy, now: datetime) -> list[OutbreakAlert]:
    """Raise or grow alerts for every cluster of the last window; return those raised."""
    since = now - config.outbreak_window
    statement = select(HelpRequest).where(
        col(HelpRequest.confirmed_at) >= since,
        col(HelpRequest.crop).is_not(None),
        col(HelpRequest.status).in_(SEEN),
    )
    return _settle(session, _reports(session, session.exec(statement)), config, now)


def check_request(
    session: Session, *, request: HelpRequest, config: Policy, now: datetime
) -> list[OutbreakAlert]:
    """On confirmation: raise or grow the alert of this request's cluster, looking only
    at its crop family in its township and the townships bordering it."""
    if not request.crop or not request.symptoms:
        return []
    parser = default_parser()
    family = parser.family(request.crop)
    parts = place_of(session, request)
    if not parts.township:
        return []
    book = place_book(session=session)
    area = {parts.township, *book.neighbours_of(parts.county, parts.township)}
    since = now - config.outbreak_window
    # Taken before reading: a report confirmed at the same moment elsewhere is either
    # committed (and seen) or waits for this one (and sees it).
    _lock(session, parts.county or "")
    statement = select(HelpRequest).where(
        col(HelpRequest.crop).in_(parser.family_members(family)),
        col(HelpRequest.confirmed_at) >= since,
        col(HelpRequest.status).in_(SEEN),
    )
    nearby = [r for r in _reports(session, session.exec(statement)) if r.township in area]
    if not any(r.request.id == request.id for r in nearby):
        return []
    return _settle(session, nearby, config, now, only=request.id)


def _reports(session: Session, requests: Iterable[HelpRequest]) -> list[Report]:
    parser = default_parser()
    reports = []
    for request in requests:
        parts = place_of(session, request)
        if parts.township and request.crop and request.symptoms:
            reports.append(
                Report(
                    request=request,
                    family=parser.family(request.crop),
                    county=parts.county or "",
                    township=parts.township,
                    village=parts.village or "",
                    signs=frozenset(request.symptoms),
                    urgent=request.urgency == "urgent" and bool(_DEADLY & set(request.symptoms)),
                )
            )
    return reports


def _settle(
    session: Session,
    reports: list[Report],
    config: Policy,
    now: datetime,
    only: int | None = None,
) -> list[OutbreakAlert]:
    """Raise or grow the alert of each cluster big enough (with `only`: of the cluster
    holding that request); return the alerts raised."""
    parser = default_parser()
    book = place_book(session=session)
    since = now - config.outbreak_window
    by_area: dict[tuple[str, str], list[Report]] = defaultdict(list)
    for report in reports:
        by_area[(report.family, report.county)].append(report)
    raised = []
    for (family, county), group in by_area.items():
        for cluster in clusters(group, parser, book):
            if only is not None and all(r.request.id != only for r in cluster):
                continue
            urgent = sum(r.urgent for r in cluster)
            if len(cluster) < config.outbreak_min_requests and (
                urgent < config.outbreak_min_urgent
            ):
                continue
            _lock(session, county)
            alert = _grow_or_raise(session, family, county, cluster, parser, book, since, now)
            if alert is not None:
                raised.append(alert)
                _tell(session, alert, cluster, config, now)
    return raised


def clusters(reports: list[Report], parser: Parser, book: PlaceBook) -> list[list[Report]]:
    """Reports joined by relatedness, directly or through others (one crop family and
    county assumed)."""
    parent = list(range(len(reports)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    near = {r.township: book.neighbours_of(r.county, r.township) for r in reports}
    for i, a in enumerate(reports):
        for j in range(i + 1, len(reports)):
            b = reports[j]
            if (a.township == b.township or b.township in near[a.township]) and related(
                a.signs, b.signs, parser
            ):
                parent[root(j)] = root(i)
    joined: dict[int, list[Report]] = defaultdict(list)
    for index, report in enumerate(reports):
        joined[root(index)].append(report)
    return list(joined.values())


def related(a: Iterable[str], b: Iterable[str], parser: Parser) -> bool:
    """Whether two sets of signs describe one spreading problem: a shared sign that says
    something on its own and passes from farm to farm (锈病, 拉稀; not 黄叶, not 缺素)."""
    return any(parser.spreading(sign) for sign in set(a) & set(b))


def core(signs_of_reports: Iterable[Iterable[str]], parser: Parser) -> set[str]:
    """The spreading signs at least two of the reports share: what a cluster is about."""
    seen: dict[str, int] = defaultdict(int)
    for signs in signs_of_reports:
        for sign in set(signs):
            seen[sign] += 1
    return {sign for sign, count in seen.items() if count >= 2 and parser.spreading(sign)}


def _lock(session: Session, county: str) -> None:
    """Serialise alert-raising for one county until the transaction ends, so that two
    reports confirmed at once raise one alert. SQLite's writers are serialised
    already (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        key = zlib.crc32(f"outbreak:{county}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _grow_or_raise(
    session: Session,
    family: str,
    county: str,
    cluster: list[Report],
    parser: Parser,
    book: PlaceBook,
    since: datetime,
    now: datetime,
) -> OutbreakAlert | None:
    """Add the cluster to the live alert it belongs to, or raise a new one (returned)."""
    ids = {r.request.id for r in cluster if r.request.id is not None}
    signs = {s for r in cluster for s in r.signs}
    townships = list(dict.fromkeys(r.township for r in _in_time_order(cluster)))
    villages = list(dict.fromkeys(r.village for r in _in_time_order(cluster) if r.village))
    words = _words(cluster, parser)
    first = min(_when(r) for r in cluster)
    last = max(_when(r) for r in cluster)
    reach = set(townships).union(*(book.neighbours_of(county, t) for t in townships))
    about = core((r.signs for r in cluster), parser)
    live_alerts = session.exec(
        select(OutbreakAlert).where(
            col(OutbreakAlert.crop).in_(parser.family_members(family)),
            col(OutbreakAlert.county).in_((county, "")),  # "": raised before counties
            col(OutbreakAlert.last_at) >= since,
        )
    )
    for live in live_alerts:
        places = set(live.townships or [live.township])
        # The same problem nearby: what the alert's own reports share, not every sign
        # they ever mentioned (an alert must not swallow the next problem).
        if not (ids & set(live.request_ids)) and not (
            places & reach and about & _core_of(session, live, parser)
        ):
            continue
        if not ids <= set(live.request_ids):
            live.request_ids = sorted(set(live.request_ids) | ids)
            live.symptoms = _ordered(live.symptoms, signs)
            live.townships = list(dict.fromkeys([*(live.townships or [live.township]), *townships]))
            live.villages = list(dict.fromkeys([*live.villages, *villages]))
            live.words = {
                sign: list(dict.fromkeys([*live.words.get(sign, []), *words.get(sign, [])]))
                for sign in live.symptoms
            }
            live.county = live.county or county
            live.last_at, live.updated_at = max(live.last_at, last), now
        return None
    alert = OutbreakAlert(
        crop=family,
        county=county,
        township=townships[0],
        townships=townships,
        villages=villages,
        symptoms=_ordered([], signs),
        words=words,
        request_ids=sorted(ids),
        first_at=first,
        last_at=last,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def _core_of(session: Session, alert: OutbreakAlert, parser: Parser) -> set[str]:
    statement = select(HelpRequest).where(col(HelpRequest.id).in_(alert.request_ids))
    return core((r.symptoms for r in session.exec(statement)), parser)


def _when(report: Report) -> datetime:
    return report.request.confirmed_at or report.request.created_at


def _in_time_order(cluster: list[Report]) -> list[Report]:
    return sorted(cluster, key=_when)


def _ordered(known: list[str], signs: set[str]) -> list[str]:
    return [*known, *sorted(signs - set(known))]


def _words(cluster: list[Report], parser: Parser) -> dict[str, list[str]]:
    """The farmers' own words for each sign of the cluster, as they wrote them."""
    words: dict[str, list[str]] = defaultdict(list)
    for report in _in_time_order(cluster):
        for sign, said in parser.signs(report.request.text).items():
            if sign in report.signs:
                words[sign].extend(w for w in said if w not in words[sign])
    return dict(words)


def describe(alert: OutbreakAlert) -> dict[str, str]:
    """An alert's parts as staff read them: where, what, in whose words."""
    townships = alert.townships or [alert.township]
    villages = alert.villages
    where = "、".join(townships)
    if villages:
        shown = "、".join(villages[:4])
        where += f"（{shown}等 {len(villages)} 个村）" if len(villages) > 4 else f"（{shown}）"
    signs = "、".join(
        f"{sign}（{'、'.join(alert.words[sign][:3])}）" if alert.words.get(sign) else sign
        for sign in alert.symptoms
    )
    return {"where": where, "signs": signs, "county": alert.county}


def _tell(
    session: Session,
    alert: OutbreakAlert,
    cluster: list[Report],
    config: Policy,
    now: datetime,
) -> None:
    """Message staff and the leaders of the specialty the requests need, once."""
    categories = {r.request.category for r in cluster}
    leaders = [
        e
        for e in session.exec(select(Expert).where(Expert.leader == True, Expert.active == True))  # noqa: E712
        if categories & set(e.specialties)
    ]
    parts = describe(alert)
    codes = [str(r.request.code) for r in _in_time_order(cluster) if r.request.code]
    content = texts.OUTBREAK_ALERT.format(
        where=parts["where"],
        crop=alert.crop,
        count=len(alert.request_ids),
        symptoms=parts["signs"],
        codes="、".join(codes[:_CODES_SHOWN]) + ("等" if len(codes) > _CODES_SHOWN else ""),
    )
    for openid in dict.fromkeys([*(e.openid for e in leaders), *config.staff_openids]):
        notify.send_text(session, openid=openid, content=content, now=now, purpose="alert")


def live_alerts(session: Session, *, config: Policy, now: datetime) -> list[OutbreakAlert]:
    """Alerts whose cluster saw a request within the window, newest first."""
    since = now - config.outbreak_window
    statement = (
        select(OutbreakAlert)
        .where(col(OutbreakAlert.last_at) >= since)
        .order_by(col(OutbreakAlert.updated_at).desc())
    )
    return list(session.exec(statement))
