"""What a farmer's turn is for, read before the intake dialogue sees it.

Not every message is a problem report. Thanks, acknowledgements, farewells, emoji
and stickers (`[抱拳]`) are social talk; `专家啥时候来` asks how the case stands;
`不用了 已经好了` cancels in words; `转人工` asks for a person. Only a problem report
goes on to intake, so only a problem report opens a request, and an answer to the
pending question is never a thank-you.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers import texts
from handlers.inbound import Inbound
from handlers.registry import Context
from handlers.understanding import default_parser, normalise
from models.requests import RELAYED_STATUSES
from models.tables import Expert, HelpRequest

SOCIAL = "social"
STATUS = "status"
CANCEL = "cancel"
PERSON = "person"
PROBLEM = "problem"

# WeChat's built-in stickers arrive as text: [抱拳] [强] [玫瑰], or the old /:strong codes.
_STICKER = re.compile(r"\[[^\[\]\s]{1,6}\]|/:[A-Za-z<>@!?$&*()\-]{1,10}")
_EMOJI_AND_MARKS = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d\u2b00-\u2bff\U0001f1e6-\U0001f1ff]"
    r"|[\s,.!?;:，。！？；：、~～…“”\"'()（）^_\-=+*#@/\\|]"
)
# Words that carry nothing but courtesy; a turn made only of these is social talk.
_SOCIAL_WORDS = (
    "非常感谢", "十分感谢", "太感谢", "感谢", "谢谢", "多谢", "谢了", "谢啦", "谢", "辛苦",
    "麻烦", "打扰", "劳驾", "不好意思", "好的", "好嘞", "好滴", "好哒", "好呀", "好吧", "好",
    "行", "可以", "中", "嗯", "恩", "哦", "噢", "喔", "额", "呃", "哈", "嘿", "呵", "ok",
    "okay", "thanks", "thank", "you", "知道", "晓得", "明白", "了解", "懂", "清楚", "收到",
    "记住", "再见", "拜拜", "bye", "回头见", "没事", "没问题", "不客气", "客气", "专家",
    "老师", "师傅", "领导", "同志", "你们", "你", "您", "大家", "了", "啦", "啊", "呀",
    "哇", "吧", "呢", "嘛", "的", "哟", "咯", "很", "太", "真", "非常", "十分", "特别",
    "都", "也", "就", "先", "这样", "那", "那就", "那好", "对", "是", "是的", "对的",
    "嗯呐", "赞", "棒", "厉害", "点赞", "好人", "一路平安", "祝", "身体健康",
    "阿弥陀佛", "早", "晚安", "早安", "问好", "你好", "您好", "在吗", "在",
)  # fmt: skip
_SOCIAL = re.compile(
    "(?:" + "|".join(sorted(map(re.escape, _SOCIAL_WORDS), key=len, reverse=True)) + ")+"
)
_STATUS = re.compile(
    r"(啥|什么|几|哪)(时候|时间|天|点)(来|到|过来|上门|能来|回|回复|答复|处理)"
    r"|(咋|怎么|为啥|为什么)(还)?(没|不)(有)?(人|来|回|理|答复|回复|动静|消息|处理)"
    r"|还没(有)?(人|来|回|消息|动静|人管|人理|答复)|没人(管|理|回|接|来)"
    r"|(有|找到)(人|专家)(接|管)了?(吗|没|么)|(到哪|进展|进度|咋样了|怎么样了|办得咋样)"
    r"|(来了没|来不来|还来不来|什么时候到|多久(能|才)?(来|到|回))"
)
# Cancelling in words: what the farmer says when the problem went away.
_CANCEL = re.compile(
    r"(不用|不需要|不要|别)(了|来了|麻烦了|找了|派了|管了)|(已经|自己)?(好了|解决了|弄好了|治好了)"
    r"|(问题|病)(已经)?(没了|好了|解决了)|撤(销|回)(求助)?|取消(求助|吧|了)?"
)
_PERSON = re.compile(
    r"(转|找|要|接)(人工|真人|客服|工作人员|领导|负责人)|人工(客服|服务)?$|打(我)?电话给我|给我(打|回)电话"
    r"|(我要|想)(和|跟)(专家|人)(说|讲|通话)"
)
# Words that turn a cancellation or a status question into a problem report after all.
_STILL_A_PROBLEM = re.compile(r"又|还是|还在|更|反复|复发|没好|不见好|没效果|没用")


@dataclass(frozen=True)
class Turn:
    """What a turn is for, and the words left once stickers and emoji are set aside."""

    purpose: str
    core: str


def read_turn(inbound: Inbound) -> Turn:
    """Read what a text (or a transcribed voice note) is for."""
    if inbound.msg_type not in ("text", "voice") or not inbound.words:
        return Turn(PROBLEM, "")
    clean = normalise(_STICKER.sub(" ", inbound.words))
    core = _EMOJI_AND_MARKS.sub("", clean)
    if not core:
        return Turn(SOCIAL, core)  # only emoji, stickers or punctuation: 👍 [抱拳] 。。。
    if _SOCIAL.fullmatch(core):
        return Turn(SOCIAL, core)
    if len(core) <= 24 and not _STILL_A_PROBLEM.search(core):
        if _PERSON.search(core):
            return Turn(PERSON, core)
        if _STATUS.search(core):
            return Turn(STATUS, core)
        if _CANCEL.search(core):
            return Turn(CANCEL, core)
    return Turn(PROBLEM, core)


def is_yes(words: str) -> bool:
    """A short yes: 是, 对, 确定, 1, 好, 嗯, 取消."""
    core = _EMOJI_AND_MARKS.sub("", normalise(words))
    return core in {"是", "是的", "对", "对的", "确定", "确认", "1", "好", "好的", "嗯", "嗯嗯",
                    "取消", "取消吧", "行", "可以", "要", "ok"}  # fmt: skip


def social_reply(core: str) -> str:
    """A short friendly answer to social talk."""
    if any(word in core for word in ("谢", "感谢", "辛苦", "麻烦")):
        return texts.YOU_ARE_WELCOME
    if any(word in core for word in ("再见", "拜拜", "bye", "晚安")):
        return texts.FAREWELL
    if any(word in core for word in ("你好", "您好", "在吗", "早")):
        return texts.GREETING
    return texts.ACKNOWLEDGED


CANCEL_PENDING = "cancel"  # request.pending_question while a cancellation awaits its yes
CANCEL_AT_ONCE = {"取消", "取消求助", "撤销", "撤销求助"}  # the commands the help text names


def status_of(context: Context, request: HelpRequest) -> str:
    """Where the farmer's case stands: its stage, its expert, the booked time."""
    code = request.code
    expert = context.session.get(Expert, request.expert_id) if request.expert_id else None
    name = texts.expert_title(expert.name) if expert is not None else "专家"
    if request.status == "intake":
        from handlers.intake import question_text

        question = (request.pending_question or "").split(":")[-1]
        if question:
            return texts.STATUS_INTAKE.format(code=code) + question_text(context, request, question)
        return texts.STATUS_INTAKE.format(code=code)
    if request.status == "visit_booked" and request.visit_booked_for is not None:
        when = request.visit_booked_for.astimezone(context.config.tz)
        shown = f"{when.month}月{when.day}日 {when:%H:%M}"
        return texts.STATUS_BOOKED.format(code=code, name=name, when=shown)
    if request.status == "accepted":
        return texts.STATUS_ACCEPTED.format(code=code, name=name)
    if request.status == "unassigned":
        return texts.STATUS_UNASSIGNED.format(code=code)
    return texts.STATUS_LOOKING.format(code=code)


