"""Events WeChat pushes: follow, unfollow, QR scans, menu clicks, delivery reports."""

from __future__ import annotations

from handlers import texts
from handlers.inbound import Inbound
from handlers.registry import Context, handles

VILLAGE_SCENE_PREFIX = "village:"


@handles("event:subscribe")
def handle_subscribe(context: Context, inbound: Inbound) -> str:
    """Welcome a follower; a QR scene `village:<code>` places them in that village."""
    farmer = context.farmer
    farmer.subscribed = True
    farmer.unsubscribed_at = None
    key = inbound.event_key or ""
    if key.startswith("qrscene_"):
        record_scene(context, key.removeprefix("qrscene_"))
    return texts.WELCOME


@handles("event:scan")
def handle_scan(context: Context, inbound: Inbound) -> str | None:
    """A follower scanned a QR code: a village scene updates their village."""
    if record_scene(context, inbound.event_key or ""):
        return texts.HELP
    return None


def record_scene(context: Context, scene: str) -> bool:
    """Record a `village:<code>` QR scene on the farmer; return whether it was one."""
    if not scene.startswith(VILLAGE_SCENE_PREFIX):
        return False
    code = scene.removeprefix(VILLAGE_SCENE_PREFIX).strip()[:64]
    if not code:
        return False
    context.farmer.village_code = code
    context.farmer.place = code
    return True


@handles("event:unsubscribe")
def handle_unsubscribe(context: Context, inbound: Inbound) -> None:
    """Mark the farmer inactive: nothing more is sent to them."""
    context.farmer.subscribed = False
    context.farmer.unsubscribed_at = context.now


@handles("event:location")
def handle_location_report(context: Context, inbound: Inbound) -> None:
    """Keep the position WeChat reports (when the user allowed it), silently."""
    context.farmer.latitude, context.farmer.longitude = inbound.latitude, inbound.longitude


@handles("event:click")
def handle_menu_click(context: Context, inbound: Inbound) -> str:
    """Answer a custom-menu click with how to ask for help."""
    return texts.HELP


@handles(
    "event:pic_sysphoto",
    "event:pic_photo_or_album",
    "event:pic_weixin",
    "event:location_select",
    "event:scancode_push",
)
def handle_menu_pick(context: Context, inbound: Inbound) -> None:
    """A photo or location chosen from the menu: WeChat sends it next as a message of its
    own, which opens or continues the request; the event itself adds nothing."""


@handles("event:scancode_waitmsg")
def handle_menu_scan(context: Context, inbound: Inbound) -> str:
    """A code scanned from the menu, waiting for our answer: say how to ask for help."""
    return texts.HELP


@handles(
    "event:*",
    "event:view",
    "event:view_miniprogram",
    "event:templatesendjobfinish",
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


@handles("unknown")
def handle_unknown(context: Context, inbound: Inbound) -> str:
    """Anything we do not understand is stored and answered politely."""
    return texts.UNSUPPORTED
