"""Builds pushes the way WeChat's servers do, independently of the code under test.

Signatures use hashlib, safe-mode bodies use `cryptography`'s AES-256-CBC directly
(layout random16 + len4 big-endian + xml + AppID, PKCS#7 to 32 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_encrypt(plain: bytes, aes_key: str, app_id: str) -> str:
    key = base64.b64decode(aes_key + "=")
    body = os.urandom(16) + struct.pack(">I", len(plain)) + plain + app_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def aes_decrypt(encrypted: str, aes_key: str) -> tuple[bytes, str]:
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    body = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    body = body[: -body[-1]]
    length = struct.unpack(">I", body[16:20])[0]
    return body[20 : 20 + length], body[20 + length :].decode()


def to_xml(fields: dict[str, Any]) -> bytes:
    inner = "".join(
        f"<{name}>{value}</{name}>"
        if isinstance(value, int | float)
        else f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{inner}</xml>".encode()


@dataclass
class FakeWeChat:
    """Posts signed (and, in safe mode, encrypted) pushes to a Flask test client or URL."""

    token: str
    app_id: str
    aes_key: str
    account: str = "gh_farmhelp_test"
    safe_mode: bool = False
    clock: Any = field(default=time.time)

    def query(self, *, encrypt: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = str(int.from_bytes(os.urandom(4), "big"))
        query = {
            "signature": sha1_signature(self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": "ignored",
        }
        if encrypt is not None:
            query.update(
                encrypt_type="aes", msg_signature=sha1_signature(self.token, ts, nonce, encrypt)
            )
        return query

    def message(
        self, openid: str, msg_type: str, msg_id: int | None = None, **extra: Any
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ToUserName": self.account,
            "FromUserName": openid,
            "CreateTime": int(self.clock()),
            "MsgType": msg_type,
        }
        fields.update(extra)
        if msg_type != "event":
            fields["MsgId"] = next(_msg_ids) if msg_id is None else msg_id
        return fields

    def text(self, openid: str, content: str, **extra: Any) -> dict[str, Any]:
        return self.message(openid, "text", Content=content, **extra)

    def event(self, openid: str, event: str, **extra: Any) -> dict[str, Any]:
        return self.message(openid, "event", Event=event, **extra)

    def envelope(self, fields: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        """Return (query, body) for a push, encrypted when in safe mode."""
        return self.envelope_xml(to_xml(fields))

    def envelope_xml(self, plain: bytes) -> tuple[dict[str, str], bytes]:
        """Return (query, body) for a push written as XML, encrypted when in safe mode."""
        if not self.safe_mode:
            return self.query(), plain
        encrypted = aes_encrypt(plain, self.aes_key, self.app_id)
        body = (
            f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
            f"<Encrypt><![CDATA[{escape(encrypted)}]]></Encrypt></xml>"
        ).encode()
        return self.query(encrypt=encrypted), body

    def open_reply(self, body: bytes) -> dict[str, str]:
        """Return the fields of a passive reply, decrypting and checking it in safe mode."""
        import xml.etree.ElementTree as ET

        root = ET.fromstring(body)
        if self.safe_mode:
            encrypted = root.findtext("Encrypt") or ""
            expected = sha1_signature(
                self.token,
                root.findtext("TimeStamp") or "",
                root.findtext("Nonce") or "",
                encrypted,
            )
            assert root.findtext("MsgSignature") == expected, "reply signature is wrong"
            plain, app_id = aes_decrypt(encrypted, self.aes_key)
            assert app_id == self.app_id
            root = ET.fromstring(plain)
        return {child.tag: child.text or "" for child in root}


def post(client: Any, wechat: FakeWeChat, fields: dict[str, Any]) -> Any:
    """Post one push through a Flask test client; return the response."""
    query, body = wechat.envelope(fields)
    return client.post("/wechat", query_string=query, data=body, content_type="text/xml")


def first_contact(reply: str) -> str:
    """A first reply to someone who never got the welcome: assert the personal-
    information notice ends it, and return the reply without it."""
    from handlers import texts

    notice = texts.PRIVACY_NOTICE.format(url="http://127.0.0.1:8000/privacy")
    assert reply.endswith(notice.lstrip("\n")), reply
    return reply.removesuffix(notice.lstrip("\n")).removesuffix("\n")


def reply_text(wechat: FakeWeChat, response: Any) -> str:
    """Return the Content of a passive text reply (asserting it is one)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    fields = wechat.open_reply(response.data)
    assert fields["MsgType"] == "text"
    return fields["Content"]
