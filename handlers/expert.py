"""What experts write to the account: commands, or words relayed to their farmer.

接单 CODE · 拒绝 CODE [理由] · 预约 CODE 时间 · 完成 CODE 诊断和建议 · 值班 · 下班 · 任务
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from handlers import texts
from handlers.inbound import Inbound
from handlers.notify import send_text, tell_farmer
from handlers.registry import Context, handles
from handlers.relay import relay
from handlers.routing import route_request
from handlers.survey import schedule_survey
from handlers.timeparse import parse_visit_time
from models.offers import offers_for, pending_offers_of_expert, record_event
from models.requests import (
    current_request_of_expert,
    get_request_by_code,
    requests_of_expert,
)
from models.tables import Expert, Farmer, HelpRequest

HELP = (
    "专家指令：\n接单 编号\n拒绝 编号 理由\n预约 编号 时间（如 明天上午9点）\n"
    "完成 编号 诊断和建议\n值班 / 下班\n任务（看我手上的求助）\n其他消息会转给您正在处理的农户。"
)
_COMMAND = re.compile(
    r"^\s*(接单|拒绝|预约|完成|值班|下班|任务)\s*([A-Za-z]\d{3,6})?\s*(.*)$", re.S
)


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


@handles(
    "expert:text",
    "expert:image",
    "expert:voice",
    "expert:video",
    "expert:shortvideo",
    "expert:location",
    "expert:link",
)
def handle_expert_message(context: Context, inbound: Inbound) -> str | None:
    """Run an expert's command, or relay their message to the farmer they work for."""
    expert = context.expert
    assert expert is not None
    match = _COMMAND.match(inbound.words) if inbound.words else None
    if match:
        code = match.group(2).upper() if match.group(2) else None
        return _COMMANDS[match.group(1)](
            context, expert, Command(match.group(1), code, match.group(3).strip())
        )
    assert expert.id is not None
    request = current_request_of_expert(session=context.session, expert_id=expert.id)
    if request is None:
        return HELP
    farmer = context.session.get(Farmer, request.farmer_id)
    if farmer is None or not farmer.subscribed:
        return f"求助 {request.code} 的农户已取消关注，消息无法送达。"
    relay(
        context.session,
        inbound=inbound,
        message=context.message,
        request=request,
        to_openid=farmer.openid,
        header=texts.FARMER_RELAY.replace("{name}", expert.name),
        now=context.now,
    )
    return None


def _find_request(context: Context, code: str | None) -> HelpRequest | None:
    if code is None:
        return None
    return get_request_by_code(session=context.session, code=code)


@command("接单")
def accept(context: Context, expert: Expert, cmd: Command) -> str:
    """Accept an offer; `接单` alone works when exactly one offer is pending."""
    assert expert.id is not None
    session = context.session
    pending = pending_offers_of_expert(session=session, expert_id=expert.id)
    if cmd.code is None:
        if len(pending) != 1:
            return (
                "您现在没有待接的求助。"
                if not pending
                else "您有几个待接的求助，请写上编号，如“接单 A1000”。"
            )
        request = session.get(HelpRequest, pending[0].request_id)
    else:
        request = _find_request(context, cmd.code)
    if request is None:
        return f"没有找到求助 {cmd.code}。"
    assert request.id is not None
    if request.expert_id == expert.id and request.status in ("accepted", "visit_booked"):
        return f"求助 {request.code} 已经是您的了。"
    offer = next(
        (
            o
            for o in offers_for(session=session, request_id=request.id)
            if o.expert_id == expert.id and o.status == "pending"
        ),
        None,
    )
    if request.status in ("accepted", "visit_booked", "visited", "closed"):
        if offer is not None:
            offer.status, offer.answered_at = "taken", context.now
        return texts.OFFER_TAKEN.format(code=request.code)
    if offer is None:
        return f"求助 {request.code} 没有派给您，不能接单。"
    offer.status, offer.answered_at = "accepted", context.now
    for other in offers_for(session=session, request_id=request.id):
        if other.status == "pending":
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
                team=expert.team or "农技服务队", name=expert.name, code=request.code
            ),
        )
    return (
        f"已接单 {request.code}。农户说：{request.text[:200] or '（照片或语音）'}\n"
        f"地点：{request.place or '未说明'}。您发的消息会转给农户；"
        f"上门前回复“预约 {request.code} 时间”，看完回复“完成 {request.code} 诊断和建议”。"
    )


