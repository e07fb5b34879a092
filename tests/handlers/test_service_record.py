"""The expert's service record and score, checked figure by figure against a quarter
counted by hand (reopened rounds, consultations, declines and time outside it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from handlers.scores import ScoreRule, scores
from handlers.service_record import (
    PeriodError,
    read_period,
    service_records,
    services_by_expert,
)
from models.tables import (
    Consultation,
    Expert,
    Farmer,
    HelpRequest,
    Offer,
    RequestEvent,
    Survey,
)

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 8, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def seed_quarter(engine: Engine) -> dict[str, int]:
    """王 and 李 in 2026's third quarter, as the hand count below describes."""
    with Session(engine) as session:
        experts = {
            name: Expert(openid=f"exp-{key}", name=name, team="植保队", specialties=[])
            for key, name in (("w", "王植保"), ("l", "李植保"), ("z", "赵植保"))
        }
        session.add_all(experts.values())
        farmers = [Farmer(openid=f"farmer-{n}") for n in range(5)]
        session.add_all(farmers)
        session.flush()
        wang, li = experts["王植保"], experts["李植保"]
        villages = ["石坝村", "东河村", "石坝村", "马园村", "西河村", "石坝村"]
        requests = [
            HelpRequest(code=f"A{1000 + n}", farmer_id=farmers[min(n, 4)].id or 0, village=village)
            for n, village in enumerate(villages)
        ]
        session.add_all(requests)
        session.flush()
        r1, r2, r3, r4, r5, r6 = requests

        def offer(
            request: HelpRequest, expert: Expert, status: str, sent: datetime, **kw: object
        ) -> None:
            session.add(
                Offer(
                    request_id=request.id or 0,
                    expert_id=expert.id or 0,
                    status=status,
                    offered_at=sent,
                    deadline_at=sent,
                    **kw,
                )
            )

        def event(
            request: HelpRequest, expert: Expert, when: datetime, to: str, note: str = ""
        ) -> None:
            session.add(
                RequestEvent(
                    request_id=request.id or 0,
                    at=when,
                    actor=f"expert:{expert.openid}",
                    to_status=to,
                    note=note,
                )
            )

        def survey(request: HelpRequest, expert: Expert, when: datetime, **answers: Any) -> None:
            session.add(
                Survey(
                    request_id=request.id or 0,
                    farmer_id=request.farmer_id,
                    expert_id=expert.id,
                    state="answered",
                    due_at=when,
                    created_at=when,
                    **answers,
                )
            )

        # R1: 王 accepts in 30 min, books, visits; the farmer says solved, 5 stars.
        offer(r1, wang, "accepted", at(7, 1), answered_at=at(7, 1, 8, 30))
        event(r1, wang, at(7, 1, 9), "visit_booked", "预约 07-02 09:00")
        event(r1, wang, at(7, 2, 10), "visited", "缺钾，追施钾肥")
        survey(r1, wang, at(7, 2, 10), solved="yes", rating=5, comment="很好")
        # R2: 王 accepts in 60 min and advises by phone.
        offer(r2, wang, "accepted", at(7, 10), answered_at=at(7, 10, 9))
        event(r2, wang, at(7, 10, 10), "accepted", "电话指导")
        # R3: 王 declines; another offer times out (not counted).
        offer(r3, wang, "declined", at(8, 1), answered_at=at(8, 1, 8, 5), reason="不在附近")
        offer(r3, wang, "timed_out", at(8, 2), answered_at=at(8, 2, 8, 30))
        # R4: 王 accepts in 10 min, visits; not solved (2 stars) — reopened, and the
        # complaint is upheld; 李 accepts it in 20 min, visits, solved with 4 stars.
        offer(r4, wang, "accepted", at(8, 5), answered_at=at(8, 5, 8, 10))
        event(r4, wang, at(8, 6, 10), "visited", "叶斑病，喷药")
        survey(
            r4, wang, at(8, 6, 10), solved="no", rating=2, comment="没用", complaint="upheld",
            reopened=True,
        )  # fmt: skip
        offer(r4, li, "accepted", at(8, 7), answered_at=at(8, 7, 8, 20))
        event(r4, li, at(8, 7, 9), "visit_booked", "预约 08-08 10:00")
        event(r4, li, at(8, 8, 10), "visited", "炭疽病，换药")
        survey(r4, li, at(8, 8, 10), solved="yes", rating=4)
        # R5: 李 holds it (accepted in 5 min), invites 王, who gives a consultation
        # note; 李's own note is no consultation of his; 李 visits.
        offer(r5, li, "accepted", at(8, 19), answered_at=at(8, 19, 8, 5))
        session.add(
            Consultation(request_id=r5.id or 0, expert_id=wang.id or 0, invited_by=li.id or 0)
        )
        event(r5, wang, at(8, 20), "accepted", "会诊：像是缺钾")
        event(r5, li, at(8, 20, 9), "accepted", "会诊：同意")
        event(r5, li, at(8, 21), "visited", "缺钾")
        # Noise that counts for nothing more: 王's own note and invitation after his R1
        # visit (the status stays "visited"), a second phone call on R2 (one case), and
        # 李's invitation note on R4 (no booking).
        session.add_all(
            [
                RequestEvent(request_id=r1.id or 0, at=at(7, 3), actor="expert:exp-w",
                             from_status="visited", to_status="visited", note="会诊：补充一句"),
                RequestEvent(request_id=r1.id or 0, at=at(7, 3, 9), actor="expert:exp-w",
                             from_status="visited", to_status="visited", note="邀请 李植保 会诊"),
                RequestEvent(request_id=r2.id or 0, at=at(7, 11), actor="expert:exp-w",
                             from_status="accepted", to_status="accepted", note="电话指导"),
                RequestEvent(request_id=r4.id or 0, at=at(8, 7, 9, 30), actor="expert:exp-l",
                             from_status="visit_booked", to_status="visit_booked",
                             note="邀请 王植保 会诊"),
            ]
        )  # fmt: skip
        # R6: 王 outside the quarter on both sides.
        offer(r6, wang, "accepted", at(6, 30, 23), answered_at=at(6, 30, 23, 30))
        event(r6, wang, datetime(2026, 10, 1, 0, 30, tzinfo=TZ), "visited", "晚了")
        session.commit()
        return {name: e.id or 0 for name, e in experts.items()}


