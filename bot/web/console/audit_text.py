"""The audit log as staff read it: each entry one Chinese sentence (协调员 coord1 把 A1031
改派给 王植保（原：张植保）), and its before and after as named, readable fields.

The log itself keeps plain keys and ids (so that it stays true when an expert is
renamed); this module only puts it into words for the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers import texts
from models.tables import AuditEvent

ROLE_NAMES = {"admin": "管理员", "coordinator": "协调员", "viewer": "查看员"}
FIELD_NAMES = {
    "status": "状态", "expert_id": "专家", "name": "姓名", "team": "服务队",
    "specialties": "专业", "crops": "作物", "regions": "地区", "leader": "组长",
    "active": "在用", "broadcast": "派单方式", "start": "开始", "end": "结束",
    "role": "角色", "reason": "原因", "format": "格式", "created": "新增",
    "updated": "更新", "bad_rows": "有问题的行", "complaint": "投诉",
    "requests": "求助", "messages": "对话", "files": "文件", "closed": "办结的求助",
    "title": "标题", "farmer_id": "农户", "villages": "村数", "sessions_ended": "结束的登录",
    "output": "写到", "template": "模板消息", "customer_service": "客服消息",
    "held": "等农户发消息", "request_id": "求助", "offered": "已派给", "recipients": "农户数",
}  # fmt: skip
_TARGET = re.compile(r"(request|farmer|expert|staff|shift|team|advisory|media) (\S+)")


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Entry:
    """One line of the log as the page shows it."""

    event: AuditEvent
    sentence: str
    changes: list[Change]


class Words:
    """Names for the ids an entry holds: experts by id and openid, staff roles."""

    def __init__(
        self,
        experts: dict[int, str],
        expert_openids: dict[str, str],
        roles: dict[str, str],
        tz: ZoneInfo,
    ) -> None:
        self.experts, self.expert_openids, self.roles, self.tz = (
            experts,
            expert_openids,
            roles,
            tz,
        )

    def who(self, username: str) -> str:
        if username == "cli":
            return "服务器命令行"
        role = ROLE_NAMES.get(self.roles.get(username, ""), "")
        return f"{role} {username}".strip()

    def expert(self, value: Any) -> str:
        if value is None or value == "":
            return "没有人"
        try:
            return self.experts.get(int(value), f"专家 #{value}")
        except (TypeError, ValueError):
            return str(value)

    def value(self, field: str, value: Any) -> str:
        """One field's value in words."""
        if value is None or value == "" or value == []:
            return "（空）"
        if field in ("expert_id", "offered"):
            if isinstance(value, list):
                return "、".join(self.expert(v) for v in value)
            return self.expert(value)
        if field == "status":
            return texts.STATUS_NAMES.get(str(value), str(value))
        if field == "specialties" and isinstance(value, list):
            return "、".join(str(texts.CATEGORY_NAMES.get(v, v)) for v in value)
        if field == "broadcast":
            return "抢单" if value else "一次派一位"
        if field == "role":
            return ROLE_NAMES.get(str(value), str(value))
        if field == "complaint":
            return {"upheld": "属实", "dismissed": "不属实"}.get(str(value), str(value))
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(\+[\d:]+)?", value):
            try:
                return datetime.fromisoformat(value).astimezone(self.tz).strftime("%m-%d %H:%M")
            except ValueError:
                return value
        return str(value)

    def target(self, target: str) -> str:
        found = _TARGET.match(target)
        if found is None:
            return target
        kind, key = found.groups()
        if kind == "request":
            return f"求助 {key}"
        if kind == "farmer":
            return f"农户 #{key}"
        if kind == "expert":
            return self.expert_openids.get(key, key)
        if kind == "staff":
            return f"账号 {key}"
        if kind == "shift":
            return f"班次 #{key}"
        if kind == "team":
            return f"服务队 {target.split(' ', 1)[1]}"
        if kind == "advisory":
            return f"通知 #{key}"
        return target


def _field(entry: AuditEvent, side: str, key: str) -> Any:
    values = (entry.before if side == "before" else entry.after) or {}
    return values.get(key)


def _reassign(e: AuditEvent, w: Words, target: str) -> str:
    chosen = w.expert(_field(e, "after", "expert_id"))
    earlier = _field(e, "before", "expert_id")
    offered = _field(e, "before", "offered") or []
    if earlier:
        was = f"（原：{w.expert(earlier)}）"
    elif offered:
        was = f"（原：已派给 {'、'.join(w.expert(o) for o in offered)}，还没接）"
    else:
        was = "（之前没人接单）"
    return f"把{target}改派给 {chosen}{was}"


def _times(e: AuditEvent, w: Words, side: str) -> str:
    start, end = _field(e, side, "start"), _field(e, side, "end")
    return f"{w.value('start', start)} 到 {w.value('end', end)}"


def _shift(e: AuditEvent, w: Words, side: str) -> str:
    expert = _field(e, side, "expert_id")  # entries before 2026-12 did not keep it on moves
    who = f"{w.expert(expert)} " if expert is not None else ""
    return f"{who}{_times(e, w, side)}"


