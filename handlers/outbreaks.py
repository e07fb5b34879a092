"""Outbreak alerts (事前主动): several requests about one crop, with shared symptoms,
from one township within a window, are one cluster and raise one alert.

An alert grows as more requests join its cluster; staff and the leaders of the
matching specialty are messaged once, when it is raised.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, col, select

from handlers import notify, texts
from handlers.config import Policy
from handlers.routing import place_of
from models.tables import Expert, HelpRequest, OutbreakAlert

SEEN = ("new", "offered", "unassigned", "accepted", "visit_booked", "visited", "closed", "reopened")


def find_outbreaks(session: Session, *, config: Policy, now: datetime) -> list[OutbreakAlert]:
    """Raise or grow alerts for the clusters of the last window; return those raised."""
    since = now - config.outbreak_window
    recent = list(
        session.exec(
            select(HelpRequest).where(
                col(HelpRequest.confirmed_at) >= since,
                col(HelpRequest.crop).is_not(None),
                col(HelpRequest.status).in_(SEEN),
            )
        )
    )
    groups: dict[tuple[str, str], list[HelpRequest]] = defaultdict(list)
    for request in recent:
        township = place_of(session, request).township
        if township and request.crop and request.symptoms:
            groups[(request.crop, township)].append(request)
    raised = []
    for (crop, township), requests in groups.items():
        for cluster in _clusters(requests):
            if len(cluster) < config.outbreak_min_requests:
                continue
            alert = _grow_or_raise(session, crop, township, cluster, since, now)
            if alert is not None:
                raised.append(alert)
                _tell(session, alert, cluster, config, now)
    return raised


def _clusters(requests: list[HelpRequest]) -> list[list[HelpRequest]]:
    """Requests joined by a shared symptom (directly or through others)."""
    parent = list(range(len(requests)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_symptom: dict[str, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        for symptom in request.symptoms:
            by_symptom[symptom].append(index)
    for members in by_symptom.values():
        for other in members[1:]:
            parent[root(other)] = root(members[0])
    joined: dict[int, list[HelpRequest]] = defaultdict(list)
    for index, request in enumerate(requests):
        joined[root(index)].append(request)
    return list(joined.values())


def _grow_or_raise(
    session: Session,
    crop: str,
    township: str,
    cluster: list[HelpRequest],
    since: datetime,
    now: datetime,
) -> OutbreakAlert | None:
    """Add the cluster to its live alert, or raise a new one (returned)."""
    ids = sorted(r.id for r in cluster if r.id is not None)
    symptoms = sorted({s for r in cluster for s in r.symptoms})
    first = min(r.confirmed_at or r.created_at for r in cluster)
    last = max(r.confirmed_at or r.created_at for r in cluster)
    live = session.exec(
        select(OutbreakAlert).where(
            OutbreakAlert.crop == crop,
            OutbreakAlert.township == township,
            col(OutbreakAlert.last_at) >= since,
        )
    ).first()
    if live is not None:
        if not set(ids) <= set(live.request_ids):
            live.request_ids = sorted(set(live.request_ids) | set(ids))
            live.symptoms = sorted(set(live.symptoms) | set(symptoms))
            live.last_at, live.updated_at = max(live.last_at, last), now
        return None
    alert = OutbreakAlert(
        crop=crop,
        township=township,
        symptoms=symptoms,
        request_ids=ids,
        first_at=first,
        last_at=last,
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def _tell(
    session: Session,
    alert: OutbreakAlert,
    cluster: list[HelpRequest],
    config: Policy,
    now: datetime,
) -> None:
    """Message staff and the leaders of the specialty the requests need, once."""
    categories = {r.category for r in cluster}
    leaders = [
        e
        for e in session.exec(select(Expert).where(Expert.leader == True, Expert.active == True))  # noqa: E712
        if categories & set(e.specialties)
    ]
    content = texts.OUTBREAK_ALERT.format(
        township=alert.township,
        crop=alert.crop,
        count=len(alert.request_ids),
        symptoms="、".join(alert.symptoms),
        codes="、".join(str(r.code) for r in cluster[:8]),
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
