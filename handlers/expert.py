"""What experts write to the account: commands, or words relayed to their farmer.

接单 CODE · 拒绝 CODE [理由] · 预约 CODE 时间 · 完成 CODE 诊断和建议 · 值班 · 下班 · 任务
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import texts
from handlers.inbound import Inbound
from handlers.notify import send_text, tell_farmer, workbench_link
from handlers.outcomes import cancel_checks, schedule_check
from handlers.prescriptions import current_rules, harvest_warning, missing_interval, refusal
from handlers.registry import Context
from handlers.relay import relay
from handlers.routing import offer_unassigned_to, qualifies, route_request
from handlers.survey import schedule_survey
from handlers.timeparse import parse_visit_time
from models.media import list_media
from models.offers import offers_for, pending_offers_of_expert, record_event, requests_offered_to
from models.outbox import queue
from models.requests import (
    RELAYED_STATUSES,
    get_request_by_code,
    lock_request,
    requests_of_expert,
)
from models.tables import Expert, Farmer, HelpRequest, Offer

HELP = (
    "专家指令：\n接单 编号\n拒绝 编号 理由\n预约 编号 时间（如 明天上午9点）\n"
    "完成 编号 诊断和建议\n值班 / 下班\n任务（看我手上的求助）\n其他消息会转给您正在处理的农户。"
)
_COMMAND = re.compile(
    r"^\s*(接单|拒绝|预约|完成|值班|下班|任务)\s*([A-Za-z]\d{3,6})?\s*(.*)$", re.S
)
# A message that starts with a request code is meant for that request's farmer.
_ADDRESSED = re.compile(r"^\s*([A-Za-z]\d{3,6})(?![0-9])[\s:：,，]*(.*)$", re.S)
MEDIA_LIFETIME = timedelta(days=3)
REMOTE_MODES = {
    "电话": "电话指导",
    "电话指导": "电话指导",
    "远程": "远程指导",
    "远程指导": "远程指导",
}  # how long WeChat keeps a MediaId
# Experts often start the record with the label the farmer's message already carries.
_DIAGNOSIS_LABEL = re.compile(r"^\s*(?:诊断和建议|诊断与建议|诊断建议|诊断)\s*[:：]?\s*")
ACCOUNT_DISABLED = "您的专家账号已停用，不能再接单或回复农户。如有疑问请联系县农业农村局。"


def expert_title(expert: Expert) -> str:
    """How farmers see an expert named (see texts.expert_title)."""
    return texts.expert_title(expert.name)


@dataclass(frozen=True)
class Command:
    word: str
    code: str | None
    rest: str


CommandHandler = Callable[[Context, Expert, Command], str]
_COMMANDS: dict[str, CommandHandler] = {}


def command(word: str) -> Callable[[CommandHandler], CommandHandler]:
    """Register the handler of one command word."""

    def register(handler: CommandHandler) -> CommandHandler:
        _COMMANDS[word] = handler
        return handler

    return register


def run_command(context: Context, expert: Expert, inbound: Inbound) -> str | None:
    """Run the expert's command; None when the message is not a command."""
    match = _COMMAND.match(inbound.words) if inbound.msg_type in ("text", "voice") else None
    if not match:
        return None
    if not expert.active:
        return ACCOUNT_DISABLED
    code = match.group(2).upper() if match.group(2) else None
    return _COMMANDS[match.group(1)](
        context, expert, Command(match.group(1), code, match.group(3).strip())
    )


def is_addressed(inbound: Inbound) -> bool:
    """Whether a message starts with a request code (meant for that request's farmer)."""
    return inbound.msg_type == "text" and _ADDRESSED.match(inbound.words) is not None