@command("拒绝")
def decline(context: Context, expert: Expert, cmd: Command) -> str:
    """Decline an offer; the request goes to the next candidate at once."""
    request = _find_request(context, cmd.code)
    if request is None:
        return "请写上编号，如“拒绝 A1000 不在附近”。"
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
    request = _find_request(context, code)
    if request is None:
        return "请写上编号。"
    if request.expert_id != expert.id or request.status not in ("accepted", "visit_booked"):
        return f"求助 {request.code} 不在您手上。"
    return request


@command("预约")
def book_visit(context: Context, expert: Expert, cmd: Command) -> str:
    """Book the visit time and tell the farmer."""
    found = _own_request(context, expert, cmd.code)
    if isinstance(found, str):
        return found if cmd.code else "请写上编号和时间，如“预约 A1000 明天上午9点”。"
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
    if farmer is not None:
        tell_farmer(
            context.session,
            farmer=farmer,
            request=found,
            now=context.now,
            content=texts.FARMER_VISIT_BOOKED.format(code=found.code, name=expert.name, when=shown),
        )
    return f"已预约 {found.code}：{shown}，已告诉农户。"


@command("完成")
def record_visit(context: Context, expert: Expert, cmd: Command) -> str:
    """Record the visit with its diagnosis and advice."""
    found = _own_request(context, expert, cmd.code)
    if isinstance(found, str):
        return found if cmd.code else "请写上编号和诊断建议，如“完成 A1000 缺钾，追施钾肥”。"
    if not cmd.rest:
        return f"请写上诊断和建议，如“完成 {found.code} 缺钾，追施钾肥”。"
    found.visited_at = context.now
    found.visit_record = cmd.rest
    record_event(
        session=context.session,
        request=found,
        to_status="visited",
        actor=f"expert:{expert.openid}",
        now=context.now,
        note=cmd.rest[:200],
    )
    farmer = context.session.get(Farmer, found.farmer_id)
    if farmer is not None:
        tell_farmer(
            context.session,
            farmer=farmer,
            request=found,
            now=context.now,
            content=texts.FARMER_VISITED.format(code=found.code, name=expert.name, record=cmd.rest),
        )
        schedule_survey(
            context.session, request=found, farmer=farmer, policy=context.config, now=context.now
        )
    return f"已记录 {found.code} 的服务，谢谢！"


@command("值班")
def go_on_duty(context: Context, expert: Expert, cmd: Command) -> str:
    """Be on duty now (for the next hours, whatever the rota says)."""
    hours = _override_duty(context, expert, "on")
    return f"已上班值班，接下来 {hours} 小时会给您派单。"


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


@command("任务")
def list_tasks(context: Context, expert: Expert, cmd: Command) -> str:
    """List the expert's open requests and pending offers."""
    assert expert.id is not None
    session = context.session
    lines = []
    for request in requests_of_expert(session=session, expert_id=expert.id):
        booked = ""
        if request.visit_booked_for:
            local = request.visit_booked_for.astimezone(ZoneInfo(context.config.timezone))
            booked = f"，预约 {local:%m-%d %H:%M}"
        lines.append(f"{request.code} {request.crop or ''} {request.place or ''}{booked}")
    for offer in pending_offers_of_expert(session=session, expert_id=expert.id):
        offered = session.get(HelpRequest, offer.request_id)
        if offered is not None:
            lines.append(f"{offered.code} 待接单 {offered.crop or ''} {offered.place or ''}")
    return "您手上的求助：\n" + "\n".join(lines) if lines else "您手上没有求助。"
