"""The account's side on WeChat: the custom menu and the village QR posters, through
the real CLI against the local fake WeChat API (which answers as WeChat documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.cli import main
from handlers import texts
from models.tables import Farmer, HelpRequest, Place
from tests.fake_wechat_api import FakeWeChatAPI, wechat_menu_error
from tests.wechat_client import FakeWeChat, post, reply_text


@pytest.fixture
def env(cli_env: dict[str, str], fake_api: FakeWeChatAPI) -> dict[str, str]:
    return {
        **cli_env,
        "WECHAT_API_BASE_URL": fake_api.base_url,
        "WECHAT_APP_ID": "wx0123456789abcdef",
    }


@pytest.fixture
def cjk_font() -> None:
    """Posters need a Chinese font; skip without one (fail in CI, where .ci/run installs it)."""
    import os

    from bot.files.posters import KNOWN_FONTS

    if any(Path(font).is_file() for font in KNOWN_FONTS):
        return
    message = "no Chinese font for the posters (apt-get install fonts-noto-cjk)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {message}")
    pytest.skip(message)


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_the_default_menu_is_one_wechat_accepts_and_shows_back(
    env: dict[str, str], fake_api: FakeWeChatAPI
) -> None:
    result = run(env, "wechat", "menu", "push")
    assert result.exit_code == 0, result.output
    (sent,) = fake_api.sent("menu/create")
    assert wechat_menu_error(sent) is None and fake_api.menu == sent
    names = [b["name"] for b in sent["button"]]
    assert names == ["拍照求助", "我的求助", "更多"]
    assert sent["button"][0]["type"] == "pic_photo_or_album"
    more = {b["name"]: b for b in sent["button"][2]["sub_button"]}
    assert more["发送位置"]["type"] == "location_select"
    assert more["使用说明"]["url"].endswith("/help")
    shown = run(env, "wechat", "menu", "show")
    assert shown.exit_code == 0 and "我的求助\tclick\tMY_REQUESTS" in shown.output


@pytest.mark.parametrize(
    ("menu", "said"),
    [
        (
            "".join(
                f'[[button]]\nname = "按钮{n}"\ntype = "click"\nkey = "K{n}"\n' for n in range(4)
            ),
            "4 buttons: WeChat allows 3",
        ),
        ('[[button]]\nname = "拍照片来求助"\ntype = "pic_weixin"\nkey = "P"\n', "18 bytes"),
        ('[[button]]\nname = "说明"\ntype = "view"\n', "needs a url"),
        ('[[button]]\nname = "说明"\ntype = "link"\nkey = "x"\n', "unknown type 'link'"),
        ("button = [", "is not valid toml"),
    ],
)
def test_a_menu_wechat_would_refuse_is_refused_here_with_the_reason(
    env: dict[str, str], fake_api: FakeWeChatAPI, tmp_path: Path, menu: str, said: str
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text(menu, encoding="utf-8")
    result = run(env, "wechat", "menu", "push", str(path))
    assert result.exit_code == 1 and said in result.output, result.output
    assert fake_api.sent("menu/create") == []


def test_a_countys_own_menu_file_is_sent_as_written(
    env: dict[str, str], fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    path = tmp_path / "menu.json"
    path.write_text(
        '{"button": [{"type": "pic_photo_or_album", "name": "拍照", "key": "P"},'
        ' {"name": "县农业局", "sub_button": [{"type": "view", "name": "政策",'
        ' "url": "https://example.gov.cn/"}]}]}',
        encoding="utf-8",
    )
    assert run(env, "wechat", "menu", "push", str(path), "--check").exit_code == 0
    assert fake_api.sent("menu/create") == []  # --check sends nothing
    assert run(env, "wechat", "menu", "push", str(path)).exit_code == 0
    assert fake_api.menu is not None and fake_api.menu["button"][1]["name"] == "县农业局"


def decoded_pages(pdf: Path) -> list[tuple[str, str]]:
    """Each page's text and the content of the QR code drawn on it."""
    pages = []
    document = pdfium.PdfDocument(str(pdf))
    for page in document:
        image = page.render(scale=2).to_pil().convert("L")
        content, _, _ = cv2.QRCodeDetector().detectAndDecode(np.array(image))
        pages.append((page.get_textpage().get_text_range(), content))
    document.close()
    return pages