def relay_to_farmer(context: Context, expert: Expert, inbound: Inbound) -> str:
    """Relay an expert's message to the farmer of the request it names, or of the latest one.

    A message starting with a code goes to that request's farmer; without a code it
    goes to the request accepted most recently, and the reply always says which.
    """
    assert expert.id is not None
    held = requests_of_expert(session=context.session, expert_id=expert.id)
    if not held:
        return HELP
    addressed = _ADDRESSED.match(inbound.words) if inbound.msg_type == "text" else None
    words: str | None = None
    if addressed:
        code = addressed.group(1).upper()
        request = next((r for r in held if r.code == code), None)
        if request is None:
            return f"求助 {code} 不在您手上，消息没有转出。{_held_list(held)}"
        words = addressed.group(2).strip()
        if not words:
            return f"请在编号后面写上要对农户说的话，如“{code} 明天上午过去看看”。"
    else:
        request = held[0]
    farmer = context.session.get(Farmer, request.farmer_id)
    if farmer is None or not farmer.subscribed:
        return f"求助 {request.code} 的农户已取消关注，消息无法送达。"
    relay(
        context.session,
        inbound=inbound,
        message=context.message,
        request=request,
        to_openid=farmer.openid,
        speaker=expert_title(expert),
        now=context.now,
        words=words,
    )
    reply = f"已转给 {request.code} 农户。"
    others = [r.code for r in held if r.id != request.id]
    if others and not addressed:
        reply += (
            f"您手上还有 {'、'.join(str(c) for c in others)}；"
            f"给其他农户发消息请在前面写编号，如“{others[0]} 您好”。"
        )
    return reply


def _held_list(held: list[HelpRequest]) -> str:
    return f"您手上的求助：{'、'.join(str(r.code) for r in held)}。"


def _find_request(context: Context, code: str | None) -> HelpRequest | None:
    """The request a command names; the command (and its reply) is logged under it."""
    if code is None:
        return None
    found = get_request_by_code(session=context.session, code=code)
    if found is not None:
        context.message.request_id = found.id
    return found


# How a staff member's reassignment reads on its offer (handlers/coordination.py).
STAFF_CHOICE = "工作人员 "


@command("接单")
def accept(context: Context, expert: Expert, cmd: Command) -> str:
    """Accept a request; `接单` alone works when exactly one offer is pending.

    An expert may take a request offered to them, one they were offered earlier that
    nobody holds now (a late answer), or an unassigned one they qualify for (team
    leaders: any unassigned one). The request row is locked, so of two experts
    accepting at once exactly one wins and the other is told.
    """
    assert expert.id is not None
    session = context.session
    if cmd.code is None:
        pending = pending_offers_of_expert(session=session, expert_id=expert.id)
        if len(pending) != 1:
            return (
                "您现在没有待接的求助。"
                if not pending
                else "您有几个待接的求助，请写上编号，如“接单 A1000”。"
            )
        request_id = pending[0].request_id
    else:
        found = _find_request(context, cmd.code)
        if found is None or found.id is None:
            return f"没有找到求助 {cmd.code}。"
        request_id = found.id
    request = lock_request(session=session, request_id=request_id)
    assert request.id is not None
    offers = offers_for(session=session, request_id=request.id)
    mine = [o for o in offers if o.expert_id == expert.id]
    pending_mine = next((o for o in mine if o.status == "pending"), None)
    if request.expert_id == expert.id and request.status in RELAYED_STATUSES:
        return f"求助 {request.code} 已经是您的了。"
    if request.status in ("accepted", "visit_booked", "visited", "closed"):
        if pending_mine is not None:
            pending_mine.status, pending_mine.answered_at = "taken", context.now
        return texts.OFFER_TAKEN.format(code=request.code)
    if request.status == "cancelled":
        if pending_mine is not None:
            pending_mine.status, pending_mine.answered_at = "withdrawn", context.now
        return f"农户已经取消了求助 {request.code}，不用处理了，谢谢。"
    if request.status == "intake":
        return f"求助 {request.code} 还在登记中，登记完会派给专家。"
    chosen = [
        o
        for o in offers
        if o.status == "pending" and o.expert_id != expert.id and o.reason.startswith(STAFF_CHOICE)
    ]
    if pending_mine is None and chosen:
        # Staff chose someone: a typed 接单 from anyone else does not override it.
        names = [e.name for e in (session.get(Expert, o.expert_id) for o in chosen) if e]
        return texts.STAFF_CHOSE_OTHER.format(
            code=request.code, name="、".join(texts.expert_title(n) for n in names)
        )
    refusal = _may_not_take(request, expert, mine, pending_mine is not None)
    if refusal:
        return refusal
    offer = pending_mine
    if offer is None:
        offer = Offer(
            request_id=request.id,
            expert_id=expert.id,
            reason="超时后仍接单" if mine else "主动接下无人接的求助",
            offered_at=context.now,
            deadline_at=context.now,
        )
        session.add(offer)
    offer.status, offer.answered_at = "accepted", context.now
    for other in offers:
        if other.status == "pending" and other is not offer:
            other.status, other.answered_at = "taken", context.now
            other_expert = session.get(Expert, other.expert_id)
            if other_expert is not None:
                send_text(
                    session,
                    openid=other_expert.openid,
                    now=context.now,
                    purpose="notify",
                    request=request,
                    content=texts.OFFER_TAKEN.format(code=request.code),
                )
    request.expert_id = expert.id
    request.accepted_at = context.now
    record_event(
        session=session,
        request=request,
        to_status="accepted",
        actor=f"expert:{expert.openid}",
        now=context.now,
        note=f"{expert.name} 接单",
    )
    farmer = session.get(Farmer, request.farmer_id)
    if farmer is not None:
        tell_farmer(
            session,
            farmer=farmer,
            request=request,
            now=context.now,
            content=texts.FARMER_ACCEPTED.format(
                team=expert.team or "农技服务队", name=expert_title(expert), code=request.code
            ),
        )
    forwarded = forward_earlier_media(session, request=request, expert=expert, now=context.now)
    phone = f"农户电话：{farmer.phone}。" if farmer is not None and farmer.phone else ""
    media = f"农户之前发的 {forwarded} 个照片/语音随后发给您。" if forwarded else ""
    return (
        f"已接单 {request.code}。农户说：{request.text[:200] or '（照片或语音）'}\n"
        f"地点：{request.place or '未说明'}。{phone}{media}您发的消息会转给农户；"
        f"上门前回复“预约 {request.code} 时间”，看完回复“完成 {request.code} 诊断和建议”。\n"
        f"求助页面（照片、对话、预约和处方）："
        f"{workbench_link(context.config, expert=expert, request=request)}"
    )


