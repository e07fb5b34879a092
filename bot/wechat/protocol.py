"""The WeChat push protocol: signatures, safe-mode crypto and message XML.

Everything here raises ProtocolError (with the HTTP status to answer) on bad input,
so the webhook can turn any malformed push into a clear 4xx.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import TextReply

from handlers.inbound import MAX_MESSAGE_CHARS, Inbound

# Fields every push carries, and the extra ones each message type needs.
_COMMON_FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("MsgId", "Content"),
    "image": ("MsgId", "MediaId"),
    "voice": ("MsgId", "MediaId"),
    "video": ("MsgId", "MediaId"),
    "shortvideo": ("MsgId", "MediaId"),
    "location": ("MsgId", "Location_X", "Location_Y"),
    "link": ("MsgId", "Url"),
    "event": ("Event",),
}
MEDIA_TYPES = ("image", "voice", "video", "shortvideo")
# What the database (and WeChat's own formats) can hold: longer is malformed.
_FIELD_LIMITS = {
    "ToUserName": 64,
    "FromUserName": 64,
    "MsgType": 32,
    "Event": 64,
    "MediaId": 256,
    "ThumbMediaId": 256,
    "EventKey": 512,
    "MsgId": 20,
}
_LATEST_CREATE_TIME = 4_102_444_800  # 2100-01-01: anything later is not a real push


class ProtocolError(Exception):
    """A push that cannot be accepted; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(*parts: str) -> str:
    """Return WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def check_signature(
    *,
    token: str,
    signature: str,
    timestamp: str,
    nonce: str,
    tolerance: int,
    now: float | None = None,
) -> None:
    """Verify the query signature in constant time and the timestamp's age."""
    expected = sign(token, timestamp, nonce)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ProtocolError(403, "wrong signature")
    try:
        sent_at = int(timestamp)
    except ValueError as error:
        raise ProtocolError(403, "timestamp is not a number") from error
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        raise ProtocolError(403, f"timestamp {sent_at} is {int(now - sent_at)} s away from now")


def parse_xml(body: bytes) -> dict[str, Any]:
    """Parse a push body into the fields under <xml>, refusing DTDs and entities."""
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise ProtocolError(400, "DOCTYPE/ENTITY declarations are not accepted")
    try:
        document = xmltodict.parse(body, disable_entities=True)
    except Exception as error:  # ExpatError, ValueError: any parser failure is bad input
        raise ProtocolError(400, f"malformed XML: {error}") from error
    if not isinstance(document, dict) or list(document) != ["xml"]:
        raise ProtocolError(400, "root element is not <xml>")
    fields = document["xml"]
    if not isinstance(fields, dict):
        raise ProtocolError(400, "empty <xml> element")
    for name, value in fields.items():
        if name in SCALAR_FIELDS and not (value is None or isinstance(value, str)):
            raise ProtocolError(400, f"field {name} is repeated or nested")
        if nesting_depth(value) > MAX_NESTING:
            raise ProtocolError(400, f"field {name} is nested deeper than {MAX_NESTING} levels")
    return fields


# WeChat's nested fields (SendPicsInfo/PicList/item/PicMd5Sum, PublishEventInfo/
# article_detail/item/…) go four or five levels deep; more is not WeChat.
MAX_NESTING = 6
# Fields farmhelp reads as one text: repeated or nested, the push is malformed. Every
# other field may nest (menu events, subscription and publishing reports) and is
# stored with its whole structure.
SCALAR_FIELDS = frozenset(
    {
        "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "MsgID", "Event",
        "EventKey", "Content", "MediaId", "ThumbMediaId", "Format", "Recognition", "PicUrl",
        "Location_X", "Location_Y", "Scale", "Label", "Url", "Title", "Description",
        "Latitude", "Longitude", "Precision", "Encrypt", "Status",
    }
)  # fmt: skip


def nesting_depth(value: Any) -> int:
    """How deep lists and dicts nest in a parsed value (counted without recursion)."""
    deepest, waiting = 0, [(value, 0)]
    while waiting:
        item, depth = waiting.pop()
        if isinstance(item, dict):
            waiting += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            waiting += [(v, depth + 1) for v in item]
        else:
            deepest = max(deepest, depth)
    return deepest


