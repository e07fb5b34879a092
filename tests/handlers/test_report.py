"""The monthly dispatch report, checked against a hand count of seeded data."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from bot.settings import Settings
from handlers.config import Policy
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    MonthlyReport,
    Place,
    ReportSnapshot,
    RequestEvent,
    Survey,
)
from scheduler.report import store_last_month

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def seed(engine: Engine) -> None:
    with Session(engine) as session:
        for county, township, village in (
            ("青川县", "木鱼镇", "石坝村"),
            ("青川县", "城关镇", "东河村"),
            ("剑阁县", "普安镇", "新华村"),
        ):
            session.add(Place(county=county, township=township, village=village))
        e1 = Expert(openid="e1", name="甲", team="植保队", specialties=["plant_protection"])
        e2 = Expert(openid="e2", name="乙", team="畜牧队", specialties=["livestock"])
        farmers = [Farmer(openid=f"f{i}") for i in range(1, 5)]
        session.add_all([e1, e2, *farmers])
        session.flush()
        f1, f2, f3, f4 = farmers

        def request(
            farmer: Farmer,
            place: str,
            confirmed: datetime,
            accepted: datetime | None,
            visited: datetime | None,
            expert: Expert | None,
        ) -> HelpRequest:
            row = HelpRequest(
                farmer_id=farmer.id,
                place=place,
                confirmed_at=confirmed,
                created_at=confirmed,
                accepted_at=accepted,
                visited_at=visited,
                expert_id=expert.id if expert else None,
                status="visited" if visited else "offered",
            )
            session.add(row)
            session.flush()
            if visited and expert:  # as `完成` records it
                session.add(
                    RequestEvent(
                        request_id=row.id,
                        at=visited,
                        actor=f"expert:{expert.openid}",
                        from_status="accepted",
                        to_status="visited",
                    )
                )
            return row

        r1 = request(f1, "石坝村", at(10, 2, 8), at(10, 2, 10), at(10, 3, 8), e1)
        r2 = request(f2, "东河村", at(10, 10, 8), at(10, 10, 9), at(10, 12, 8), e1)
        r3 = request(f3, "新华村", at(10, 20, 8), at(10, 20, 12), at(10, 21, 8), e2)
        request(f1, "石坝村", at(10, 31, 23, 30), None, None, None)  # October, late
        request(f4, "新华村", at(9, 30, 20), at(10, 1, 9), at(11, 1, 0, 30), e2)
        request(f2, "东河村", at(11, 1, 0, 10), None, None, None)  # October in UTC only
        for req, sent, solved, rating in (
            (r1, at(10, 4, 9), "yes", 5),
            (r2, at(10, 13, 9), "no", 2),
            (r3, at(10, 22, 9), None, None),
        ):
            session.add(
                Survey(
                    request_id=req.id,
                    farmer_id=req.farmer_id,
                    expert_id=req.expert_id,
                    due_at=sent,
                    sent_at=sent,
                    state="answered" if solved else "expired",
                    solved=solved,
                    rating=rating,
                )
            )
        session.commit()


HAND_COUNT = {
    ("total", "合计"): {
        "requests": 4,
        "visits": 3,
        "expert_visits": 3,
        "experts": 2,
        "farmers_served": 3,
        "villages_covered": 3,
        "median_hours_to_accept": 3.0,
        "median_hours_to_visit": 24.0,
        "surveys_sent": 3,
        "survey_response_rate": 0.6667,
        "share_solved": 0.5,
        "mean_rating": 3.5,
        "consultations": 0,
    },
    ("county", "青川县"): {
        "requests": 3,
        "visits": 2,
        "expert_visits": 2,
        "experts": 1,
        "farmers_served": 2,
        "villages_covered": 2,
        "median_hours_to_accept": 1.5,
        "median_hours_to_visit": 36.0,
        "surveys_sent": 2,
        "survey_response_rate": 1.0,
        "share_solved": 0.5,
        "mean_rating": 3.5,
        "consultations": 0,
    },
    ("county", "剑阁县"): {
        "requests": 1,
        "visits": 1,
        "expert_visits": 1,
        "experts": 1,
        "farmers_served": 1,
        "villages_covered": 1,
        "median_hours_to_accept": 8.5,
        "median_hours_to_visit": 24.0,
        "surveys_sent": 1,
        "survey_response_rate": 0.0,
        "share_solved": None,
        "mean_rating": None,
        "consultations": 0,
    },
    ("team", "植保队"): {
        "requests": 2,
        "visits": 2,
        "expert_visits": 2,
        "experts": 1,
        "farmers_served": 2,
        "villages_covered": 2,
        "median_hours_to_accept": 1.5,
        "median_hours_to_visit": 36.0,
        "surveys_sent": 2,
        "survey_response_rate": 1.0,
        "share_solved": 0.5,
        "mean_rating": 3.5,
        "consultations": 0,
    },
    ("team", "畜牧队"): {
        "requests": 1,
        "visits": 1,
        "expert_visits": 1,
        "experts": 1,
        "farmers_served": 1,
        "villages_covered": 1,
        "median_hours_to_accept": 8.5,
        "median_hours_to_visit": 24.0,
        "surveys_sent": 1,
        "survey_response_rate": 0.0,
        "share_solved": None,
        "mean_rating": None,
        "consultations": 0,
    },
    ("team", "未派单"): {
        "requests": 1,
        "visits": 0,
        "expert_visits": 0,
        "experts": 0,
        "farmers_served": 0,
        "villages_covered": 0,
        "median_hours_to_accept": None,
        "median_hours_to_visit": None,
        "surveys_sent": 0,
        "survey_response_rate": None,
        "share_solved": None,
        "mean_rating": None,
        "consultations": 0,
    },
}


def test_report_matches_the_hand_count(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    seed(engine)
    env = {
        "FARMHELP_DATABASE_URL": settings.database_url,
        "FARMHELP_INSTANCE_DIR": str(settings.instance_dir),
    }
    result = CliRunner().invoke(main, ["report", "--month", "2026-10", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    got = {(r.pop("scope"), r.pop("name")): r for r in rows}
    assert got == HAND_COUNT

    runner = CliRunner()
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    for fmt, path in (("csv", csv_path), ("xlsx", xlsx_path)):
        result = runner.invoke(
            main, ["report", "--month", "2026-10", "--format", fmt, "--output", str(path)], env=env
        )
        assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))))
    assert table[0][:4] == ["范围", "名称", "求助数", "上门次数"]
    assert table[1][:4] == ["全县", "合计", "4", "3"]
    sheet = openpyxl.load_workbook(xlsx_path).active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:4] == ["全县", "合计", 4, 3]

    with Session(engine) as session:
        stored = session.exec(select(MonthlyReport).where(MonthlyReport.month == "2026-10"))
        assert {(r.scope, r.name) for r in stored} == set(HAND_COUNT)
        # October is over: the console's snapshot of its page is computed again too.
        snapshot = session.get(ReportSnapshot, "2026-10")
        assert snapshot is not None and snapshot.page["rows"][0][2]["requests"] == 4


def test_bad_month_is_refused(settings: Settings) -> None:
    env = {"FARMHELP_DATABASE_URL": settings.database_url}
    result = CliRunner().invoke(main, ["report", "--month", "2026-13"], env=env)
    assert result.exit_code == 2 and "2026-10" in result.output


def test_the_job_on_the_first_stores_last_month(engine: Engine) -> None:
    seed(engine)
    rows = store_last_month(engine=engine, policy=Policy(), now=at(11, 1, 1))
    assert rows == len(HAND_COUNT)
    with Session(engine) as session:
        total = session.exec(select(MonthlyReport).where(MonthlyReport.scope == "total")).one()
    assert total.month == "2026-10" and total.figures["requests"] == 4
