"""`farmhelp demo`: the whole story through the simulator page, as a newcomer would see it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.settings import SettingsError, load_settings
from tests.browser import browser_page, screenshot
from tests.servers import free_port, start_farmhelp, stop

PEPPER = "我家辣椒叶子发黄还有斑点 我是石坝村的"


@pytest.fixture
def demo_url(tmp_path: Path) -> Iterator[str]:
    """The README's demo command, run as its own process on a free port."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARMHELP_", "WECHAT_"))}
    env["PYTHONWARNINGS"] = "error"
    port = free_port()
    process = start_farmhelp(env, tmp_path / "demo.log", "demo", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((tmp_path / "demo.log").read_text())
            try:
                if requests.get(f"{base}/demo/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "demo.log").read_text())
            time.sleep(0.2)
        assert f"open {base}/demo/" in (tmp_path / "demo.log").read_text()  # prints one URL
        yield base
    finally:
        stop(process)


def chat(page: Any, phone: int) -> str:
    return str(page.locator(".phone").nth(phone).locator(".chat").inner_text())


def wait_in(page: Any, phone: int, pattern: str, timeout: float = 20) -> str:
    """Wait until a phone's chat shows `pattern` (a regular expression); return the chat."""
    deadline = time.monotonic() + timeout
    while True:
        text = chat(page, phone)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"phone {phone} never showed {pattern!r}; it shows:\n{text}")
        page.wait_for_timeout(300)


def type_in(page: Any, phone: int, words: str) -> None:
    box = page.locator(".phone").nth(phone)
    box.locator("input.text").fill(words)
    box.locator("form.input button").click()


@pytest.mark.parametrize("safe", [False, True], ids=["plaintext", "safe-mode"])
def test_the_whole_story_through_the_simulator(demo_url: str, safe: bool) -> None:
    farmer, first, second = 0, 1, 2
    with browser_page(width=1400, height=960) as page:
        page.goto(f"{demo_url}/demo/")
        logins = page.locator(".logins").inner_text()
        password = re.search(r"demo-coordinator / (\S+)（", logins)
        assert password is not None, logins
        if safe:
            page.check("#safe")
        type_in(page, farmer, PEPPER)
        code = re.search(r"求助 ([A-Z]\d{4}) 已登记", wait_in(page, farmer, r"已登记"))
        assert code is not None
        code_text = code.group(1)
        box = page.locator(".phone").nth(farmer)
        box.locator("select.photo").select_option("spotted-leaf")
        box.locator("button.send-photo").click()
        wait_in(page, farmer, f"已补充到求助 {code_text}")
        wait_in(page, first, code_text)  # the expert's phone shows the page
        assert page.locator(".phone").nth(first).locator(".card a").count() >= 1  # with its link
        type_in(page, first, "接单")
        wait_in(page, first, f"已接单 {code_text}")
        wait_in(page, farmer, "王植保专家接了您的求助")
        type_in(page, farmer, "什么时候能来看看？")
        wait_in(page, first, "｜什么时候能来看看？")
        type_in(page, first, "明天上午过去，先别浇水")
        wait_in(page, farmer, "｜明天上午过去，先别浇水")
        screenshot(page, "demo-simulator" + ("-safe" if safe else ""))
        type_in(
            page,
            first,
            f"完成 {code_text} 炭疽病，喷苯醚甲环唑 1500 倍液，7 天后再喷一次，安全间隔期 7 天",
        )
        wait_in(page, farmer, "诊断和建议：炭疽病")
        for _ in range(6):  # jump the clock until the survey is due and sent
            page.click("#next")
            page.wait_for_timeout(1500)
            if "问题解决了吗" in chat(page, farmer):
                break
        wait_in(page, farmer, "问题解决了吗")
        type_in(page, farmer, "3")
        wait_in(page, farmer, "很抱歉没帮上忙")
        wait_in(page, second, "重新派单")  # the second expert's phone gets it
        page.goto(f"{demo_url}/console/login")
        page.fill("input[name=username]", "demo-coordinator")
        page.fill("input[name=password]", password.group(1))
        page.click("button[type=submit]")
        page.goto(f"{demo_url}/console/requests/{code_text}")
        timeline = page.locator("ol.timeline").inner_text()
        for step in ("叶子发黄", "王植保 接单", "炭疽病", "重新派单", "农户说问题没解决"):
            assert step in timeline, (step, timeline)


def test_production_has_neither_the_simulator_nor_the_fake_api(tmp_path: Path) -> None:
    from bot import create_app

    production = {
        "env": "production",
        "database_url": f"sqlite:///{tmp_path / 'p.sqlite3'}",
        "instance_dir": tmp_path,
        "secret_key": "a-long-enough-secret-key-0123",
        "wechat_token": "Token2026Farmhelp",
        "wechat_app_id": "wx0123456789abcdef",
        "wechat_app_secret": "0123456789abcdef0123456789abcdef",
    }
    with pytest.raises(SettingsError, match="development tool"):
        load_settings(**production, fake_wechat_api=True)
    app = create_app(load_settings(**production))
    client = app.test_client()
    for path in ("/demo/", "/demo/api/inbox?openid=x", "/fake-wechat/cgi-bin/stable_token"):
        assert client.get(path).status_code == 404, path
    assert client.post("/fake-wechat/cgi-bin/message/custom/send", json={}).status_code == 404
    app.extensions["farmhelp.engine"].dispose()


def test_a_visitor_sets_off_an_outbreak_and_the_clock_runs_every_due_job(demo_url: str) -> None:
    root = requests.get(f"{demo_url}/", timeout=10)  # the root leads to the simulator
    assert root.status_code == 200 and root.url == f"{demo_url}/demo/" and "演示" in root.text
    with browser_page(width=1400, height=960) as page:
        page.goto(f"{demo_url}/demo/")
        leader = 2
        page.locator(".phone").nth(leader).locator("select.who").select_option("demo-e-liu")
        page.click("#outbreak")
        note = wait_in(page, 0, r"【疫情预警】小麦")
        assert "木鱼镇、城关镇" in note and "锈病" in note, note
        # The plant-protection leader's phone receives the alert as a message.
        received = page.locator(".phone").nth(leader).locator(".bubble.theirs")
        deadline = time.monotonic() + 20
        while "【疫情预警】小麦" not in " ".join(received.all_inner_texts()):
            assert time.monotonic() < deadline, received.all_inner_texts()
            page.wait_for_timeout(300)
        alert = " ".join(received.all_inner_texts())
        assert "3 个求助" in alert and "锈病（" in alert, alert
        screenshot(page, "demo-outbreak")
        logins = page.locator(".logins").inner_text()
        password = re.search(r"demo-coordinator / (\S+)（", logins)
        assert password is not None, logins
        page.goto(f"{demo_url}/console/login")
        page.fill("input[name=username]", "demo-coordinator")
        page.fill("input[name=password]", password.group(1))
        page.click("button[type=submit]")
        dashboard = page.locator(".flash.alert").first.inner_text()
        assert "【疫情预警】小麦，木鱼镇、城关镇" in dashboard, dashboard
        screenshot(page, "demo-outbreak-console")
    ran = requests.post(f"{demo_url}/demo/api/clock", json={"hours": 24}, timeout=30).json()["ran"]
    # A day's jump passes 03:30: the daily personal-data job runs with the frequent ones.
    for job in (
        "find_outbreaks",
        "offer_timeouts",
        "send_surveys",
        "index_search",
        "personal_data",
    ):
        assert job in ran, ran
