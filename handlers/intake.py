"""The intake dialogue: a farmer's messages become a help request.

The first message opens a request (its code is in the first reply); then at most
two short questions ask for what routing needs and the message lacked — the crop
or animal, the village, what it looks like — and one message confirms what was
understood. "不知道"/"跳过" skips a question, "取消" cancels the open request.
"""

from __future__ import annotations

import re

from handlers import texts
from handlers.inbound import Inbound
from handlers.notify import send_text
from handlers.registry import Context, handles
from handlers.relay import relay
from handlers.routing import route_request
from handlers.understanding import default_parser, normalise
from models.media import count_media
from models.offers import offers_for, record_event
from models.outbox import drop_pending
from models.requests import (
    OPEN_STATUSES,
    RELAYED_STATUSES,
    append_text,
    get_open_request,
    lock_request,
    open_request,
)
from models.tables import Expert, HelpRequest, MediaFile

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
MAX_QUESTIONS = 2
CANCEL_WORDS = {"取消", "取消求助", "撤销", "不用了", "不需要了"}
SKIP_WORDS = {"不知道", "跳过", "不清楚", "不晓得", "不懂", "不确定", "没有", "不知", "不说", "过"}
_CROP_NEEDED_FOR = (
    "plant_protection",
    "cultivation",
    "soil_fertilizer",
    "livestock",
    "aquaculture",
)
_SYMPTOM_NEEDED_FOR = ("plant_protection", "livestock", "aquaculture")
_PUNCTUATION = re.compile(r"[\s,.!?;:，。！？；：、~～…“”\"'()（）]+")


def _bare(words: str) -> str:
    return _PUNCTUATION.sub("", normalise(words))


@handles("text", "image", "voice", "video", "shortvideo", "link")
def handle_farmer_message(context: Context, inbound: Inbound) -> str:
    """Open a request, answer the dialogue's question, or add to the open request."""
    assert context.farmer.id is not None
    request = get_open_request(session=context.session, farmer_id=context.farmer.id)
    bare = _bare(inbound.words)
    if bare in CANCEL_WORDS:
        return cancel_request(context, request)
    if request is None:
        request = open_request(session=context.session, farmer=context.farmer, now=context.now)
        attach_message(context, inbound, request)
        understand_request(context, request)
        reply = next_step(context, request, inbound)
        if request.status != "intake":
            return reply  # confirmed at once: the confirmation carries the code
        opened = texts.OPENED_WITH_PHOTO if inbound.msg_type == "image" else texts.OPENED
        return opened.format(code=request.code) + reply
    if request.status == "intake" and request.pending_question:
        answer_question(context, request, inbound, skipped=bare in SKIP_WORDS)
        return next_step(context, request, inbound)
    if request.status in RELAYED_STATUSES:
        return relay_to_expert(context, inbound, request)
    attach_message(context, inbound, request)
    understand_request(context, request)
    return texts.ADDED_TO_REQUEST.format(code=request.code)


@handles("location")
def handle_location(context: Context, inbound: Inbound) -> str:
    """Remember where the farmer is; a pending "which village" question is answered."""
    place = remember_location(context, inbound)
    assert context.farmer.id is not None
    request = get_open_request(session=context.session, farmer_id=context.farmer.id)
    if request is None:
        return texts.LOCATION_NOTED.format(place=place)
    request.place, request.latitude, request.longitude = place, inbound.latitude, inbound.longitude
    context.message.request_id = request.id
    if request.status in RELAYED_STATUSES:
        return relay_to_expert(context, inbound, request)
    if request.status == "intake":
        pending = request.pending_question
        if pending and pending != "place":
            # The location answers nothing that was asked: note it and ask again.
            noted = texts.LOCATION_NOTED.format(place=place)
            return noted + texts.QUESTIONS[pending]
        request.pending_question = None
        return next_step(context, request, inbound)
    return texts.LOCATION_NOTED_FOR_REQUEST.format(place=place, code=request.code)


def remember_location(context: Context, inbound: Inbound) -> str:
    """Store a location message's coordinates and label on the farmer; return the place."""
    farmer = context.farmer
    farmer.latitude, farmer.longitude = inbound.latitude, inbound.longitude
    place = (inbound.label or "").strip() or f"{inbound.latitude:.4f},{inbound.longitude:.4f}"
    farmer.place = place[:128]
    return farmer.place


def attach_message(
    context: Context, inbound: Inbound, request: HelpRequest, *, keep_words: bool = True
) -> None:
    """Link the logged message (and any media it carries) to the request."""
    context.message.request_id = request.id
    if keep_words and not append_text(request, inbound.words or (inbound.url or ""), context.now):
        context.notices.append(texts.REQUEST_FULL.format(code=request.code))
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
        context.session.flush()


def understand_request(context: Context, request: HelpRequest) -> None:
    """Fill the request's crop, category, symptoms, urgency and place from its words."""
    understood = default_parser().parse(request.text, place=context.farmer.place)
    request.crop = request.crop or understood.crop
    if request.crop and not understood.crop:
        # The crop came from an answer the lexicons do not know; judge the rest with it.
        understood = default_parser().parse(f"{request.crop} {request.text}")
    request.category = understood.category
    request.urgency = understood.urgency
    request.symptoms = understood.symptoms
    request.place = request.place or understood.place