def forward_earlier_media(
    session: Session, *, request: HelpRequest, expert: Expert, now: datetime
) -> int:
    """Send the expert who just accepted the photos and voice notes sent before.

    WeChat keeps a MediaId for three days; older ones are only on the request page.
    Returns how many were queued.
    """
    assert request.id is not None
    fresh = [
        m
        for m in list_media(session=session, request_id=request.id)
        if m.created_at > now - MEDIA_LIFETIME
    ]
    for media in fresh:
        kind = "video" if media.kind in ("video", "shortvideo") else media.kind
        body: dict[str, object] = {"media_id": media.media_id}
        if kind == "video":
            body["title"] = f"求助 {request.code} 农户视频"
        queue(
            session=session,
            openid=expert.openid,
            payload={"msgtype": kind, kind: body},
            now=now,
            purpose="relay",
            request_id=request.id,
        )
    return len(fresh)


def _may_not_take(
    request: HelpRequest, expert: Expert, mine: list[Offer], has_pending: bool
) -> str | None:
    """Why this expert may not take this open request now (None: they may)."""
    if has_pending:
        return None
    if expert.id in request.routing.get("excluded", []):
        return f"求助 {request.code} 回访时农户说没解决，已请其他专家处理。"
    if request.status == "offered":
        # Offered to someone else right now: only an earlier candidate or a leader.
        if mine or expert.leader:
            return None
        return f"求助 {request.code} 已派给其他专家，暂时不能接单。"
    if mine or expert.leader or qualifies(expert, request):
        return None
    return f"求助 {request.code} 不是您的专业，不能接单。"