def take_turn(context: Context, inbound: Inbound) -> str | None:
    """Answer a turn that is not a problem report; None: the dialogue goes on as usual.

    Social talk to an expert who holds the case is relayed (None here); elsewhere it is
    answered kindly and, during intake, the pending question is asked again.
    """
    from handlers import intake  # intake's cancel and relay; intake does not import us

    request = context.open_request()
    if request is not None and (request.pending_question or "").startswith(CANCEL_PENDING):
        return _answer_cancel_question(context, inbound, request)
    turn = read_turn(inbound)
    if turn.purpose == PROBLEM:
        return None
    relayed = request is not None and request.status in RELAYED_STATUSES
    if turn.purpose == SOCIAL:
        if relayed:
            return None  # part of the conversation with the expert
        reply = social_reply(turn.core)
        if request is not None:
            context.message.request_id = request.id
            pending = request.pending_question
            if request.status == "intake" and pending:
                reply += intake.question_text(context, request, pending)  # not an answer
        return reply
    if turn.purpose == CANCEL:
        if request is None:
            return texts.NOTHING_TO_CANCEL
        context.message.request_id = request.id
        if turn.core in CANCEL_AT_ONCE:
            return intake.cancel_request(context, request)
        previous = request.pending_question or ""
        request.pending_question = f"{CANCEL_PENDING}:{previous}"[:20]
        return texts.CONFIRM_CANCEL.format(code=request.code)
    if request is None:
        return texts.PERSON_NO_REQUEST if turn.purpose == PERSON else texts.STATUS_NO_REQUEST
    context.message.request_id = request.id
    reply = status_of(context, request)
    if turn.purpose == PERSON:
        reply += texts.PERSON_WITH_REQUEST
    if relayed:
        intake.relay_to_expert(context, inbound, request)  # the expert sees the question too
        reply += texts.STATUS_FORWARDED
    return reply


def _answer_cancel_question(context: Context, inbound: Inbound, request: HelpRequest) -> str | None:
    from handlers import intake

    previous = (request.pending_question or "").split(":", 1)[1] or None
    request.pending_question = previous
    context.message.request_id = request.id
    if inbound.msg_type in ("text", "voice") and is_yes(inbound.words):
        return intake.cancel_request(context, request)
    if inbound.msg_type in ("text", "voice") and read_turn(inbound).purpose == SOCIAL:
        return texts.NOT_CANCELLED.format(code=request.code)
    return None  # not a yes: the message is taken as it is, and nothing is cancelled


def second_problem(context: Context, inbound: Inbound, request: HelpRequest) -> str | None:
    """A message about a clearly different crop, animal or kind of problem than the open
    request opens a request of its own; the farmer is told both codes (None: same one)."""
    from handlers.intake import known_place_names, open_new_request

    parser = default_parser()
    known = known_place_names(context)
    said = parser.parse(inbound.words, known_places=known)
    if not parser.different_problem(crop=request.crop, category=request.category, other=said):
        return None
    earlier = request.code
    reply = open_new_request(context, inbound, place=request.place)
    return texts.SECOND_PROBLEM.format(earlier=earlier) + reply
