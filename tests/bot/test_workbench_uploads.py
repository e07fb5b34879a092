"""The workbench's prescription: only its holder writes it, phone photos fit, one tap acts once."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from bot.wechat.api import WeChatAPI
from handlers.notify import workbench_link
from models.tables import Expert, HelpRequest, MediaFile, Offer, utcnow
from scheduler.outbox import deliver_outbox
from tests.bot.test_workbench import PEPPER, accept_form, ask
from tests.fake_wechat_api import FakeWeChatAPI
from tests.queries import rows
from tests.wechat_client import FakeWeChat


def phone_photo(width: int = 3000, height: int = 2250) -> bytes:
    """A JPEG as large as a phone's (noise does not compress: several MB)."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=60)
    return out.getvalue()


Case = Callable[[str], tuple[str, FlaskClient]]


@pytest.fixture
def accepted_by_wang(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> Case:
    """A farmer's pepper request, accepted by 王植保 on the workbench: (code, his client)."""

    def open_case(farmer: str) -> tuple[str, FlaskClient]:
        code = ask(client, plain_wechat, farmer, PEPPER)
        deliver_outbox(engine=engine, sender=api, now=utcnow())
        wang, form = accept_form(app, fake_api, code)
        accepted = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
        assert "已接单" in accepted.get_data(as_text=True)
        return code, wang

    return open_case


def prescription_form(page: str, diagnosis: str, **files: Any) -> dict[str, Any]:
    """The form as the page offers it (a forged one where the page offers none)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    action = re.search(r'name="action_id" value="([0-9a-f]+)"', page)
    assert token is not None
    return {
        "csrf_token": token.group(1),
        "action_id": f"{action.group(1) if action else 'f0123456789abcdef'}p",
        "action": "prescribe",
        "diagnosis": diagnosis,
        "product0": "72% 霜脲·锰锌可湿性粉剂",
        "dose0": "100 克",
        "interval0": "7 天",
        **files,
    }


def visit_photos(engine: Engine) -> list[MediaFile]:
    return [m for m in rows(engine, MediaFile) if m.media_id.startswith("visit-")]


def test_an_expert_who_does_not_hold_the_request_cannot_write_its_prescription(
    accepted_by_wang: Case,
    engine: Engine,
    app: Any,
    settings: Settings,
) -> None:
    code, wang = accepted_by_wang("farmer-p1")
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    wang.post(f"/w/r/{code}/act", data=prescription_form(page, "辣椒疫病"), follow_redirects=True)
    # 李植保 was offered it too and opened it then; he lost the board but may still open it.
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
        li = session.exec(select(Expert).where(Expert.openid == "exp-li")).one()
        offer = Offer(request_id=found.id, expert_id=li.id, status="pending", offered_at=utcnow())
        session.add(offer)
        session.commit()
        offer_id = offer.id
        link = workbench_link(settings.policy(), expert=li, request=found)
    other = app.test_client()
    other.get(link.removeprefix(settings.public_url))
    page = other.get(f"/w/r/{code}").get_data(as_text=True)
    with Session(engine) as session:
        lost = session.get(Offer, offer_id)
        assert lost is not None
        lost.status = "lost"
        session.add(lost)
        session.commit()
    assert other.get(f"/w/r/{code}").status_code == 200
    form = prescription_form(
        page, "乱写的诊断", photos=(io.BytesIO(phone_photo(400, 300)), "x.jpg", "image/jpeg")
    )
    answer = other.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
    assert "不在您手上" in answer.get_data(as_text=True)
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
    assert found.prescription is not None and found.prescription["diagnosis"] == "辣椒疫病"
    assert (
        found.visit_record
        == "辣椒疫病\n用药1：72% 霜脲·锰锌可湿性粉剂，每亩 100 克，安全间隔期 7 天"
    )
    assert visit_photos(engine) == []


def test_phone_photos_of_several_megabytes_are_kept_shrunk(
    accepted_by_wang: Case,
    engine: Engine,
) -> None:
    code, wang = accepted_by_wang("farmer-p2")
    big = phone_photo()
    assert len(big) > 2 * 1024 * 1024
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    form = prescription_form(
        page,
        "辣椒疫病",
        photos=[(io.BytesIO(big), f"IMG_{n}.jpg", "image/jpeg") for n in range(3)],
    )
    answer = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
    assert answer.status_code == 200
    assert "3 张现场照片已存" in answer.get_data(as_text=True)
    kept = visit_photos(engine)
    assert len(kept) == 3
    for media in kept:
        assert media.path is not None
        with Image.open(Path(media.path)) as stored:
            assert stored.format == "JPEG" and max(stored.size) == 1600
        assert media.size is not None and media.size < len(big) // 2


def test_a_refused_photo_keeps_what_was_typed_and_does_nothing(
    accepted_by_wang: Case,
    engine: Engine,
) -> None:
    code, wang = accepted_by_wang("farmer-p3")
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    form = prescription_form(
        page,
        "辣椒疫病，根茎部发病",
        photos=(io.BytesIO(b"%PDF-1.4 not a photo"), "a.pdf", "image/jpeg"),
    )
    answer = wang.post(f"/w/r/{code}/act", data=form)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "“a.pdf”不是能打开的照片" in html
    assert "辣椒疫病，根茎部发病</textarea>" in html
    assert 'value="72% 霜脲·锰锌可湿性粉剂"' in html
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
    assert found.status == "accepted" and found.prescription is None


def test_a_body_over_the_workbench_limit_gets_a_page_that_says_what_fits(
    accepted_by_wang: Case,
    engine: Engine,
) -> None:
    code, wang = accepted_by_wang("farmer-p4")
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    # Six photos of 11 MB, as a browser would send them (raw bytes: no spooled files).
    boundary = "----farmhelp"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("csrf_token", token.group(1)), ("action", "prescribe"))
    ]
    photo = b"\xff\xd8" + b"0" * (11 * 1024 * 1024)
    body = "".join(parts).encode() + b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="{n}.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + b"\r\n"
        for n in range(6)
    )
    answer = wang.post(
        f"/w/r/{code}/act",
        data=body + f"--{boundary}--\r\n".encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert answer.status_code == 413
    assert "每张不超过 10 MB" in answer.get_data(as_text=True)


def test_a_double_tapped_prescription_stores_its_photos_once(
    accepted_by_wang: Case,
    engine: Engine,
) -> None:
    code, wang = accepted_by_wang("farmer-p5")
    page = wang.get(f"/w/r/{code}").get_data(as_text=True)
    photo = phone_photo(800, 600)
    replies = []
    for _tap in range(2):
        form = prescription_form(
            page, "辣椒疫病", photos=(io.BytesIO(photo), "IMG.jpg", "image/jpeg")
        )
        answer = wang.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
        replies.append(answer.get_data(as_text=True))
    assert "1 张现场照片已存" in replies[0] and "已经做过了" in replies[1]
    assert len(visit_photos(engine)) == 1


def test_a_vets_prescription_is_written_per_head_not_per_mu(
    app: Any,
    client: FlaskClient,
    plain_wechat: FakeWeChat,
    engine: Engine,
    api: WeChatAPI,
    fake_api: FakeWeChatAPI,
    county: None,
) -> None:
    from tests.bot.test_workbench import page_link

    code = ask(client, plain_wechat, "farmer-pig", "我家的猪不吃食还拉稀 石坝村")
    deliver_outbox(engine=engine, sender=api, now=utcnow())
    vet = app.test_client()
    vet.get(page_link(fake_api, "exp-zhang"))
    page = vet.get(f"/w/r/{code}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    action = re.search(r'name="action_id" value="([0-9a-f]+)"', page)
    assert token and action
    vet.post(
        f"/w/r/{code}/act",
        data={"csrf_token": token.group(1), "action_id": f"{action.group(1)}a", "action": "accept"},
    )
    page = vet.get(f"/w/r/{code}").get_data(as_text=True)
    assert ">每头</option>" in page and ">每公斤体重</option>" in page and "每亩" not in page
    assert "兑水或拌料" in page
    form = prescription_form(page, "仔猪腹泻")
    form.update(product0="恩诺沙星注射液", dose0="0.1 毫升", unit0="每公斤体重", interval0="")
    answer = vet.post(f"/w/r/{code}/act", data=form, follow_redirects=True)
    assert "已记录" in answer.get_data(as_text=True)
    with Session(engine) as session:
        found = session.exec(select(HelpRequest).where(HelpRequest.code == code)).one()
    assert found.visit_record == "仔猪腹泻\n用药1：恩诺沙星注射液，每公斤体重 0.1 毫升"
    assert found.prescription is not None and found.prescription["items"][0]["unit"] == "每公斤体重"
