"""The intake dialogue: a farmer's messages become a help request.

The first message opens a request (its code is in the first reply); then at most
two short questions ask for what routing needs and the message lacked — the crop
or animal, the village, what it looks like — and one message confirms what was
understood. "不知道"/"跳过" skips a question, "取消" cancels the open request.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from handlers import conversation, texts
from handlers.config import Policy
from handlers.inbound import Inbound
from handlers.notify import send_text
from handlers.outbreaks import check_request
from handlers.personal_data import without_coordinates
from handlers.places import choices_text, pick_choice, settle_request_place
from handlers.privacy import first_phone, mask_phone, without_phones
from handlers.registry import Context, handles
from handlers.relay import relay
from handlers.routing import route_request
from handlers.understanding import default_parser, normalise
from models.experts import place_book
from models.media import count_media
from models.offers import offers_for, record_event
from models.outbox import drop_pending
from models.requests import (
    OPEN_STATUSES,
    RELAYED_STATUSES,
    append_text,
    lock_request,
    open_request,
)
from models.tables import Expert, Farmer, HelpRequest, MediaFile

MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
MAX_QUESTIONS = 2
_SHORT_ANSWER = 6
CANCEL_WORDS = {"取消", "取消求助", "撤销", "撤销求助"}  # other ways of saying it: conversation.py
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
# What may stand around a number in a message that only gives it (我的电话是 …).
_PHONE_FILLER = re.compile(r"我的|我|电话|手机|号码|号|是|打|联系|[:：,，。.!！\s]")
GREETINGS = {
    *("你好", "您好", "你好啊", "您好啊", "你们好", "大家好", "在吗", "在不在", "在么", "有人吗"),
    *("有人在吗", "喂", "嗨", "哈喽", "hello", "hi", "早上好", "上午好", "下午好", "晚上好"),
    *("老师好", "专家好", "老师您好", "专家您好", "请问", "问一下", "咨询一下", "我想问一下"),
}
THANKS = {
    "谢谢",
    "谢谢你",
    "谢谢您",
    "谢谢啦",
    "多谢",
    "感谢",
    "好的谢谢",
    "好的",
    "好",
    "嗯",
    "ok",
}


def _bare(words: str) -> str:
    return _PUNCTUATION.sub("", normalise(words))


@handles("text", "image", "voice", "video", "shortvideo", "link")
def handle_farmer_message(context: Context, inbound: Inbound) -> str:
    """Open a request, answer the dialogue's question, or add to the open request."""
    assert context.farmer.id is not None
    request = context.open_request()
    bare = _bare(inbound.words)
    if bare in CANCEL_WORDS:
        return cancel_request(context, request)
    phone = remember_phone(context, inbound)
    if request is None:
        small_talk = _small_talk(inbound, bare, phone)
        if small_talk is not None:
            return small_talk  # a greeting or a phone number alone opens nothing
        if inbound.msg_type == "text" and not default_parser().about_farming(inbound.words):
            return texts.ASK_WHAT_PROBLEM  # no crop, animal, symptom or farming word at all
        return open_new_request(context, inbound)
    if inbound.msg_type == "text" and request.pending_question is None:
        second = conversation.second_problem(context, inbound, request)
        if second is not None:
            return second
    unheard = inbound.msg_type == "voice" and not inbound.words
    if request.status == "intake" and request.pending_question:
        if unheard:
            # No words to answer with: keep the voice note for the expert, ask again.
            attach_message(context, inbound, request)
            return texts.QUESTIONS["crop_voice"]
        answer_question(context, request, inbound, skipped=bare in SKIP_WORDS)
        return next_step(context, request, inbound)
    if request.pending_question and not unheard:
        # The request went on without this answer (urgent, or nobody answered in time).
        answer_question(context, request, inbound, skipped=bare in SKIP_WORDS)
        return texts.ADDED_TO_REQUEST.format(code=request.code)
    attach_message(context, inbound, request)
    understand_request(context, request)
    if unheard:
        return texts.VOICE_ADDED.format(code=request.code)
    if _only_phone(inbound.words, phone):
        return texts.PHONE_NOTED_FOR_REQUEST.format(code=request.code)
    return texts.ADDED_TO_REQUEST.format(code=request.code)


def open_new_request(context: Context, inbound: Inbound, place: str | None = None) -> str:
    """Open a request with this message and ask what is missing (or confirm it);
    `place` is where the farmer said they are before, if this message does not say."""
    request = open_request(session=context.session, farmer=context.farmer, now=context.now)
    attach_message(context, inbound, request)
    understand_request(context, request)
    request.place = request.place or place
    reply = next_step(context, request, inbound)
    if request.status != "intake":
        return reply  # confirmed at once: the confirmation carries the code
    opened = texts.OPENED_WITH_PHOTO if inbound.msg_type == "image" else texts.OPENED
    return opened.format(code=request.code) + reply