@command("拒绝")
def decline(context: Context, expert: Expert, cmd: Command) -> str:
    """Decline an offer; the request goes to the next candidate at once."""
    found = _find_request(context, cmd.code)
    if found is None or found.id is None:
        return "请写上编号，如“拒绝 A1000 不在附近”。"
    request = lock_request(session=context.session, request_id=found.id)
    assert request.id is not None and expert.id is not None
    offer = next(
        (
            o
            for o in offers_for(session=context.session, request_id=request.id)
            if o.expert_id == expert.id and o.status == "pending"
        ),
        None,
    )
    if offer is None:
        return f"求助 {request.code} 没有等您答复的派单。"
    offer.status, offer.answered_at, offer.answer_note = "declined", context.now, cmd.rest or None
    still_pending = [
        o
        for o in offers_for(session=context.session, request_id=request.id)
        if o.status == "pending"
    ]
    if request.status == "offered" and not still_pending:
        route_request(
            context.session,
            request=request,
            config=context.config,
            now=context.now,
            actor=f"expert:{expert.openid}",
        )
    return f"已拒绝 {request.code}，我们会另找专家。"


def _own_request(context: Context, expert: Expert, code: str | None) -> HelpRequest | str:
    found = _find_request(context, code)
    if found is None or found.id is None:
        return "请写上编号。"
    request = lock_request(session=context.session, request_id=found.id)
    if request.expert_id != expert.id or request.status not in ("accepted", "visit_booked"):
        return f"求助 {request.code} 不在您手上。"
    return request


@command("预约")
def book_visit(context: Context, expert: Expert, cmd: Command) -> str:
    """Book the visit time and tell the farmer."""
    found = _own_request(context, expert, cmd.code)
    if isinstance(found, str):
        return found if cmd.code else "请写上编号和时间，如“预约 A1000 明天上午9点”。"
    if cmd.rest.strip() in REMOTE_MODES:
        return _advise_remotely(context, expert, found, REMOTE_MODES[cmd.rest.strip()])
    tz = ZoneInfo(context.config.timezone)
    when = parse_visit_time(cmd.rest, now=context.now, tz=tz)
    if when is None:
        return "没看懂时间，请写成“预约 A1000 明天上午9点”或“预约 A1000 11月25日 14:00”。"
    found.visit_booked_for = when
    record_event(
        session=context.session,
        request=found,
        to_status="visit_booked",
        actor=f"expert:{expert.openid}",
        now=context.now,
        note=f"预约 {when:%m-%d %H:%M}",
    )
    shown = f"{when.month}月{when.day}日 {when:%H:%M}"
    farmer = context.session.get(Farmer, found.farmer_id)
    if farmer is None or not farmer.subscribed:
        return f"已预约 {found.code}：{shown}。农户已取消关注公众号，无法通知，请电话联系。"
    tell_farmer(
        context.session,
        farmer=farmer,
        request=found,
        now=context.now,
        content=texts.FARMER_VISIT_BOOKED.format(
            code=found.code, name=expert_title(expert), when=shown
        ),
    )
    return f"已预约 {found.code}：{shown}，已告诉农户。"


def _advise_remotely(context: Context, expert: Expert, found: HelpRequest, mode: str) -> str:
    """No visit: the expert will call the farmer, or advise here in the account."""
    record_event(
        session=context.session,
        request=found,
        to_status=found.status,
        actor=f"expert:{expert.openid}",
        now=context.now,
        note=mode,
    )
    farmer = context.session.get(Farmer, found.farmer_id)
    if farmer is None or not farmer.subscribed:
        return f"已记下 {found.code}：{mode}。农户已取消关注公众号，请电话联系。"
    news = texts.FARMER_BY_PHONE if mode == "电话指导" else texts.FARMER_REMOTE
    tell_farmer(
        context.session,
        farmer=farmer,
        request=found,
        now=context.now,
        content=news.format(code=found.code, name=expert_title(expert)),
    )
    return f"已记下 {found.code}：{mode}，已告诉农户。"


