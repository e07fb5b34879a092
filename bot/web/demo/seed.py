"""The demo county: places, experts, a week of rota, a month of past requests, staff.

Everything goes in through the same tables the real service uses, so the console,
the reports and the similar-case panel have something to show from the first minute.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.web.auth import hash_password
from models.experts import add_shift, upsert_expert, upsert_place
from models.requests import code_for_id
from models.search import index_pending
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    Offer,
    RequestEvent,
    StaffUser,
    Survey,
)

COUNTY = "青川县"
PLACES = {
    "木鱼镇": ["石坝村", "马园村"],
    "城关镇": ["东河村", "新华村"],
    "乔庄镇": ["青龙村", "太平村"],
}
# Townships that border each other (an outbreak's cluster reaches across).
BORDERS = {"木鱼镇": ["城关镇"]}
# The outbreak a visitor can set off: three farmers of two bordering townships report
# one disease, each in their own words (木鱼镇 and 城关镇 border each other).
OUTBREAK = [
    ("demo-f-zhang", "麦子叶子上一道一道的黄粉，一摸一手 石坝村"),
    ("demo-f-li", "我家小麦叶片黄色条纹，像铁锈一样 东河村"),
    ("demo-f-zhao", "麦苗上长了黄色的粉末，是不是锈病 马园村"),
]
# (name, openid, team, specialties, crops, regions, leader)
EXPERTS = [
    ("王植保", "demo-e-wang", "植保队", ["plant_protection"], ["辣椒", "玉米"], ["木鱼镇"], False),
    ("赵植保", "demo-e-zhao", "植保队", ["plant_protection", "cultivation"], [], ["青川县"], False),
    ("李植保", "demo-e-li", "植保队", ["plant_protection"], [], ["城关镇"], False),
    ("刘组长", "demo-e-liu", "植保队", ["plant_protection"], [], ["青川县"], True),
    ("陈土肥", "demo-e-chen", "土肥站", ["soil_fertilizer", "cultivation"], [], ["青川县"], True),
    ("张畜牧", "demo-e-zhang", "畜牧队", ["livestock"], [], ["木鱼镇", "乔庄镇"], False),
    ("孙兽医", "demo-e-sun", "畜牧队", ["livestock"], [], ["城关镇"], True),
    ("周水产", "demo-e-zhou", "水产站", ["aquaculture"], [], ["青川县"], True),
    ("吴农机", "demo-e-wu", "农机站", ["machinery"], [], ["青川县"], True),
    ("郑市场", "demo-e-zheng", "市场服务队", ["market", "other"], [], ["青川县"], True),
]
# The farmers one can become in the simulator: (openid, name shown, village).
FARMERS = [
    ("demo-f-zhang", "张大叔", "石坝村"),
    ("demo-f-li", "李大姐", "东河村"),
    ("demo-f-wang", "王老汉", "青龙村"),
    ("demo-f-zhao", "赵婶", "马园村"),
]
PAST = [
    (
        "辣椒",
        "plant_protection",
        ["黄叶", "斑点"],
        "辣椒叶子发黄有斑点",
        "炭疽病。喷 25% 苯醚甲环唑 1500 倍液，7 天一次连喷 2 次，安全间隔期 7 天",
    ),
    (
        "玉米",
        "plant_protection",
        ["虫害"],
        "玉米叶子被虫子吃了好多洞",
        "玉米螟。喷氯虫苯甲酰胺，心叶期施药",
    ),
    (
        "小麦",
        "plant_protection",
        ["锈病"],
        "小麦叶子上有黄色粉末一条一条的",
        "条锈病。喷三唑酮，发病初期用药",
    ),
    (
        "生猪",
        "livestock",
        ["不吃食", "拉稀"],
        "猪不吃食还拉稀",
        "仔猪腹泻。补液，饲料减半，圈舍消毒",
    ),
    ("草鱼", "aquaculture", ["浮头"], "鱼塘早上鱼浮头", "缺氧。开增氧机，减少投喂"),
    ("番茄", "plant_protection", ["卷叶"], "番茄叶子往上卷", "生理性卷叶。遮阴降温，均匀浇水"),
    ("柑橘", "soil_fertilizer", ["黄叶"], "橘子树叶子黄了", "缺镁。叶面喷硫酸镁"),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str


def seed_demo(session: Session, *, now: datetime, timezone: str) -> list[DemoLogin]:
    """Fill an empty database with the demo county; return the staff logins made."""
    for township, villages in PLACES.items():
        upsert_place(
            session=session,
            county=COUNTY,
            township=township,
            village="",
            neighbours=BORDERS.get(township, ()),
        )
        for village in villages:
            upsert_place(session=session, county=COUNTY, township=township, village=village)
    experts: list[Expert] = []
    for name, openid, team, specialties, crops, regions, leader in EXPERTS:
        expert, _ = upsert_expert(
            session=session,
            openid=openid,
            name=name,
            phone=f"1380000{len(experts):04d}",
            team=team,
            specialties=specialties,
            crops=crops,
            regions=regions,
            leader=leader,
            active=True,
        )
        experts.append(expert)
        # Everyone is on duty for the week the demo shows (leaders only on call).
        if not leader:
            add_shift(
                session=session,
                expert=expert,
                start=now - timedelta(days=1),
                end=now + timedelta(days=7),
            )
    _past_month(session, experts, now)
    logins = [
        DemoLogin("demo-admin", "admin", secrets.token_urlsafe(9)),
        DemoLogin("demo-coordinator", "coordinator", secrets.token_urlsafe(9)),
        DemoLogin("demo-viewer", "viewer", secrets.token_urlsafe(9)),
    ]
    for login in logins:
        session.add(
            StaffUser(
                username=login.username,
                password_hash=hash_password(login.password),
                role=login.role,
            )
        )
    session.flush()
    index_pending(session, now=now, limit=1000)
    return logins


def _past_month(session: Session, experts: list[Expert], now: datetime) -> None:
    """Thirty requests of the last month, visited, prescribed and surveyed."""
    rng = random.Random(2026)
    villages = [v for vs in PLACES.values() for v in vs]

    def who_would_take(crop: str, category: str) -> list[Expert]:
        """The experts routing would offer such a case: its specialty, its crop if they
        list crops; those who are not leaders first."""
        able = [
            e for e in experts if category in e.specialties and (not e.crops or crop in e.crops)
        ]
        return [e for e in able if not e.leader] or able

    for number in range(30):
        crop, category, symptoms, words, record = PAST[number % len(PAST)]
        created = now - timedelta(days=30 - number, hours=rng.randint(0, 8))
        farmer = Farmer(
            openid=f"demo-past-{number}",
            place=rng.choice(villages),
            created_at=created,
            last_message_at=created,
        )
        session.add(farmer)
        session.flush()
        able = who_would_take(crop, category)
        assert able, (crop, category)  # the demo county has an expert for every past case
        expert = rng.choice(able)
        assert farmer.id is not None and expert.id is not None
        accepted = created + timedelta(minutes=rng.randint(5, 90))
        visited = accepted + timedelta(hours=rng.randint(3, 30))
        request = HelpRequest(
            farmer_id=farmer.id,
            status="closed",
            text=f"{words}，我是{farmer.place}的",
            crop=crop,
            category=category,
            symptoms=symptoms,
            place=farmer.place,
            created_at=created,
            updated_at=visited,
            confirmed_at=created,
            accepted_at=accepted,
            visited_at=visited,
            closed_at=visited + timedelta(days=1),
            expert_id=expert.id,
            visit_record=record,
            prescription={
                "diagnosis": record.split("。")[0],
                "items": [],
                "advice": record.split("。", 1)[-1],
            },
        )
        session.add(request)
        session.flush()
        assert request.id is not None
        request.code = code_for_id(request.id)
        session.add(
            Offer(
                request_id=request.id,
                expert_id=expert.id,
                status="accepted",
                reason="演示数据",
                offered_at=created,
                deadline_at=created + timedelta(minutes=30),
                answered_at=accepted,
            )
        )
        actor = f"expert:{expert.openid}"
        for at, who, before, after, note in (
            (created, f"farmer:{farmer.openid}", "intake", "new", "登记完成"),
            (created, "system", "new", "offered", f"派给 {expert.name}"),
            (accepted, actor, "offered", "accepted", f"{expert.name} 接单"),
            (visited, actor, "accepted", "visited", record[:200]),
            (visited + timedelta(days=1), "survey", "visited", "closed", "回访"),
        ):
            session.add(
                RequestEvent(
                    request_id=request.id,
                    at=at,
                    actor=who,
                    from_status=before,
                    to_status=after,
                    note=note,
                )
            )
        solved = rng.choice(["yes", "yes", "yes", "partly"])
        session.add(
            Survey(
                request_id=request.id,
                farmer_id=farmer.id or 0,
                expert_id=expert.id,
                state="answered",
                step="done",
                due_at=visited + timedelta(days=1),
                sent_at=visited + timedelta(days=1),
                answered_at=visited + timedelta(days=1, hours=2),
                solved=solved,
                rating=rng.choice([4, 5, 5]),
                created_at=visited,
            )
        )
    session.flush()
