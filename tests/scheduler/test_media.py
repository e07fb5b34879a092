"""Photos and voice notes are fetched from the WeChat API into FARMHELP_MEDIA_DIR."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers.config import Policy
from models.tables import AccessToken, HelpRequest, MediaFile, utcnow
from scheduler import runtime
from scheduler.jobs import declared_jobs, run_fetch_media
from scheduler.media import fetch_due_media
from scheduler.runtime import JobContext
from tests.fake_wechat_api import FakeWeChatAPI
from tests.wechat_client import FakeWeChat, post

JPEG = b"\xff\xd8\xff\xe0" + b"farm photo" * 100


def api_for(fake: FakeWeChatAPI, engine: Engine) -> WeChatAPI:
    return WeChatAPI(
        base_url=fake.base_url, app_id="wx0123456789abcdef", app_secret="s", engine=engine
    )


def test_image_bytes_end_up_on_disk_linked_to_the_request(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    session: Session,
    settings: Settings,
    fake_api: FakeWeChatAPI,
) -> None:
    fake_api.media["media-abc"] = (JPEG, "image/jpeg")
    post(
        client,
        plain_wechat,
        plain_wechat.message("f1", "image", PicUrl="http://x/p.jpg", MediaId="media-abc"),
    )
    context = JobContext(
        engine=engine,
        wechat=api_for(fake_api, engine),
        media_dir=settings.media_dir,
        config=Policy(),
    )
    runtime.install(context)
    assert run_fetch_media() == 1
    media = session.exec(select(MediaFile)).one()
    request = session.exec(select(HelpRequest)).one()
    assert media.status == "stored" and media.request_id == request.id
    path = Path(media.path or "")
    assert path.read_bytes() == JPEG
    assert path.parent == settings.media_dir / str(request.code) and path.suffix == ".jpg"
    assert fake_api.paths() == ["stable_token", "media/get"]
    session.close()  # end the read transaction before the job writes again
    assert run_fetch_media() == 0  # nothing left to do


def test_failures_are_retried_and_logged(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    session: Session,
    settings: Settings,
    fake_api: FakeWeChatAPI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_api.media["media-x"] = (JPEG, "image/jpeg")
    fake_api.fail_next("media/get", errcode=-1, errmsg="system error")
    post(client, plain_wechat, plain_wechat.message("f2", "image", PicUrl="p", MediaId="media-x"))
    api = api_for(fake_api, engine)
    now = utcnow()
    assert fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=now) == 0
    media = session.exec(select(MediaFile)).one()
    assert (
        media.status == "pending"
        and media.attempts == 1
        and "system error" in (media.last_error or "")
    )
    assert "could not fetch image media-x" in caplog.text
    session.close()
    # Not due again until the back-off has passed.
    assert fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=now) == 0
    later = now + timedelta(seconds=31)
    assert fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=later) == 1


def test_expired_media_is_given_up(
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    session: Session,
    settings: Settings,
    fake_api: FakeWeChatAPI,
) -> None:
    post(client, plain_wechat, plain_wechat.message("f3", "voice", MediaId="gone", Format="amr"))
    api = api_for(fake_api, engine)
    in_three_days = utcnow() + timedelta(days=3)
    fetch_due_media(engine=engine, source=api, media_dir=settings.media_dir, now=in_three_days)
    media = session.exec(select(MediaFile)).one()
    assert media.status == "failed" and "40007" in (media.last_error or "")


def test_a_rejected_token_is_refreshed_once(
    engine: Engine, fake_api: FakeWeChatAPI, session: Session
) -> None:
    fake_api.media["m"] = (JPEG, "image/jpeg")
    api = api_for(fake_api, engine)
    fake_api.fail_next("media/get", errcode=40001, errmsg="invalid credential")
    assert api.download_media("m").content == JPEG
    assert fake_api.paths() == ["stable_token", "media/get", "stable_token", "media/get"]
    token = session.exec(select(AccessToken)).one()
    assert token.token == fake_api.tokens_issued[-1]


def test_the_token_is_shared_not_refetched(engine: Engine, fake_api: FakeWeChatAPI) -> None:
    fake_api.media["m"] = (JPEG, "image/jpeg")
    for _ in range(3):
        api_for(fake_api, engine).download_media("m")
    assert fake_api.paths().count("stable_token") == 1


def test_job_list_wiring() -> None:
    from apscheduler.triggers.cron import CronTrigger

    jobs = {job.id: job for job in declared_jobs("Asia/Shanghai")}
    intervals = {
        job_id: job.trigger.interval
        for job_id, job in jobs.items()
        if job_id not in ("monthly_report", "personal_data")
    }
    assert intervals == {
        "offer_timeouts": timedelta(seconds=5),
        "intake_timeouts": timedelta(seconds=30),
        "send_surveys": timedelta(seconds=2),
        "queue_advisories": timedelta(seconds=1),
        "follow_up_surveys": timedelta(minutes=1),
        "remind_experts": timedelta(minutes=1),
        "treatment_checks": timedelta(minutes=1),
        "fetch_media": timedelta(seconds=20),
        "prune_nonces": timedelta(minutes=10),
        "index_search": timedelta(seconds=5),
        "find_outbreaks": timedelta(minutes=10),
        "delete_erased_media": timedelta(minutes=1),
    }
    daily = jobs["personal_data"].trigger
    assert isinstance(daily, CronTrigger) and str(daily.timezone) == "Asia/Shanghai"
    assert {f.name: str(f) for f in daily.fields if f.name in ("day", "hour", "minute")} == {
        "day": "*",
        "hour": "3",
        "minute": "30",
    }
    monthly = jobs["monthly_report"].trigger
    assert isinstance(monthly, CronTrigger) and str(monthly.timezone) == "Asia/Shanghai"
    assert {f.name: str(f) for f in monthly.fields if f.name in ("day", "hour", "minute")} == {
        "day": "*",  # every night: last month again, with what was recorded late
        "hour": "1",
        "minute": "0",
    }
    for job in jobs.values():  # the persistent job store needs importable references
        module, name = job.func.split(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name))
