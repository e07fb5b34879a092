"""The rota week as people read it, and a temporary swap (值班调整) with its notices."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.experts import on_duty_expert_ids
from models.tables import DutyShift, Expert, Outbox
from tests.bot.test_console import csrf_of

TZ = ZoneInfo("Asia/Shanghai")


def _cells(page: str, name: str) -> list[str]:
    row = page.split(f"<th>{name}", 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in row.split("<td>")[1:]]


def test_a_multi_day_shift_each_days_hours_the_gaps_and_a_swap(
    signed_in: Callable[[str], FlaskClient], county: None, engine: Engine
) -> None:
    with Session(engine) as session:
        experts = {e.openid: e for e in session.exec(select(Expert))}
        wang, zhao = experts["exp-wang"], experts["exp-zhao"]
        session.add(
            DutyShift(
                expert_id=wang.id,
                start=datetime(2030, 1, 7, 8, tzinfo=TZ),
                end=datetime(2030, 1, 9, 8, tzinfo=TZ),
            )
        )
        session.add(
            DutyShift(
                expert_id=zhao.id,
                start=datetime(2030, 1, 10, 8, tzinfo=TZ),
                end=datetime(2030, 1, 10, 18, tzinfo=TZ),
            )
        )
        session.commit()
        wang_id, zhao_id = wang.id, zhao.id
    admin = signed_in("admin1")
    page = admin.get("/console/rota?week=2030-01-07").get_data(as_text=True)
    monday, tuesday, wednesday, thursday = _cells(page, "王植保")[:4]
    assert monday.startswith("08:00–24:00") and "连班 01-07 08:00 至 01-09 08:00" in monday
    assert tuesday.startswith("全天") and wednesday.startswith("00:00–08:00")
    assert thursday == ""
    gaps = _cells(page, "没人值班")
    assert "病虫害 00:00–08:00" in gaps[0] and "畜牧兽医 全天" in gaps[0]
    assert "病虫害" not in gaps[1]  # 王 covers all of Tuesday
    # 值班调整: 赵 covers 王 for Tuesday morning.
    swapped = admin.post(
        "/console/rota/swap",
        data={
            "csrf_token": csrf_of(page),
            "absent_id": str(wang_id),
            "cover_id": str(zhao_id),
            "start": "2030-01-08T00:00",
            "end": "2030-01-08T12:00",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "已调整：1月8日 00:00–12:00由赵植保替王植保值班，已通知两位和组长。" in swapped
    tuesday_wang, tuesday_zhao = _cells(swapped, "王植保")[1], _cells(swapped, "赵植保")[1]
    assert tuesday_wang.startswith("12:00–24:00") and tuesday_zhao.startswith(
        "00:00–12:00 替王植保"
    )
    with Session(engine) as session:
        at = datetime(2030, 1, 8, 6, tzinfo=TZ)
        on_duty = on_duty_expert_ids(session=session, now=at)
        assert zhao_id in on_duty and wang_id not in on_duty
        assert wang_id in on_duty_expert_ids(
            session=session, now=datetime(2030, 1, 8, 13, tzinfo=TZ)
        )
        told = {
            row.openid: row.payload["text"]["content"]
            for row in session.exec(select(Outbox).where(col(Outbox.purpose) == "notify"))
        }
    assert (
        told["exp-wang"]
        == "值班调整：1月8日 00:00–12:00由赵植保专家替您值班，这段时间的派单发给赵植保专家。"
    )
    assert (
        told["exp-zhao"]
        == "值班调整：1月8日 00:00–12:00请您替王植保专家值班，这段时间的派单会发给您。"
    )
    assert told["exp-liu"] == "值班调整：1月8日 00:00–12:00由赵植保替王植保值班（admin1安排）。"
    log = admin.get("/console/audit").get_data(as_text=True)
    assert "管理员 admin1 安排值班调整：赵植保替王植保值班 01-08 00:00 到 01-08 12:00" in log
    # A cover with a shift of their own then, or nothing to cover, is refused kindly.
    for absent, cover, start, end, said in (
        (
            zhao_id,
            wang_id,
            "2030-01-08T11:00",
            "2030-01-08T13:00",
            "王植保在 1月8日 12:00 至 1月9日 08:00",
        ),
        (
            wang_id,
            zhao_id,
            "2030-01-12T08:00",
            "2030-01-12T18:00",
            "王植保在 1月12日 08:00–18:00 没有班",
        ),
    ):
        answer = admin.post(
            "/console/rota/swap",
            data={"csrf_token": csrf_of(page), "absent_id": str(absent), "cover_id": str(cover),
                  "start": start, "end": end},
            follow_redirects=True,
        ).get_data(as_text=True)  # fmt: skip
        flash = re.search(r'class="flash error">([^<]*)<', answer)
        assert flash is not None and said in flash.group(1), re.findall(r"flash[^<]*<", answer)
    # Two separate shifts in one window are named as two, not as one long one.
    with Session(engine) as session:
        session.add(
            DutyShift(
                expert_id=wang_id,
                start=datetime(2030, 1, 11, 8, tzinfo=TZ),
                end=datetime(2030, 1, 11, 18, tzinfo=TZ),
            )
        )
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
        session.commit()
        li_id = li.id
    answer = admin.post(
        "/console/rota/swap",
        data={"csrf_token": csrf_of(page), "absent_id": str(wang_id), "cover_id": str(li_id),
              "start": "2030-01-08T13:00", "end": "2030-01-11T20:00"},
        follow_redirects=True,
    ).get_data(as_text=True)  # fmt: skip
    assert "已调整：1月8日 13:00 至 1月9日 08:00、1月11日 08:00–18:00由李植保替王植保值班" in answer
    # A moved shift reads with whose it is.
    with Session(engine) as session:
        moved = session.exec(
            select(DutyShift).where(DutyShift.expert_id == li_id).order_by(DutyShift.start)
        ).first()
        assert moved is not None and moved.covers_for == wang_id
        moved_id = moved.id
    admin.post(
        f"/console/rota/{moved_id}/move",
        data={"csrf_token": csrf_of(page), "start": "2030-01-08T14:00", "end": "2030-01-09T08:00"},
    )
    log = admin.get("/console/audit").get_data(as_text=True)
    assert (
        "管理员 admin1 调整了班：李植保 01-08 13:00 到 01-09 08:00 改为 01-08 14:00 到 01-09 08:00"
        in log
    )
    assert signed_in("viewer1").post("/console/rota/swap", data={}).status_code in (400, 403)
