"""WeChat's retries reaching two server processes that share one database."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from sqlmodel import Session, select

from models.db import make_engine
from models.tables import HelpRequest, Message
from tests.servers import running_server, server_env
from tests.wechat_client import FakeWeChat


def test_three_retries_across_two_processes_store_one_message(
    database_url: str, tmp_path: Path, wechat: FakeWeChat
) -> None:
    env = server_env(database_url, tmp_path / "instance")
    with (
        running_server(env, tmp_path / "a.log") as server_a,
        running_server(env, tmp_path / "b.log") as server_b,
    ):
        fields = wechat.text("farmer-retry", "我家的猪拉稀 不吃食")
        targets = [server_a, server_b, server_a]
        responses: list[requests.Response] = [None] * 3  # type: ignore[list-item]
        start = threading.Barrier(3)

        def deliver(index: int) -> None:
            query, body = wechat.envelope(fields)
            start.wait()
            responses[index] = requests.post(
                f"{targets[index]}/wechat", params=query, data=body, timeout=10
            )

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert [r.status_code for r in responses] == [200, 200, 200]
    replies = [wechat.open_reply(r.content) for r in responses]
    assert replies[0]["Content"] and replies[0] == replies[1] == replies[2]
    engine = make_engine(database_url)
    with Session(engine) as session:
        inbound = session.exec(select(Message).where(Message.direction == "in")).all()
        assert len(inbound) == 1
        assert len(session.exec(select(HelpRequest)).all()) == 1
    engine.dispose()


def test_a_survey_answered_on_its_page_and_in_the_chat_at_once_is_answered_once(
    database_url: str, tmp_path: Path, wechat: FakeWeChat
) -> None:
    """The one-tap page (server A) and a digit in the chat (server B) race for the same
    survey: it ends answered, and the request is reopened at most once."""
    from datetime import timedelta

    from handlers.config import Policy
    from handlers.notify import farmer_link
    from models.tables import Farmer, RequestEvent, Survey, utcnow

    env = server_env(database_url, tmp_path / "instance")
    engine = make_engine(database_url)
    with (
        running_server(env, tmp_path / "a.log") as server_a,
        running_server(env, tmp_path / "b.log") as server_b,
    ):
        policy = Policy(public_url=server_a, link_secret=env["FARMHELP_SECRET_KEY"])
        links = {}
        with Session(engine) as session:
            for number in range(4):
                openid = f"farmer-race-{number}"
                farmer = Farmer(openid=openid, last_message_at=utcnow())
                session.add(farmer)
                session.flush()
                request = HelpRequest(
                    code=f"R{9000 + number}",
                    farmer_id=farmer.id,  # type: ignore[arg-type]
                    status="visited",
                    crop="辣椒",
                    visited_at=utcnow() - timedelta(days=1),
                )
                session.add(request)
                session.flush()
                survey = Survey(
                    request_id=request.id,  # type: ignore[arg-type]
                    farmer_id=farmer.id,  # type: ignore[arg-type]
                    state="sent",
                    due_at=utcnow(),
                    sent_at=utcnow(),
                )
                session.add(survey)
                session.flush()
                links[openid] = farmer_link(policy, "survey", s=survey.id or 0)
            session.commit()
        for openid, link in links.items():
            results = race_page_and_chat(link, openid, server_b, wechat)
            assert results == {"page": 200, "chat": 200}
    with Session(engine) as session:
        for survey in session.exec(select(Survey)):
            assert survey.state == "answered" and survey.rating == 5, survey
            reopened = session.exec(
                select(RequestEvent).where(
                    RequestEvent.request_id == survey.request_id,
                    RequestEvent.to_status == "reopened",
                )
            ).all()
            # Chat first: 3 reopens it once and the page adds the rating; page first:
            # it closes, and the 3 that follows is no survey answer any more.
            assert len(reopened) == (1 if survey.solved == "no" else 0), survey
    engine.dispose()


def race_page_and_chat(link: str, openid: str, server_b: str, wechat: FakeWeChat) -> dict[str, int]:
    """Tap 解决了 ★★★★★ on the survey page and send 3 in the chat at the same instant."""
    import re

    page = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get(link).text)
    assert token is not None
    form = {"csrf_token": token.group(1), "solved": "yes", "rating": "5"}
    start = threading.Barrier(2)
    results: dict[str, int] = {}

    def tap() -> None:
        start.wait()
        results["page"] = page.post(link, data=form, timeout=10).status_code

    def reply() -> None:
        query, body = wechat.envelope(wechat.text(openid, "3"))
        start.wait()
        answer = requests.post(f"{server_b}/wechat", params=query, data=body, timeout=10)
        results["chat"] = answer.status_code

    threads = [threading.Thread(target=tap), threading.Thread(target=reply)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_reports_completing_one_cluster_at_once_raise_one_alert(
    database_url: str, tmp_path: Path, wechat: FakeWeChat
) -> None:
    """Two servers confirm the third and fourth report of one outbreak at the same
    moment; each sees a cluster big enough, and one alert is raised, holding both."""
    from models.experts import upsert_place
    from models.tables import OutbreakAlert

    engine = make_engine(database_url)
    with Session(engine) as session:
        upsert_place(session=session, county="青川县", township="木鱼镇", village="")
        upsert_place(session=session, county="青川县", township="木鱼镇", village="石坝村")
        upsert_place(
            session=session, county="青川县", township="城关镇", village="", neighbours=["木鱼镇"]
        )
        upsert_place(session=session, county="青川县", township="城关镇", village="东河村")
        session.commit()
    reports = [
        "小麦叶子上有一行一行的黄色粉末 石坝村",
        "麦子叶片上黄色条纹，像铁锈一样 东河村",
        "黄锈病，麦地里到处是黄粉 石坝村",
        "麥子葉片上長了黃色的粉 东河村",
    ]
    env = server_env(database_url, tmp_path / "instance")
    with (
        running_server(env, tmp_path / "a.log") as server_a,
        running_server(env, tmp_path / "b.log") as server_b,
    ):
        for number, words in enumerate(reports[:2]):
            query, body = wechat.envelope(wechat.text(f"wheat-{number}", words))
            assert requests.post(f"{server_a}/wechat", params=query, data=body, timeout=10).ok
        start = threading.Barrier(2)
        answers: list[int] = []

        def report(server: str, number: int) -> None:
            query, body = wechat.envelope(wechat.text(f"wheat-{number}", reports[number]))
            start.wait()
            answer = requests.post(f"{server}/wechat", params=query, data=body, timeout=20)
            answers.append(answer.status_code)

        threads = [
            threading.Thread(target=report, args=(server, number))
            for server, number in ((server_a, 2), (server_b, 3))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200, 200]
    with Session(engine) as session:
        alerts = session.exec(select(OutbreakAlert)).all()
        assert len(alerts) == 1, [a.request_ids for a in alerts]
        assert len(alerts[0].request_ids) == 4
    engine.dispose()
