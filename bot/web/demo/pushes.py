"""Pushes built exactly as WeChat's servers build them: signed, and in safe mode encrypted."""

from __future__ import annotations

import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

import requests
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.settings import Settings
from bot.wechat.protocol import sign

ACCOUNT = "gh_farmhelp_demo"


def push_xml(fields: dict[str, Any]) -> str:
    """The XML of one push."""
    inner = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items())
    return f"<xml>{inner}</xml>"


def message_fields(openid: str, msg_type: str, **extra: Any) -> dict[str, Any]:
    """A push's fields: who, when, what, with a fresh MsgId."""
    fields: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": int(time.time()),
        "MsgType": msg_type,
    }
    fields.update(extra)
    fields["MsgId"] = str(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))
    return fields


def deliver(base_url: str, settings: Settings, fields: dict[str, Any], *, safe: bool) -> str:
    """POST a push to /wechat as WeChat would; return the passive reply's text ("" for none)."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    query = {
        "signature": sign(settings.wechat_token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": fields["FromUserName"],
    }
    body = push_xml(fields)
    crypto = None
    if safe:
        assert settings.wechat_encoding_aes_key is not None
        crypto = PrpCrypto(
            WeChatCrypto(
                settings.wechat_token, settings.wechat_encoding_aes_key, settings.wechat_app_id
            ).key
        )
        encrypted = crypto.encrypt(body, settings.wechat_app_id)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else encrypted
        query |= {
            "encrypt_type": "aes",
            "msg_signature": sign(settings.wechat_token, timestamp, nonce, encrypted),
        }
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{escape(encrypted)}]]></Encrypt></xml>"
        )
    response = requests.post(f"{base_url}/wechat", params=query, data=body.encode(), timeout=15)
    if response.status_code != 200:
        return f"（公众号没有回答：HTTP {response.status_code} {response.text[:80]}）"
    if response.content == b"success":
        return ""
    reply = xmltodict.parse(response.content)["xml"]
    if crypto is not None:
        inner = crypto.decrypt(reply["Encrypt"], settings.wechat_app_id)
        reply = xmltodict.parse(inner)["xml"]
    return str(reply.get("Content") or "")
