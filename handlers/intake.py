"""A farmer's messages: open a help request, or add to the one that is open."""

from __future__ import annotations

from handlers import texts
from handlers.inbound import Inbound
from handlers.registry import Context, handles
from models.requests import append_text, get_open_request, open_request
from models.tables import HelpRequest, MediaFile

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")


@handles("text", "image", "voice", "video", "shortvideo", "link")
def handle_farmer_message(context: Context, inbound: Inbound) -> str:
    """Open a request with the farmer's first description; attach later messages to it."""
    assert context.farmer.id is not None
    request = get_open_request(session=context.session, farmer_id=context.farmer.id)
    is_new = request is None
    if request is None:
        request = open_request(session=context.session, farmer=context.farmer, now=context.now)
    attach_message(context, inbound, request)
    if is_new:
        return f"已收到您的求助，编号 {request.code}。我们会尽快请专家联系您。"
    return texts.ADDED_TO_REQUEST.format(code=request.code)


@handles("location")
def handle_location(context: Context, inbound: Inbound) -> str:
    """Remember where the farmer is; place the open request there too."""
    place = remember_location(context, inbound)
    assert context.farmer.id is not None
    request = get_open_request(session=context.session, farmer_id=context.farmer.id)
    if request is None:
        return texts.LOCATION_NOTED.format(place=place)
    request.place, request.latitude, request.longitude = (
        place,
        inbound.latitude,
        inbound.longitude,
    )
    context.message.request_id = request.id
    return texts.LOCATION_NOTED_FOR_REQUEST.format(place=place, code=request.code)


def remember_location(context: Context, inbound: Inbound) -> str:
    """Store a location message's coordinates and label on the farmer; return the place."""
    farmer = context.farmer
    farmer.latitude, farmer.longitude = inbound.latitude, inbound.longitude
    place = (inbound.label or "").strip() or f"{inbound.latitude:.4f},{inbound.longitude:.4f}"
    farmer.place = place[:128]
    return farmer.place


def attach_message(context: Context, inbound: Inbound, request: HelpRequest) -> None:
    """Link the logged message (and any media it carries) to the request."""
    context.message.request_id = request.id
    words = inbound.words or (inbound.url or "")
    append_text(request, words, context.now)
    if inbound.msg_type in MEDIA_KINDS and inbound.media_id:
        assert context.message.id is not None
        context.session.add(
            MediaFile(
                media_id=inbound.media_id,
                kind=inbound.msg_type,
                message_id=context.message.id,
                request_id=request.id,
                next_try_at=context.now,
                created_at=context.now,
            )
        )