def test_a_quarters_record_and_score_match_the_hand_count(engine: Engine) -> None:
    ids = seed_quarter(engine)
    period = read_period("2026-Q3", TZ, today=date(2026, 12, 6))
    assert period.label == "2026 年第 3 季度"
    with Session(engine) as session:
        records = service_records(session, period)
    wang, li, zhao = records[ids["王植保"]], records[ids["李植保"]], records[ids["赵植保"]]

    assert wang.accepted == 3  # R1, R2, R4 (R6 before the quarter)
    assert wang.median_minutes_to_accept == 30.0  # 30, 60, 10
    assert [(v.code, v.village, v.booked) for v in wang.visits] == [
        ("A1000", "石坝村", "预约 07-02 09:00"),
        ("A1003", "马园村", ""),
    ]
    assert [(code, mode) for code, mode, _ in wang.remote] == [("A1001", "电话指导")]
    assert [code for code, _ in wang.consultations] == ["A1004"]
    assert [(code, reason) for code, reason, _ in wang.declines] == [("A1002", "不在附近")]
    assert len(wang.farmer_ids) == 3  # R1, R2, R4's farmers (not the consulted R5's)
    assert wang.villages == ["石坝村", "东河村", "马园村"]
    assert (wang.surveys_answered, wang.solved["yes"], wang.solved["no"]) == (2, 1, 1)
    assert wang.solved_rate == 0.5 and wang.mean_rating == 3.5
    assert wang.words == ["很好", "没用"]
    assert (wang.reopened, wang.complaints, wang.complaints_upheld) == (1, 1, 1)
    assert wang.services == 4

    assert li.accepted == 2 and li.median_minutes_to_accept == 12.5  # 20 and 5
    assert [(v.code, v.booked) for v in li.visits] == [
        ("A1003", "预约 08-08 10:00"),
        ("A1004", ""),
    ]
    assert li.remote == [] and li.consultations == [] and li.declines == []
    assert len(li.farmer_ids) == 2 and li.villages == ["马园村", "西河村"]
    assert (li.surveys_answered, li.solved_rate, li.mean_rating, li.reopened) == (1, 1.0, 4.0, 0)

    assert (zhao.accepted, zhao.services, zhao.surveys_answered) == (0, 0, 0)

    rule = ScoreRule()
    scored = scores(records, rule)
    # 王: 60 × 4/4 + 40 × (0.5 × 0.5 + 0.5 × 2.5/4) − 0.5 − 0.5 = 60 + 22.5 − 1 = 81.5
    assert scored[ids["王植保"]].total == 81.5
    assert (scored[ids["王植保"]].volume, scored[ids["王植保"]].results) == (60.0, 22.5)
    # 李: 60 × 2/4 + 40 × (0.5 × 1 + 0.5 × 3/4) = 30 + 35 = 65
    assert scored[ids["李植保"]].total == 65.0
    assert scored[ids["赵植保"]].total == 0.0
    heavier = scores(records, ScoreRule(per_complaint=10, per_reopened=0))
    assert heavier[ids["王植保"]].total == 72.5  # 82.5 − 10 for the upheld complaint
    assert "服务量分 60" in rule.formula() and "属实投诉 × 0.5" in rule.formula()

    # One expert's page reads only their own record and the database's count of
    # everyone's services (the busiest scales the volume part): the same scores.
    with Session(engine) as session:
        counted = services_by_expert(session, period)
        only_li = service_records(session, period, expert_ids=[ids["李植保"]])
    assert counted == {ids["王植保"]: 4, ids["李植保"]: 2}
    alone = scores(only_li, rule, busiest=max(counted.values()))
    assert alone[ids["李植保"]] == scored[ids["李植保"]]


def test_periods_read_as_staff_write_them() -> None:
    today = date(2026, 12, 6)
    month = read_period("2026-11", TZ, today=today)
    assert (month.start, month.end) == (at(11, 1, 0), at(12, 1, 0))
    year = read_period("2026", TZ, today=today)
    assert year.label == "2026 年" and year.end == datetime(2027, 1, 1, tzinfo=TZ)
    dates = read_period("2026-10-01..2026-10-31", TZ, today=today)
    assert dates.end == at(11, 1, 0) and dates.label == "2026-10-01 至 2026-10-31"
    assert read_period("", TZ, today=today).label == "2026 年第 4 季度"
    for bad in ("2026-13", "去年", "2026-10-31..2026-10-01"):
        with pytest.raises(PeriodError):
            read_period(bad, TZ, today=today)
