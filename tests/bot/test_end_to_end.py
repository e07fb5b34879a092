"""The whole loop on the embedded default: a real `farmhelp serve` process, a local fake
WeChat API, farmer and expert messages over HTTP."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from bot.cli import main
from models.tables import utcnow
from tests.fake_wechat_api import FakeWeChatAPI
from tests.roster import import_roster
from tests.servers import running_server, server_env
from tests.wechat_client import FakeWeChat

CODE = re.compile(r"[A-Z][0-9]{3,6}")


def send(base: str, wechat: FakeWeChat, openid: str, text: str) -> tuple[str, float]:
    query, body = wechat.envelope(wechat.text(openid, text))
    started = time.monotonic()
    response = requests.post(f"{base}/wechat", params=query, data=body, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    content = (
        wechat.open_reply(response.content)["Content"] if response.content != b"success" else ""
    )
    return content, elapsed


def test_page_accept_visit_end_to_end(
    database_url: str, tmp_path: Path, fake_api: FakeWeChatAPI, plain_wechat: FakeWeChat
) -> None:
    env = server_env(
        database_url,
        tmp_path / "instance",
        WECHAT_API_BASE_URL=fake_api.base_url,
        FARMHELP_TIMEZONE="Asia/Shanghai",
    )
    import_roster(env, tmp_path, utcnow())
    with running_server(env, tmp_path / "serve.log") as base:
        reply, _ = send(base, plain_wechat, "farmer-e2e", "我家辣椒叶子发黄还有斑点 我是石坝村的")
        code = CODE.search(reply).group()  # type: ignore[union-attr]
        paged_after = fake_api.wait_for(lambda api: api.texts_to("exp-wang"), timeout=10)
        assert paged_after < 5, f"page took {paged_after:.2f} s"
        assert code in fake_api.texts_to("exp-wang")[0]
        assert fake_api.texts_to("exp-li") == [] and fake_api.texts_to("exp-zhang") == []

        accepted, _ = send(base, plain_wechat, "exp-wang", "接单")
        assert code in accepted
        told_after = fake_api.wait_for(
            lambda api: any("王植保" in t for t in api.texts_to("farmer-e2e")), timeout=10
        )
        assert told_after < 5, f"farmer told after {told_after:.2f} s"

        done, _ = send(base, plain_wechat, "exp-wang", f"完成 {code} 叶斑病，喷药两次")
        assert "已记录" in done

        # A slow WeChat API does not slow the webhook: paging happens in the scheduler.
        baseline = [
            send(base, plain_wechat, f"farmer-fast-{i}", "玉米叶子卷了 石坝村")[1] for i in range(3)
        ]
        fake_api.delay = 3.0
        slowed = [
            send(base, plain_wechat, f"farmer-slow-{i}", "玉米叶子卷了 石坝村")[1] for i in range(3)
        ]
        print(
            f"webhook reply: {max(baseline):.3f} s normally, {max(slowed):.3f} s with a "
            "3 s WeChat API"
        )
        assert max(slowed) < 1.0
        assert max(slowed) < max(baseline) + 0.5
        fake_api.delay = 0.0

    result = CliRunner().invoke(main, ["requests", "export", "--format", "jsonl"], env=env)
    assert result.exit_code == 0, result.output
    row = next(
        json.loads(line) for line in result.stdout.splitlines() if json.loads(line)["code"] == code
    )
    assert row["status"] == "visited" and row["expert_openid"] == "exp-wang"
    assert row["accepted_at"] and row["visited_at"] and row["visit_record"] == "叶斑病，喷药两次"
    assert "visit_booked_for" in row
