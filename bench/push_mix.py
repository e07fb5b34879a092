"""The pushes the benchmarks send: signed WeChat text pushes, and a realistic mix of
them from 2,000 farmers (first messages, follow-ups and answers, WeChat retrying the
same MsgId, expert commands)."""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time

TOKEN = "benchtoken2026"
WORDS = [
    "玉米叶子发黄",
    "辣椒有斑点",
    "小麦长锈病了",
    "猪不吃食",
    "鱼浮头了",
    "番茄卷叶",
    "苹果掉果",
]
PLACES = ["石坝村", "马园村", "东河村", "新华村"]


def signed(content: str, openid: str, msg_id: int) -> tuple[dict[str, str], bytes]:
    timestamp, nonce = str(int(time.time())), str(random.getrandbits(40))
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    body = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
        f"</FromUserName><CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}, body


def kind(content: str, openid: str) -> str:
    if openid.startswith("e-"):
        return "expert command"
    return "first words" if "我是" in content else "follow-up"


class Mix:
    """A realistic stream of texts: new farmers, follow-ups, retries, expert commands."""

    def __init__(self, seed: int, farmers: str = "") -> None:
        self.farmers = farmers  # names the 2,000 farmers: another name, other farmers
        self.rng = random.Random(seed)
        self.ids = itertools.count(seed * 10**9 + 1)
        self.recent: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def next(self) -> tuple[str, str, int]:
        with self.lock:
            roll = self.rng.random()
            farmer = f"o-load-{self.farmers}{self.rng.randrange(2000):05d}"
            if roll < 0.10 and self.recent:
                return self.rng.choice(self.recent)  # WeChat retrying the same MsgId
            if roll < 0.20:
                push = (
                    self.rng.choice(["任务", "值班"]),
                    f"e-load-{self.rng.randrange(4)}",
                    next(self.ids),
                )
            elif roll < 0.55:
                words = f"{self.rng.choice(WORDS)} 我是{self.rng.choice(PLACES)}的"
                push = (words, farmer, next(self.ids))
            else:
                push = (
                    self.rng.choice(["今天更多了", "石坝村", "跳过", "叶子背面有白点", "好的"]),
                    farmer,
                    next(self.ids),
                )
            self.recent = [*self.recent[-200:], push]
            return push