@command("完成")
def record_visit(context: Context, expert: Expert, cmd: Command) -> str:
    """Record the visit with its diagnosis and advice."""
    found = _own_request(context, expert, cmd.code)
    if isinstance(found, str):
        return found if cmd.code else "请写上编号和诊断建议，如“完成 A1000 缺钾，追施钾肥”。"
    if not cmd.rest:
        return f"请写上诊断和建议，如“完成 {found.code} 缺钾，追施钾肥”。"
    record = _DIAGNOSIS_LABEL.sub("", cmd.rest, count=1).strip() or cmd.rest
    unsafe = prescription_refusal(context, record, found.crop, found.category)
    if unsafe:
        return unsafe  # nothing is recorded; the expert writes it again
    found.visited_at = context.now
    found.visit_record = record
    record_event(
        session=context.session,
        request=found,
        to_status="visited",
        actor=f"expert:{expert.openid}",
        now=context.now,
        note=record[:200],
    )
    farmer = context.session.get(Farmer, found.farmer_id)
    if farmer is not None:
        tell_farmer(
            context.session,
            farmer=farmer,
            request=found,
            now=context.now,
            content=texts.FARMER_VISITED.format(
                code=found.code, name=expert_title(expert), record=record
            )
            + harvest_warning(record, crop=found.crop, category=found.category),
        )
        schedule_survey(
            context.session, request=found, farmer=farmer, policy=context.config, now=context.now
        )
        assert found.id is not None
        cancel_checks(context.session, request_id=found.id)  # a new visit, a new treatment
        schedule_check(
            context.session, request=found, farmer=farmer, policy=context.config, now=context.now
        )
    return f"已记录 {found.code} 的服务，谢谢！"


def prescription_refusal(
    context: Context, record: str, crop: str | None, category: str
) -> str | None:
    """Why a visit's prescription may not go to the farmer (a banned pesticide, one
    barred from this crop, no safety interval for a sprayed crop), or None."""
    config = context.config
    rules = current_rules(Path(config.instance_dir) if config.instance_dir else None)
    return refusal(record, crop=crop, category=category, rules=rules) or missing_interval(
        record, crop=crop, category=category, rules=rules
    )


@command("值班")
def go_on_duty(context: Context, expert: Expert, cmd: Command) -> str:
    """Be on duty now (for the next hours, whatever the rota says)."""
    hours = _override_duty(context, expert, "on")
    reply = f"已开始值班，接下来 {hours} 小时会给您派单。"
    offered = offer_unassigned_to(
        context.session, expert=expert, config=context.config, now=context.now
    )
    if offered:
        codes = "、".join(str(r.code) for r in offered)
        reply += f"现在有 {len(offered)} 个求助在等专家：{codes}，已发给您，回复“接单 编号”接单。"
    return reply


@command("下班")
def go_off_duty(context: Context, expert: Expert, cmd: Command) -> str:
    """Be off duty now (for the next hours, whatever the rota says)."""
    hours = _override_duty(context, expert, "off")
    return f"已下班，接下来 {hours} 小时不会给您派新单。辛苦了！"


def _override_duty(context: Context, expert: Expert, state: str) -> int:
    """Override the rota for this expert; return for how many hours."""
    expert.duty_override = state
    expert.duty_override_until = context.now + context.config.duty_override
    return int(context.config.duty_override.total_seconds() // 3600)


# 任务 lists at most this many requests of each kind; the workbench link shows them all.
TASK_LINES = 10


@command("任务")
def list_tasks(context: Context, expert: Expert, cmd: Command) -> str:
    """List the expert's open requests and pending offers (the first few of each)."""
    assert expert.id is not None
    session = context.session
    held = requests_of_expert(session=session, expert_id=expert.id)
    offered, waiting = requests_offered_to(session=session, expert_id=expert.id, limit=TASK_LINES)
    lines = []
    for request in held[:TASK_LINES]:
        booked = ""
        if request.visit_booked_for:
            local = request.visit_booked_for.astimezone(ZoneInfo(context.config.timezone))
            booked = f"，预约 {local:%m-%d %H:%M}"
        lines.append(f"{request.code} {request.crop or ''} {request.place or ''}{booked}")
    for request in offered:
        lines.append(f"{request.code} 待接单 {request.crop or ''} {request.place or ''}")
    unlisted = len(held) - min(len(held), TASK_LINES) + waiting - len(offered)
    if unlisted:
        lines.append(texts.TASKS_NOT_LISTED.format(count=unlisted))
    tasks = f"\n全部任务：{workbench_link(context.config, expert=expert)}"
    return ("您手上的求助：\n" + "\n".join(lines) if lines else "您手上没有求助。") + tasks
