"""Pushes to farmers, experts and staff, written to the outbox (never sent from here)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer
from sqlmodel import Session

from handlers import texts
from handlers.config import Policy
from handlers.privacy import mask_phones
from models.experts import RosterExpert
from models.outbox import queue
from models.tables import Expert, Farmer, HelpRequest

# WeChat's customer-service window: messages may go to a user this long after they wrote.
SERVICE_WINDOW = timedelta(hours=48)


def in_service_window(last_message_at: datetime | None, now: datetime) -> bool:
    """Whether a customer-service message may go to someone who last wrote then."""
    return last_message_at is not None and last_message_at > now - SERVICE_WINDOW


def request_link(config: Policy, request: HelpRequest, now: datetime) -> str:
    """Return the signed link to the page that shows a request; it expires."""
    code = str(request.code)
    expires = int((now + config.link_lifetime).timestamp())
    return (
        f"{config.public_url.rstrip('/')}/r/{code}?x={expires}&sig={_sign(config, code, expires)}"
    )


class LinkSigner(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed signer, minus its attempt to compress: a link's
    few ids never get shorter, and trying costs a zlib stream per link (among the
    scheduler's threads, an advisory's hundred thousand links took seconds). The
    tokens are the ones it makes when compressing does not help, and read as ever."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


WORKBENCH_SALT = "farmhelp.workbench"


def workbench_link(
    config: Policy, *, expert: Expert | RosterExpert, request: HelpRequest | None = None
) -> str:
    """The expert's own link to a request (or to their task list); it expires.

    It names the expert and the request by id only (never a farmer's openid or
    phone), signed with the app's secret and the time it was made.
    """
    serializer = LinkSigner(config.link_secret, salt=WORKBENCH_SALT)
    token = serializer.dumps({"e": expert.id, "r": request.id if request else None})
    return f"{config.public_url.rstrip('/')}/w/{token}"


FARMER_SALT = "farmhelp.farmer."
FARMER_PAGES = ("survey", "advisory", "me")


def farmer_link(config: Policy, page: str, **claims: int) -> str:
    """A farmer's own link to one of their pages (survey, advisory, me); it expires.

    It carries ids only, signed with the app's secret and the time it was made;
    the page checks its age (see `read_farmer_link`).
    """
    return farmer_links(config, page)(**claims)


def farmer_links(config: Policy, page: str) -> Callable[..., str]:
    """`farmer_link` for many farmers at once (an advisory's): the signer is made once."""
    assert page in FARMER_PAGES, page
    serializer = LinkSigner(config.link_secret, salt=FARMER_SALT + page)
    base = f"{config.public_url.rstrip('/')}/f/{page}/"

    def link(**claims: int) -> str:
        return base + str(serializer.dumps(claims))

    return link


def read_farmer_link(config: Policy, page: str, token: str, max_age: int) -> dict[str, int]:
    """The ids a farmer's link carries; raises itsdangerous' BadSignature/SignatureExpired."""
    serializer = URLSafeTimedSerializer(config.link_secret, salt=FARMER_SALT + page)
    claims = serializer.loads(token, max_age=max_age)
    return {str(k): int(v) for k, v in dict(claims).items()}


def _sign(config: Policy, code: str, expires: int) -> str:
    message = f"{code}:{expires}".encode()
    return hmac.new(config.link_secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def link_signature_ok(config: Policy, code: str, expires: str, signature: str) -> bool:
    """Check a request link's signature in constant time (not its expiry)."""
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        return False
    expected = _sign(config, code, int(expires)).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


# Since 2023-05-04 WeChat shows a template's keyword fields only (no first/remark, no
# colours), each on one line of at most 20 characters.
TEMPLATE_FIELD = 20


def template_message(
    template_id: str, *, keys: tuple[str, ...], values: list[str], url: str
) -> dict[str, Any]:
    """A template message under today's rules: each value one line of ≤ 20 characters
    (cut with …), and what the person must do behind `url`."""
    data = {
        key: {"value": clip(value, TEMPLATE_FIELD) or "无"}
        for key, value in zip(keys, values, strict=True)
    }
    return {"template_id": template_id, "url": url, "data": data}


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters, ending in … when cut."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def earlier_rounds(request: HelpRequest) -> str:
    """For a reopened request: what the last expert found and what the farmer said."""
    rounds = request.routing.get("rounds") or []
    if not rounds:
        return ""
    last = rounds[-1]
    said = f"「{clip(last['comment'], 60)}」" if last.get("comment") else ""
    return (
        f"第 {len(rounds)} 次服务后农户回访：{last.get('outcome', '')}{said}。"
        f"上次 {last.get('expert', '')} 的诊断：{clip(last.get('record') or '未记录', 80)}"
    )


def text_payload(content: str) -> dict[str, Any]:
    """A customer-service text message body."""
    return {"msgtype": "text", "text": {"content": content}}


def send_text(
    session: Session,
    *,
    openid: str,
    content: str,
    now: datetime,
    purpose: str,
    request: HelpRequest | None = None,
) -> None:
    """Queue a customer-service text."""
    queue(
        session=session,
        openid=openid,
        payload=text_payload(content),
        now=now,
        purpose=purpose,
        request_id=request.id if request else None,
    )


def page_expert(
    session: Session,
    *,
    config: Policy,
    expert: Expert | RosterExpert,
    request: HelpRequest,
    now: datetime,
    broadcast: bool = False,
) -> None:
    """Queue the page offering a request to an expert (template when configured)."""
    summary = f"{request.crop or '作物未说明'} · {texts.CATEGORY_NAMES[request.category]} · "
    summary += texts.URGENCY_NAMES[request.urgency]
    # The farmer's number is shown only to the expert who accepts (the workbench, 接单).
    words = mask_phones(request.text.strip()) or "（只发了照片或语音）"
    earlier = earlier_rounds(request)
    content = texts.EXPERT_PAGE.format(
        code=request.code,
        summary=summary,
        place=request.place or "未说明",
        words=clip(words, 300),
        board="（抢单：先接先得）" if broadcast else "",
    )
    if earlier:
        content = f"【重新派单】{earlier}\n" + content
    link = workbench_link(config, expert=expert, request=request)
    content += f"\n看照片、接单或拒绝：{link}"
    if config.expert_page_template:
        payload = template_message(
            config.expert_page_template,
            keys=config.expert_page_keys,
            values=[
                str(request.code),
                ("重新派单·" if earlier else "") + summary.replace(" · ", "·"),
                request.place or "未说明",
                words,
            ],
            url=link,  # the workbench: photos, then 接单 / 拒绝 as taps
        )
        queue(
            session=session,
            openid=expert.openid,
            payload=payload,
            now=now,
            purpose="page",
            request_id=request.id,
            kind="template",
        )
        return
    queue(
        session=session,
        openid=expert.openid,
        payload=text_payload(content),
        now=now,
        purpose="page",
        request_id=request.id,
    )


def alert_staff(
    session: Session,
    *,
    config: Policy,
    leader_openids: list[str],
    request: HelpRequest,
    reason: str,
    now: datetime,
) -> None:
    """Tell team leaders and staff that a request needs a person to step in."""
    farmer = session.get(Farmer, request.farmer_id)
    reach = (
        texts.STAFF_FARMER_PHONE.format(phone=farmer.phone)
        if farmer is not None and farmer.phone
        else texts.STAFF_FARMER_NO_PHONE
    )
    content = texts.STAFF_ALERT.format(
        code=request.code,
        reason=reason,
        crop=request.crop or "作物未说明",
        category=texts.CATEGORY_NAMES[request.category],
        urgency=texts.URGENCY_NAMES[request.urgency],
        place=request.place or "未说明",
        reach=reach,
    )
    recipients = leader_openids + list(config.staff_openids)
    for openid in dict.fromkeys(recipients):
        send_text(
            session, openid=openid, content=content, now=now, purpose="alert", request=request
        )


def tell_farmer(
    session: Session, *, farmer: Farmer, request: HelpRequest, content: str, now: datetime
) -> None:
    """Queue a message to the farmer of a request (nothing once they unsubscribed)."""
    if farmer.subscribed:
        send_text(
            session,
            openid=farmer.openid,
            content=content,
            now=now,
            purpose="notify",
            request=request,
        )