@pytest.mark.usefixtures("county", "cjk_font")
def test_qrcodes_make_one_poster_per_village_with_its_own_code(
    env: dict[str, str], fake_api: FakeWeChatAPI, tmp_path: Path, engine: Engine
) -> None:
    output = tmp_path / "posters.pdf"
    result = run(env, "qrcodes", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "wrote 2 village posters" in result.output
    with Session(engine) as session:
        places = {p.village: p for p in session.exec(select(Place)) if p.village}
    pages = decoded_pages(output)
    assert len(pages) == 2
    for text, content in pages:
        village = "石坝村" if "石坝村" in text else "东河村"
        place = places[village]
        assert content == fake_api.qrcodes[f"village:{place.id}"] == place.qr_url
        for words in ("有问题，找专家", "扫码关注", "拍照或说话", "专家联系您", "农技服务"):
            assert words in text, (words, text)
    # Again, for one township: the codes are kept, WeChat is not asked again.
    again = run(env, "qrcodes", "--township", "城关镇", "--output", str(output))
    assert again.exit_code == 0 and "wrote 1 village posters" in again.output
    assert len(fake_api.sent("qrcode/create")) == 2
    assert "东河村" in decoded_pages(output)[0][0]


@pytest.mark.usefixtures("cjk_font")
def test_qrcodes_without_villages_or_a_font_say_what_to_do(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(env, "qrcodes", "--output", str(tmp_path / "p.pdf"))
    assert (
        result.exit_code == 1
        and "no villages" in result.output
        and "places import" in result.output
    )
    env = {**env, "FARMHELP_POSTER_FONT": str(tmp_path / "missing.ttf")}
    result = run(env, "qrcodes", "--output", str(tmp_path / "p.pdf"))
    assert result.exit_code == 1 and "is not a file" in result.output


@pytest.mark.usefixtures("county")
def test_scanning_a_village_poster_places_the_farmer(
    client: FlaskClient, plain_wechat: FakeWeChat, engine: Engine
) -> None:
    with Session(engine) as session:
        place = session.exec(select(Place).where(Place.village == "东河村")).one()
    scan = plain_wechat.event("farmer-q", "subscribe", EventKey=f"qrscene_village:{place.id}")
    welcome = reply_text(plain_wechat, post(client, plain_wechat, scan))
    assert welcome.startswith(texts.WELCOME) and "城关镇东河村" in welcome
    assert "/privacy" in welcome  # the personal-information notice, at first contact
    reply = reply_text(
        plain_wechat,
        post(client, plain_wechat, plain_wechat.text("farmer-q", "辣椒叶子发黄有斑点")),
    )
    assert "/privacy" not in reply  # given once
    with Session(engine) as session:
        farmer = session.exec(select(Farmer).where(Farmer.openid == "farmer-q")).one()
        assert farmer.place == "城关镇东河村" and farmer.privacy_noticed_at is not None
        request = session.exec(select(HelpRequest)).one()
        assert (request.township, request.village) == ("城关镇", "东河村")


@pytest.mark.usefixtures("county")
def test_the_menus_my_requests_button_lists_open_requests_and_their_stage(
    client: FlaskClient, plain_wechat: FakeWeChat
) -> None:
    tap = plain_wechat.event("farmer-m", "CLICK", EventKey="MY_REQUESTS")
    assert reply_text(plain_wechat, post(client, plain_wechat, tap)).startswith(
        texts.STATUS_NO_REQUEST
    )
    post(client, plain_wechat, plain_wechat.text("farmer-m", "辣椒叶子发黄有斑点 石坝村"))
    post(client, plain_wechat, plain_wechat.text("farmer-m", "另外家里的猪也不吃食了 石坝村"))
    again = plain_wechat.event(
        "farmer-m", "CLICK", EventKey="MY_REQUESTS", CreateTime=tap["CreateTime"] + 60
    )
    listed = reply_text(plain_wechat, post(client, plain_wechat, again))
    lines = listed.split("\n")
    assert len(lines) == 2 and all("求助 A" in line for line in lines), listed


@pytest.mark.usefixtures("county", "cjk_font")
def test_the_console_places_page_prints_the_posters_for_admins(
    settings: Any,
    make_app: Any,
    fake_api: FakeWeChatAPI,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    from tests.bot.test_console import add_staff, csrf_of, sign_in

    settings.wechat_api_base_url = fake_api.base_url
    app = make_app(settings)
    add_staff(cli_env, "admin1", "admin")
    add_staff(cli_env, "viewer1", "viewer")
    viewer = app.test_client()
    assert sign_in(viewer, "viewer1").status_code == 302
    page = viewer.get("/console/places").get_data(as_text=True)
    assert "石坝村" in page and "未生成" in page and "生成二维码海报" not in page
    token = csrf_of(viewer.get("/console/places").get_data(as_text=True))
    assert viewer.post("/console/places/posters", data={"csrf_token": token}).status_code == 403
    admin = app.test_client()
    assert sign_in(admin, "admin1").status_code == 302
    page = admin.get("/console/places").get_data(as_text=True)
    made = admin.post(
        "/console/places/posters", data={"csrf_token": csrf_of(page), "township": "木鱼镇"}
    )
    assert made.status_code == 200 and made.mimetype == "application/pdf"
    output = tmp_path / "console.pdf"
    output.write_bytes(made.get_data())
    ((text, content),) = decoded_pages(output)
    assert "石坝村" in text and content == fake_api.qrcodes[next(iter(fake_api.qrcodes))]
    assert "已生成" in admin.get("/console/places").get_data(as_text=True)