def _small_talk(inbound: Inbound, bare: str, phone: str | None) -> str | None:
    """A friendly answer to a message that asks for nothing yet (None: it does)."""
    if inbound.msg_type != "text":
        return None
    if bare in GREETINGS:
        return texts.GREETING
    if bare in THANKS:
        return texts.YOU_ARE_WELCOME
    if _only_phone(inbound.words, phone):
        return texts.PHONE_NOTED
    return None


def remember_phone(context: Context, inbound: Inbound) -> str | None:
    """Keep a mobile number the farmer wrote, so an expert can call; return it."""
    found = first_phone(inbound.words) if inbound.words else None
    if found is not None:
        context.farmer.phone = found
    return found


def _only_phone(words: str, phone: str | None) -> bool:
    """Whether a message gives a phone number and nothing else."""
    return phone is not None and not _PHONE_FILLER.sub("", without_phones(words or ""))


@handles("location")
def handle_location(context: Context, inbound: Inbound) -> str:
    """Remember where the farmer is; a pending "which village" question is answered."""
    place = remember_location(context, inbound)
    assert context.farmer.id is not None
    request = context.open_request()
    if request is None:
        return texts.LOCATION_NOTED.format(place=place)
    request.place = place
    if context.farmer.location_consent:
        request.latitude, request.longitude = inbound.latitude, inbound.longitude
    context.message.request_id = request.id
    if request.status in RELAYED_STATUSES:
        return relay_to_expert(context, inbound, request)
    if request.status == "intake":
        pending = request.pending_question
        if pending and pending != "place":
            # The location answers nothing that was asked: note it and ask again.
            noted = texts.LOCATION_NOTED.format(place=place)
            return noted + question_text(context, request, pending)
        request.pending_question = None
        return next_step(context, request, inbound)
    return texts.LOCATION_NOTED_FOR_REQUEST.format(place=place, code=request.code)


def remember_location(context: Context, inbound: Inbound) -> str:
    """Store a location message's label on the farmer (its coordinates only with the
    farmer's consent, 留定位: precise location is sensitive under PIPL); return the place."""
    farmer = context.farmer
    label = (inbound.label or "").strip()
    if farmer.location_consent:
        farmer.latitude, farmer.longitude = inbound.latitude, inbound.longitude
        place = label or f"{inbound.latitude:.4f},{inbound.longitude:.4f}"
    else:
        context.message.payload = without_coordinates(context.message.payload)
        context.notices.append(texts.LOCATION_VILLAGE_ONLY)
        place = label or "（定位没有村名）"
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
        context.session.add(context.message)
        context.session.flush()  # the media row names the message by its id
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
    known = known_place_names(context)
    understood = default_parser().parse(
        request.text, place=context.farmer.place, known_places=known
    )
    request.crop = request.crop or understood.crop
    if request.crop and not understood.crop:
        # The crop came from an answer the lexicons do not know; judge the rest with it.
        understood = default_parser().parse(f"{request.crop} {request.text}", known_places=known)
    request.category = understood.category
    request.urgency = understood.urgency
    request.symptoms = understood.symptoms
    request.place = request.place or understood.place
    settle_request_place(context, request)


def answer_question(
    context: Context, request: HelpRequest, inbound: Inbound, *, skipped: bool
) -> None:
    """Take the message as the answer to the pending question (or as its skip).

    An answer that does not fit the question is used for what it is (a crop named
    when asked for the village fills the crop) or fills nothing; its words stay in
    the request's text either way.
    """
    question, request.pending_question = request.pending_question, None
    attach_message(context, inbound, request, keep_words=not skipped)
    words = inbound.words.strip()
    if not skipped and words and question:
        fill_from_answer(context, request, question, words)
    understand_request(context, request)
    if request.confirmed_at is not None:
        # Paged at once (urgent), its place or signs may only be known now.
        check_request(context.session, request=request, config=context.config, now=context.now)


def fill_from_answer(context: Context, request: HelpRequest, question: str, words: str) -> None:
    """Fill the field the answer is about, if it is about one."""
    parser = default_parser()
    clean = _bare(words)
    known = known_place_names(context)
    spans = parser.place_spans(clean, known)
    place = clean[spans[0][0] : spans[0][1]] if spans else None
    crop = parser.find_crop(clean, outside=spans)
    understood = parser.parse(clean, known_places=known)
    plain_word = (
        len(clean) <= _SHORT_ANSWER
        and not understood.symptoms
        and understood.category == "other"
        and clean not in GREETINGS
    )
    if question in ("crop", "crop_voice"):
        if crop:
            request.crop = crop
        elif place:
            request.place = place  # told us where, not what
        elif plain_word or (len(clean) <= 8 and not understood.symptoms):
            request.crop = words[:16]  # a crop the lexicons do not know
    elif question == "place_choice":
        picked = pick_choice(words, settle_request_place(context, request))
        if picked is not None:
            request.village, request.township = picked.village or None, picked.township or None
            request.place = picked.village or picked.township
    elif question == "place":
        if place:
            request.place = place
        elif crop:
            request.crop = request.crop or crop  # 番茄: the crop, not the village
        elif plain_word:
            request.place = words[:64]  # a village named without its suffix