def decrypt_body(
    *,
    fields: dict[str, Any],
    token: str,
    aes_key: str,
    app_id: str,
    msg_signature: str,
    timestamp: str,
    nonce: str,
) -> bytes:
    """Check msg_signature over <Encrypt> and return the decrypted inner XML."""
    encrypted = fields.get("Encrypt")
    if not encrypted:
        raise ProtocolError(400, "safe mode push without <Encrypt>")
    expected = sign(token, timestamp, nonce, encrypted)
    if not hmac.compare_digest(expected.encode(), msg_signature.encode()):
        raise ProtocolError(403, "wrong msg_signature")
    crypto = PrpCrypto(WeChatCrypto(token, aes_key, app_id).key)
    try:
        plain = crypto.decrypt(encrypted, app_id)
    except InvalidAppIdException as error:
        raise ProtocolError(400, "AppID in the encrypted message is not ours") from error
    except Exception as error:  # a wrong key surfaces as UnicodeDecodeError, struct.error …
        raise ProtocolError(400, f"cannot decrypt (wrong EncodingAESKey?): {error!r}") from error
    return plain.encode()


def encrypt_reply(*, xml: str, token: str, aes_key: str, app_id: str) -> str:
    """Encrypt a passive reply for safe mode, with a fresh nonce and timestamp."""
    crypto = WeChatCrypto(token, aes_key, app_id)
    return str(crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time()))))


def to_inbound(fields: dict[str, Any]) -> Inbound:
    """Validate the fields of a decrypted push and turn them into an Inbound."""
    missing = [name for name in _COMMON_FIELDS if not fields.get(name)]
    if missing:
        raise ProtocolError(400, f"missing fields: {', '.join(missing)}")
    raw_type = str(fields["MsgType"]).lower()
    msg_type = raw_type if raw_type in _TYPE_FIELDS else "unknown"
    missing = [name for name in _TYPE_FIELDS.get(msg_type, ()) if not fields.get(name)]
    if missing:
        raise ProtocolError(400, f"{raw_type} message lacks: {', '.join(missing)}")
    too_long = [
        name for name, limit in _FIELD_LIMITS.items() if len(str(fields.get(name) or "")) > limit
    ]
    if too_long:
        raise ProtocolError(400, f"fields too long: {', '.join(too_long)}")
    try:
        create_time = int(fields["CreateTime"])
        msg_id = str(int(fields["MsgId"])) if fields.get("MsgId") else None
        latitude, longitude = _coordinates(fields)
    except (TypeError, ValueError) as error:
        raise ProtocolError(400, f"a numeric field is not a number: {error}") from error
    if not 0 <= create_time < _LATEST_CREATE_TIME:
        raise ProtocolError(400, f"CreateTime {create_time} is not a plausible time")
    if msg_id is not None and not 0 <= int(msg_id) < 2**64:
        raise ProtocolError(400, "MsgId is not a 64-bit number")
    event = str(fields["Event"]).lower() if msg_type == "event" else None
    fields = dict(fields)
    truncated = False
    for name in ("Content", "Recognition", "Title", "Description", "Label", "Url"):
        value = fields.get(name)
        if isinstance(value, str) and len(value) > MAX_MESSAGE_CHARS:
            fields[name], truncated = value[:MAX_MESSAGE_CHARS], True
    return Inbound(
        openid=fields["FromUserName"],
        account=fields["ToUserName"],
        msg_type=msg_type,
        created=datetime.fromtimestamp(create_time, UTC),
        create_time=create_time,
        msg_id=msg_id,
        event=event,
        content=fields.get("Content") or fields.get("Title"),
        media_id=fields.get("MediaId"),
        recognition=fields.get("Recognition") or None,
        event_key=fields.get("EventKey"),
        latitude=latitude,
        longitude=longitude,
        label=fields.get("Label"),
        url=fields.get("Url"),
        fields=fields,
        truncated=truncated,
    )


def _coordinates(fields: dict[str, Any]) -> tuple[float | None, float | None]:
    """Latitude and longitude from a location message or LOCATION event; both or neither."""
    for lat_name, lon_name in (("Location_X", "Location_Y"), ("Latitude", "Longitude")):
        if fields.get(lat_name) is None and fields.get(lon_name) is None:
            continue
        if fields.get(lat_name) is None or fields.get(lon_name) is None:
            raise ValueError(f"{lat_name} and {lon_name} must come together")
        latitude, longitude = float(fields[lat_name]), float(fields[lon_name])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError(f"({latitude}, {longitude}) is not a place on Earth")
        return latitude, longitude
    return None, None


def render_text_reply(*, inbound: Inbound, content: str) -> str:
    """Render a passive text reply to this message."""
    reply = TextReply(source=inbound.account, target=inbound.openid, content=content)
    return str(reply.render())
