"""Events WeChat pushes: follow, unfollow, QR scans, menu clicks, delivery reports."""

from __future__ import annotations

import logging

from sqlmodel import select

from handlers import notify, texts
from handlers.inbound import Inbound
from handlers.personal_data import without_coordinates
from handlers.registry import Context, handles
from handlers.routing import expire_offers
from models.requests import open_requests_of_farmer
from models.tables import Expert, HelpRequest, Offer, Outbox, Place

log = logging.getLogger(__name__)

VILLAGE_SCENE_PREFIX = "village:"
# The key of the menu's 我的求助 button (bot/wechat/menu.py puts it on the menu).
MENU_KEY_MY_REQUESTS = "MY_REQUESTS"


@handles("event:subscribe")
def handle_subscribe(context: Context, inbound: Inbound) -> str:
    """Welcome a follower; a QR scene `village:<code>` places them in that village."""
    farmer = context.farmer
    farmer.subscribed = True
    farmer.unsubscribed_at = None
    key = inbound.event_key or ""
    welcome = texts.WELCOME
    if key.startswith("qrscene_") and record_scene(context, key.removeprefix("qrscene_")):
        welcome += texts.WELCOME_VILLAGE.format(place=farmer.place)
    farmer.privacy_noticed_at = context.now
    return welcome + privacy_notice(context)


def privacy_notice(context: Context) -> str:
    """The one-line personal-information notice with the link to the whole of it."""
    return texts.PRIVACY_NOTICE.format(url=f"{context.config.public_url.rstrip('/')}/privacy")


@handles("event:scan")
def handle_scan(context: Context, inbound: Inbound) -> str | None:
    """A follower scanned a QR code: a village scene updates their village."""
    if record_scene(context, inbound.event_key or ""):
        return texts.SCANNED_VILLAGE.format(place=context.farmer.place) + texts.HELP
    return None


def record_scene(context: Context, scene: str) -> bool:
    """Record a `village:<code>` QR scene on the farmer; return whether it was one.

    The code is a place's id (the village posters' codes) or, from older codes, the
    village's name as written.
    """
    if not scene.startswith(VILLAGE_SCENE_PREFIX):
        return False
    code = scene.removeprefix(VILLAGE_SCENE_PREFIX).strip()[:64]
    if not code:
        return False
    place = context.session.get(Place, int(code)) if code.isdigit() and len(code) < 10 else None
    context.farmer.village_code = code
    context.farmer.place = f"{place.township}{place.village}" if place else code
    return True


@handles("event:unsubscribe")
def handle_unsubscribe(context: Context, inbound: Inbound) -> None:
    """Mark the farmer inactive: nothing more is sent to them."""
    context.farmer.subscribed = False
    context.farmer.unsubscribed_at = context.now


@handles("event:location")
def handle_location_report(context: Context, inbound: Inbound) -> None:
    """WeChat's periodic position report: kept only with the farmer's consent (留定位)."""
    if context.farmer.location_consent:
        context.farmer.latitude, context.farmer.longitude = inbound.latitude, inbound.longitude
    else:
        context.message.payload = without_coordinates(context.message.payload)


@handles("event:click")
def handle_menu_click(context: Context, inbound: Inbound) -> str:
    """我的求助: the farmer's open requests and where each stands; other keys: the help line."""
    if (inbound.event_key or "") != MENU_KEY_MY_REQUESTS:
        return texts.HELP
    from handlers.conversation import status_of

    assert context.farmer.id is not None
    mine = open_requests_of_farmer(session=context.session, farmer_id=context.farmer.id)
    if not mine:
        return texts.STATUS_NO_REQUEST
    return "\n".join(status_of(context, request) for request in mine)


@handles(
    "event:pic_sysphoto",
    "event:pic_photo_or_album",
    "event:pic_weixin",
    "event:location_select",
    "event:scancode_push",
)
def handle_menu_pick(context: Context, inbound: Inbound) -> None:
    """A photo or location chosen from the menu: WeChat sends it next as a message of its
    own, which opens or continues the request; the event itself adds nothing (and keeps
    no coordinates without the farmer's consent)."""
    if not context.farmer.location_consent:
        context.message.payload = without_coordinates(context.message.payload)


@handles("event:scancode_waitmsg")
def handle_menu_scan(context: Context, inbound: Inbound) -> str:
    """A code scanned from the menu, waiting for our answer: say how to ask for help."""
    return texts.HELP


@handles(
    "event:*",
    "event:view",
    "event:view_miniprogram",
    "event:masssendjobfinish",
    "event:publishjobfinish",
    "event:subscribe_msg_popup_event",
    "event:subscribe_msg_change_event",
    "event:subscribe_msg_sent_event",
    "event:kf_create_session",
    "event:kf_close_session",
    "event:kf_switch_session",
)
def handle_silent_event(context: Context, inbound: Inbound) -> None:
    """Reports from WeChat and events no person waits on: stored, answered `success`."""


@handles("event:templatesendjobfinish")
def handle_template_report(context: Context, inbound: Inbound) -> None:
    """WeChat's delivery report on a template message, kept on its outbox row.

    A page that did not arrive (`failed:user block`: the expert refuses the account's
    messages; `failed:system failed`) goes to the next expert at once, and staff are
    told, instead of waiting out the acceptance timeout.
    """
    msgid = str(inbound.fields.get("MsgID") or inbound.fields.get("MsgId") or "")[:32]
    status = str(inbound.fields.get("Status") or "")[:32]
    row = context.session.exec(
        select(Outbox).where(Outbox.wechat_msgid == msgid, Outbox.openid == inbound.openid)
    ).first()
    if not msgid or row is None:
        log.info("template report %s for an unknown message %r", status, msgid)
        return
    row.delivery = status
    if status == "success" or row.purpose != "page" or row.request_id is None:
        if status != "success":
            log.warning("outbox %d (%s) not delivered: %s", row.id, row.purpose, status)
        return
    expert = context.session.exec(select(Expert).where(Expert.openid == row.openid)).first()
    offers = list(
        context.session.exec(
            select(Offer).where(
                Offer.request_id == row.request_id,
                Offer.expert_id == (expert.id if expert else -1),
                Offer.status == "pending",
            )
        )
    )
    request = context.session.get(HelpRequest, row.request_id)
    if request is None or not offers:
        return  # answered, withdrawn or moved on already: nothing waits on this page
    log.warning("page %d to %s not delivered (%s): next expert", row.id, row.openid, status)
    for offer in offers:
        offer.answer_note = f"派单没送到：{status}"
    expire_offers(
        context.session,
        config=context.config,
        now=context.now,
        offers=offers,
        status="undeliverable",
    )
    name = texts.expert_title(expert.name) if expert else row.openid
    notify.alert_staff(
        context.session,
        config=context.config,
        leader_openids=[],
        request=request,
        now=context.now,
        reason=texts.STAFF_PAGE_UNDELIVERED.format(expert=name, status=status),
    )


@handles("unknown")
def handle_unknown(context: Context, inbound: Inbound) -> str:
    """Anything we do not understand is stored and answered politely."""
    return texts.UNSUPPORTED