def known_place_names(context: Context) -> tuple[str, ...]:
    """The townships and villages imported with `places import`, longest first."""
    return place_book(session=context.session).names


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
    elif len(settle_request_place(context, request)) > 1:
        needed.append("place_choice")
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
    if request.urgency == "urgent" and request.status == "intake":
        # Page at once; what is missing is asked afterwards and added to the request.
        reply = confirm_request(context, request)
        if needed and len(request.questions_asked) < MAX_QUESTIONS:
            request.pending_question = needed[0]
            request.questions_asked = [*request.questions_asked, needed[0]]
            reply += question_text(context, request, needed[0])
        return reply
    if needed and len(request.questions_asked) < MAX_QUESTIONS:
        question = needed[0]
        request.pending_question = question
        request.questions_asked = [*request.questions_asked, question]
        return question_text(context, request, question)
    return confirm_request(context, request)


def question_text(context: Context, request: HelpRequest, question: str) -> str:
    """The question as the farmer reads it (the place's choices spelled out)."""
    if question == "place_choice":
        choices = settle_request_place(context, request)
        return texts.PLACE_CHOICE.format(choices=choices_text(choices))
    return texts.QUESTIONS[question]


def confirm_request(context: Context, request: HelpRequest) -> str:
    """Close the dialogue, offer the request to an expert, and say what happened."""
    request.pending_question = None
    offers = proceed(
        context.session,
        request=request,
        config=context.config,
        now=context.now,
        actor=f"farmer:{context.farmer.openid}",
        farmer=context.farmer,
        quiet=True,
    )
    summary = summarise(request)
    if not offers:
        return texts.CONFIRMED_NOBODY.format(code=request.code, summary=summary)
    if request.urgency != "urgent":
        return texts.CONFIRMED.format(code=request.code, summary=summary)
    reach = (
        texts.URGENT_WILL_CALL.format(phone=mask_phone(context.farmer.phone))
        if context.farmer.phone
        else texts.URGENT_LEAVE_PHONE
    )
    return texts.CONFIRMED_URGENT.format(code=request.code, summary=summary) + reach


def proceed(
    session: Session,
    *,
    request: HelpRequest,
    config: Policy,
    now: datetime,
    actor: str,
    farmer: Farmer | None = None,
    quiet: bool = False,
) -> list[int]:
    """The intake is over (answered, urgent, or timed out): route the request.

    With `quiet` the farmer is not sent a separate "still looking" message, because
    the caller's reply says so.
    """
    request.confirmed_at = now
    record_event(
        session=session,
        request=request,
        to_status="new",
        actor=actor,
        now=now,
        note="登记完成",
    )
    offers = route_request(
        session, request=request, config=config, now=now, actor=actor, farmer=farmer, quiet=quiet
    )
    check_request(session, request=request, config=config, now=now)
    return offers


def summarise(request: HelpRequest) -> str:
    """Say in Chinese what was understood: crop · category · urgency (place)."""
    parts = [request.crop] if request.crop else []
    parts += [texts.CATEGORY_NAMES[request.category], texts.URGENCY_NAMES[request.urgency]]
    summary = " · ".join(parts)
    where = request.village or request.township or request.place
    return f"{summary}（{where}）" if where else summary


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


def relay_if_accepted(context: Context, inbound: Inbound) -> str | None:
    """Relay to the expert who holds the farmer's request; None when nobody holds one."""
    if inbound.msg_type not in (*MEDIA_KINDS, "text", "link"):
        return None  # locations and events have their own handlers
    if _bare(inbound.words) in CANCEL_WORDS:
        return None
    assert context.farmer.id is not None
    request = context.open_request()
    if request is None or request.status not in RELAYED_STATUSES:
        return None
    if inbound.msg_type == "text" and request.pending_question is None:
        # Not relayed to an expert who cannot help with it: a request of its own.
        second = conversation.second_problem(context, inbound, request)
        if second is not None:
            return second
    return relay_to_expert(context, inbound, request)


def relay_to_expert(context: Context, inbound: Inbound, request: HelpRequest) -> str:
    """Forward the farmer's message to the expert who accepted the request."""
    remember_phone(context, inbound)
    if request.pending_question and inbound.words:
        # A question asked after paging (urgent) is answered: fill the field too.
        answer_question(context, request, inbound, skipped=_bare(inbound.words) in SKIP_WORDS)
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
            precise=context.farmer.location_consent,
        )
    return texts.ADDED_FORWARDED