def answer_question(
    context: Context, request: HelpRequest, inbound: Inbound, *, skipped: bool
) -> None:
    """Take the message as the answer to the pending question (or as its skip)."""
    question, request.pending_question = request.pending_question, None
    attach_message(context, inbound, request, keep_words=not skipped)
    words = inbound.words.strip()
    if not skipped and words:
        clean = normalise(words)
        if question in ("crop", "crop_voice"):
            parser = default_parser()
            request.crop = parser.find_crop(clean) or (words[:16] if len(clean) <= 8 else None)
        elif question == "place":
            request.place = default_parser().find_place(clean) or words[:64]
    understand_request(context, request)


def missing_questions(context: Context, request: HelpRequest, inbound: Inbound) -> list[str]:
    """Return the questions worth asking for this request, most useful first."""
    assert request.id is not None
    needed = []
    no_words = not request.text.strip()
    if request.crop is None and (
        no_words
        or request.category in _CROP_NEEDED_FOR
        or (request.category == "other" and request.urgency != "low")
    ):
        needed.append("crop_voice" if no_words and inbound.msg_type == "voice" else "crop")
    if request.place is None and context.farmer.place is None:
        needed.append("place")
    if (
        request.category in _SYMPTOM_NEEDED_FOR
        and not request.symptoms
        and count_media(session=context.session, request_id=request.id) == 0
    ):
        needed.append("symptom")
    asked = {q.removesuffix("_voice") for q in request.questions_asked}
    return [q for q in needed if q.removesuffix("_voice") not in asked]


def next_step(context: Context, request: HelpRequest, inbound: Inbound) -> str:
    """Ask the next useful question, or confirm the request when there is none left."""
    needed = missing_questions(context, request, inbound)
    if needed and len(request.questions_asked) < MAX_QUESTIONS:
        question = needed[0]
        request.pending_question = question
        request.questions_asked = [*request.questions_asked, question]
        return texts.QUESTIONS[question]
    return confirm_request(context, request)


def confirm_request(context: Context, request: HelpRequest) -> str:
    """Close the dialogue and offer the request to an expert."""
    request.pending_question = None
    request.confirmed_at = context.now
    actor = f"farmer:{context.farmer.openid}"
    record_event(
        session=context.session,
        request=request,
        to_status="new",
        actor=actor,
        now=context.now,
        note="intake confirmed",
    )
    route_request(
        context.session,
        request=request,
        config=context.config,
        now=context.now,
        actor=actor,
        farmer=context.farmer,
    )
    template = texts.CONFIRMED_URGENT if request.urgency == "urgent" else texts.CONFIRMED
    return template.format(code=request.code, summary=summarise(request))


def summarise(request: HelpRequest) -> str:
    """Say in Chinese what was understood: crop · category · urgency (place)."""
    parts = [request.crop] if request.crop else []
    parts += [texts.CATEGORY_NAMES[request.category], texts.URGENCY_NAMES[request.urgency]]
    summary = " · ".join(parts)
    return f"{summary}（{request.place}）" if request.place else summary


def cancel_request(context: Context, request: HelpRequest | None) -> str:
    """Cancel the farmer's open request (withdrawing any offers and telling the expert).

    The request is locked first: an expert accepting at the same instant either
    finds it cancelled, or accepted it first and is told it was cancelled; news about
    it that has not gone out yet (pages, "accepted") is dropped.
    """
    if request is None:
        return texts.NOTHING_TO_CANCEL
    assert request.id is not None
    request = lock_request(session=context.session, request_id=request.id)
    assert request.id is not None
    context.message.request_id = request.id
    if request.status not in OPEN_STATUSES:
        return texts.NOTHING_TO_CANCEL
    drop_pending(session=context.session, request_id=request.id, purposes=("page", "notify"))
    for offer in offers_for(session=context.session, request_id=request.id):
        if offer.status not in ("pending", "accepted"):
            continue
        if offer.status == "pending":
            offer.status, offer.answered_at = "withdrawn", context.now
        expert = context.session.get(Expert, offer.expert_id)
        if expert is not None:
            send_text(
                context.session,
                openid=expert.openid,
                now=context.now,
                purpose="notify",
                request=request,
                content=texts.EXPERT_CANCELLED.format(code=request.code),
            )
    request.pending_question = None
    request.closed_at = context.now
    record_event(
        session=context.session,
        request=request,
        to_status="cancelled",
        actor=f"farmer:{context.farmer.openid}",
        now=context.now,
        note="取消",
    )
    return texts.CANCELLED.format(code=request.code)


def relay_to_expert(context: Context, inbound: Inbound, request: HelpRequest) -> str:
    """Forward the farmer's message to the expert who accepted the request."""
    expert = context.session.get(Expert, request.expert_id)
    if inbound.msg_type in MEDIA_KINDS:
        attach_message(context, inbound, request, keep_words=False)
    if expert is not None:
        relay(
            context.session,
            inbound=inbound,
            message=context.message,
            request=request,
            to_openid=expert.openid,
            speaker=f"{request.code} 农户",
            now=context.now,
        )
    return texts.ADDED_FORWARDED