def _import(noun: str) -> Callable[[AuditEvent, Words, str], str]:
    def said(e: AuditEvent, w: Words, target: str) -> str:
        return (
            f"导入{noun}（文件 {target}）：新增 {_field(e, 'after', 'created') or 0}，"
            f"更新 {_field(e, 'after', 'updated') or 0}，"
            f"有问题的行 {_field(e, 'after', 'bad_rows') or 0}"
        )

    return said


SENTENCES: dict[str, Callable[[AuditEvent, Words, str], str]] = {
    "reassign": _reassign,
    "page_next": lambda e, w, t: f"把{t}派给下一位候选专家",
    "close": lambda e, w, t: f"办结了{t}",
    "reopen": lambda e, w, t: f"重新打开了{t}",
    "note": lambda e, w, t: f"给{t}写了内部备注",
    "unmask": lambda e, w, t: f"查看了{t}的完整电话和 openid",
    "read_request": lambda e, w, t: f"看了{t}的对话",
    "read_farmer": lambda e, w, t: f"看了{t}的全部对话",
    "read_media": lambda e, w, t: (
        "打开了农户发来的照片或语音"
        + (
            f"（求助 #{_field(e, 'after', 'request_id')}）"
            if _field(e, "after", "request_id")
            else ""
        )
    ),
    "search_phone": lambda e, w, t: (
        "按号码（编号或电话）搜索了" + ("农户" if t == "farmers" else "求助")
    ),
    "name_farmer": lambda e, w, t: f"给{t}记下了称呼",
    "export_requests": lambda e, w, t: "导出了求助列表",
    "export_ledger": lambda e, w, t: "导出了服务台账",
    "export_personal_data": lambda e, w, t: f"导出了{t}的个人信息",
    "erase_personal_data": lambda e, w, t: f"按农户要求删除了{t}的个人信息",
    "expert_edit": lambda e, w, t: f"修改了专家 {t} 的资料",
    "team_edit": lambda e, w, t: f"修改了{t}的派单方式",
    "rota_add": lambda e, w, t: f"排了一个班：{_shift(e, w, 'after')}",
    "rota_move": lambda e, w, t: f"调整了班：{_shift(e, w, 'before')} 改为 {_times(e, w, 'after')}",
    "rota_swap": lambda e, w, t: (
        f"安排值班调整：{w.expert(_field(e, 'after', 'expert_id'))}"
        f"替{t}值班 {_times(e, w, 'after')}"
    ),
    "rota_delete": lambda e, w, t: f"删除了一个班：{_shift(e, w, 'before')}",
    "import_experts": _import("专家"),
    "import_duty": _import("值班表"),
    "import_places": _import("地名"),
    "staff_add": lambda e, w, t: f"新建了{t}（{w.value('role', _field(e, 'after', 'role'))}）",
    "staff_disable": lambda e, w, t: f"停用了{t}",
    "staff_password": lambda e, w, t: f"给{t}设了新密码",
    "login": lambda e, w, t: "登录",
    "logout": lambda e, w, t: "退出",
    "login_failed": lambda e, w, t: f"用{t}登录没成功",
    "advisory_send": lambda e, w, t: f"发出了通知“{_field(e, 'after', 'title') or ''}”",
    "qr_posters": lambda e, w, t: f"生成了{t}的村二维码海报",
    "complaint_upheld": lambda e, w, t: f"核实{t.split(' survey', 1)[0]}的投诉：属实",
    "complaint_dismissed": lambda e, w, t: f"核实{t.split(' survey', 1)[0]}的投诉：不属实",
}
# Fields a sentence already says, or that only repeat the form, left out of the changes.
_SAID = {
    "reassign": {"expert_id", "offered"},
    "advisory_send": {"title"},
    "rota_add": {"expert_id", "start", "end"},
    "rota_swap": {"expert_id", "start", "end"},
}


_CJK_THEN_LATIN = re.compile(r"([\u4e00-\u9fff])([A-Za-z0-9#])")
_LATIN_THEN_CJK = re.compile(r"([A-Za-z0-9])([\u4e00-\u9fff])")


def spaced(text: str) -> str:
    """A space between Chinese and a code, a number or a username, as printed text has."""
    return _LATIN_THEN_CJK.sub(r"\1 \2", _CJK_THEN_LATIN.sub(r"\1 \2", text))


def describe(event: AuditEvent, words: Words) -> Entry:
    """The entry as a sentence, with what changed as named fields."""
    target = words.target(event.target)
    say = SENTENCES.get(event.action)
    what = say(event, words, target) if say else f"{event.action} {target}"
    if event.action.startswith("complaint_"):
        what = what.replace("request ", "求助 ")
    sentence = spaced(f"{words.who(event.username)} {what}")
    before, after = event.before or {}, event.after or {}
    changes = []
    for key in dict.fromkeys([*before, *after]):
        if key in _SAID.get(event.action, set()) or key not in FIELD_NAMES:
            continue
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        changes.append(
            Change(
                FIELD_NAMES[key],
                words.value(key, old) if key in before else "",
                words.value(key, new) if key in after else "",
            )
        )
    return Entry(event, sentence, changes)
