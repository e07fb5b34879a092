"""The workbench's pages: the link's landing, a request, the task list, media."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session
from werkzeug.wrappers import Response as BaseResponse

from bot.database import get_engine
from bot.files.photos import MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoRefused
from bot.files.voice import playable_voice
from bot.web import params
from bot.web.service_records import record_page
from bot.web.workbench import bp
from bot.web.workbench.prescriptions import (
    MIXING,
    dose_units,
    prescription_keeper,
    prescription_text,
    subject_of,
    unsafe_prescription,
    visit_photos,
)
from handlers import texts
from handlers.config import Policy
from handlers.consultation import NOTE_PREFIX, ConsultationRefused, invite_colleagues, post_note
from handlers.inbound import WORKBENCH, Inbound
from handlers.notify import WORKBENCH_SALT
from handlers.outcomes import checks_of
from handlers.receive import receive
from models.console import timeline
from models.consultations import consultations_of, is_consulted
from models.db import session_scope
from models.experts import active_experts
from models.farmers import lock_farmer
from models.media import list_media
from models.messages import get_inbound_by_key
from models.offers import offers_for, requests_offered_to
from models.requests import get_request_by_code, requests_of_expert
from models.similar import similar_solved
from models.tables import Expert, Farmer, HelpRequest, MediaFile, Survey, utcnow

SESSION_SECONDS = 2 * 3600  # a link opens a session this long, for that expert only
DECLINE_REASONS = ("不在附近", "不是我的专业", "今天排满了", "生病或请假")
ENDED = ("closed", "cancelled")
RECENT_LINES = 8  # the conversation's newest lines shown open; earlier ones fold away
_CHAT_ONLY = re.compile(r"https?://|回复“|回复\"")


def _policy() -> Policy:
    policy: Policy = current_app.extensions["farmhelp.policy"]
    return policy


def _notice(title: str, text: str, status: int) -> BaseResponse:
    page = render_template("workbench/notice.html", title=title, text=text)
    return Response(page, status=status)


@bp.get("/<token>")
def open_link(token: str) -> BaseResponse:
    """The link from a page: start a short session for its expert, then show the request."""
    serializer = URLSafeTimedSerializer(_policy().link_secret, salt=WORKBENCH_SALT)
    try:
        claims = serializer.loads(token, max_age=int(_policy().link_lifetime.total_seconds()))
    except SignatureExpired:
        return _notice(
            "链接已过期", "这个链接已经过期了。在公众号里回复“任务”，会收到新的链接。", 403
        )
    except BadSignature:
        return _notice(
            "链接无效", "这个链接不完整或被改动过。在公众号里回复“任务”，会收到新的链接。", 403
        )
    with Session(get_engine()) as db:
        expert = db.get(Expert, int(claims.get("e") or 0))
        if expert is None or not expert.active:
            return _notice("账号已停用", texts.ACCOUNT_DISABLED_PAGE, 403)
        found = db.get(HelpRequest, int(claims["r"])) if claims.get("r") else None
    session["expert_id"], session["expert_until"] = expert.id, time.time() + SESSION_SECONDS
    if found is None:
        return redirect(url_for("workbench.tasks"))
    return redirect(url_for("workbench.show_request", code=found.code))


def _signed_in_expert(db: Session) -> Expert | None:
    if float(session.get("expert_until", 0)) < time.time():
        return None
    expert = db.get(Expert, int(session.get("expert_id") or 0))
    return expert if expert is not None and expert.active else None


def may_see(db: Session, expert: Expert, found: HelpRequest) -> bool:
    """An expert sees a request offered to them, held by them, or shared for a consultation."""
    assert found.id is not None and expert.id is not None
    if found.expert_id == expert.id:
        return True
    if is_consulted(session=db, request_id=found.id, expert_id=expert.id):
        return True
    return any(o.expert_id == expert.id for o in offers_for(session=db, request_id=found.id))


def _gate(db: Session, code: str) -> tuple[Expert, HelpRequest] | BaseResponse:
    expert = _signed_in_expert(db)
    if expert is None:
        return _notice(
            "请从链接进入", "请在公众号里点专家派单消息里的链接，或回复“任务”获取新的链接。", 403
        )
    found = get_request_by_code(session=db, code=code)
    if found is None or not may_see(db, expert, found):
        return _notice(
            "这个求助不在您这里", "您只能打开派给您或您接下的求助。回复“任务”看您手上的求助。", 403
        )
    return expert, found


@bp.get("/r/<code>")
def show_request(code: str) -> BaseResponse | str:
    """The request, for the expert's phone."""
    return _request_page(code)


def _request_page(
    code: str, typed: Any = None, refusal: str | None = None, status: int = 200
) -> BaseResponse | str:
    """The request page; `typed` fills the prescription form again after a refusal."""
    with Session(get_engine()) as db:
        gated = _gate(db, code)
        if isinstance(gated, BaseResponse):
            return gated
        expert, found = gated
        assert found.id is not None
        farmer = db.get(Farmer, found.farmer_id)
        holder = found.expert_id == expert.id and found.status in (
            "accepted",
            "visit_booked",
            "visited",
        )
        pending = any(
            o.expert_id == expert.id and o.status == "pending"
            for o in offers_for(session=db, request_id=found.id)
        )
        media = list_media(session=db, request_id=found.id)
        everything = timeline(db, request=found)
        notes = [i for i in everything if i.kind == "event" and i.text.startswith(NOTE_PREFIX)]
        # The conversation with the farmer and the steps of the case; what the account
        # said to experts (pages with their signed links, command hints) is not repeated.
        items = [
            item
            for item in everything
            if (item.with_farmer or item.kind == "event")
            and item.kind not in ("failed", "held")
            and not item.text.startswith(("备注：", NOTE_PREFIX))
        ]
        consulted = is_consulted(session=db, request_id=found.id, expert_id=expert.id or 0)
        invited = {c.expert_id for c in consultations_of(session=db, request_id=found.id)}
        colleagues = [
            e for e in active_experts(session=db) if e.id != expert.id and e.id not in invited
        ]
        tz = _policy().tz
        tomorrow = (utcnow().astimezone(tz) + timedelta(days=1)).date()
        rounds = [_round_now(db, r) for r in found.routing.get("rounds", [])]
        # A round reopened for a low rating alone (solved, 打 2 分) did not fail its treatment.
        failed = list(
            dict.fromkeys(
                p for r in rounds if r.get("solved") != "yes" for p in r.get("products", [])
            )
        )
        page = render_template(
            "workbench/request.html",
            typed=typed or {},
            refusal=refusal,
            units=dose_units(found),
            mixing=MIXING[subject_of(found)],
            req=found,
            farmer=farmer,
            expert=expert,
            holder=holder,
            pending=pending,
            ended=found.status in ENDED,
            photos=[m for m in media if m.kind == "image" and m.status == "stored"],
            voices=[m for m in media if m.kind == "voice" and m.status == "stored"],
            items=items,
            notes=notes,
            consulted=consulted,
            colleagues=sorted(colleagues, key=lambda e: (e.team, e.name)),
            similar=similar_solved(db, found, failed=failed),
            rounds=rounds,
            failed=failed,
            RECENT=RECENT_LINES,
            checks=checks_of(db, found.id),
            reasons=DECLINE_REASONS,
            action_id=secrets.token_hex(12),
            suggested=datetime.combine(tomorrow, clock(9, 0)).strftime("%Y-%m-%dT%H:%M"),
        )
        return page if status == 200 else Response(page, status=status)


@bp.post("/r/<code>/act")
def act(code: str) -> BaseResponse | str:
    """One tap: accept, decline, book, message or record the visit."""
    engine = get_engine()
    with Session(engine) as db:
        gated = _gate(db, code)
        if isinstance(gated, BaseResponse):
            return gated
        expert, found = gated
        openid, request_id = expert.openid, found.id
    action = request.form.get("action", "")
    if action in ("invite", "consult_note"):
        return _consult(engine, action, code, request_id)
    command = _command(action, found.code or code, request.form, dose_units(found))
    if command is None:
        flash("请把内容填完整。", "error")
        return redirect(url_for("workbench.show_request", code=code))
    action_id = "".join(c for c in request.form.get("action_id", "") if c.isascii() and c.isalnum())
    then = None
    if action == "prescribe" and request_id is not None:
        unsafe = unsafe_prescription(request.form, found, _policy())
        if unsafe:
            # Nothing is done; the form comes back with what was typed and why.
            return _request_page(code, typed=request.form, refusal=unsafe, status=400)
        try:
            photos = visit_photos()
        except PhotoRefused as error:
            # Nothing is done; the form comes back with what was typed.
            return _request_page(code, typed=request.form, refusal=str(error), status=400)
        then = prescription_keeper(request_id, expert.id, request.form, photos)
    reply = run_as_typed(
        engine,
        openid=openid,
        words=command,
        action_id=action_id[:32] or secrets.token_hex(12),
        then=then,
    )
    flash(for_the_page(action, reply, found.code or code), "ok")
    return redirect(url_for("workbench.show_request", code=code))


def _round_now(db: Session, earlier: dict[str, Any]) -> dict[str, Any]:
    """An earlier round of a reopened request, with its survey's answers as they are now
    (the rating and the farmer's words come after the answer that reopened it)."""
    survey = db.get(Survey, earlier.get("survey_id") or 0)
    if survey is None:
        return {"solved": None, "rating": None, **earlier}
    outcome = texts.SOLVED_NAMES.get(survey.solved or "", "")
    if survey.rating is not None:
        outcome += f"，打 {survey.rating} 分"
    return {
        **earlier,
        "outcome": outcome,
        "comment": survey.comment,
        "solved": survey.solved,
        "rating": survey.rating,
    }


def for_the_page(action: str, reply: str, code: str) -> str:
    """The account's answer to a tap, as this page says it: the WeChat reply's command
    hints (回复“预约 …”) and its signed link are for a chat, not for the page they lead to."""
    if action == "accept" and reply.startswith(f"已接单 {code}"):
        return (
            f"已接单 {code}，农户已收到通知。电话、照片和对话都在这一页："
            "约好时间点“预约上门”，看完写处方。"
        )
    sentences = re.split(r"(?<=[。！？\n])", reply)
    kept = "".join(s for s in sentences if not _CHAT_ONLY.search(s)).strip()
    return kept or re.sub(r"\S*https?://\S+", "", reply).strip()


def _consult(engine: Any, action: str, code: str, request_id: int | None) -> BaseResponse:
    """Invite colleagues, or post a consultation note (no WeChat command stands for these)."""
    assert request_id is not None
    try:
        with session_scope(engine) as db:
            expert = _signed_in_expert(db)
            assert expert is not None
            if action == "invite":
                ids = params.idents(request.form.getlist("expert_id"))
                chosen = [e for e in (db.get(Expert, i) for i in ids) if e is not None]
                invited = invite_colleagues(
                    db,
                    request_id=request_id,
                    holder=expert,
                    invitees=chosen,
                    config=_policy(),
                    now=utcnow(),
                )
                flash(f"已邀请 {'、'.join(e.name for e in invited)} 会诊。", "ok")
            else:
                post_note(
                    db,
                    request_id=request_id,
                    expert=expert,
                    text=request.form.get("text", ""),
                    now=utcnow(),
                )
                flash("会诊意见已记下（农户看不到）。", "ok")
    except ConsultationRefused as error:
        flash(str(error), "error")
    return redirect(url_for("workbench.show_request", code=code))


def _command(action: str, code: str, form: Any, units: tuple[str, ...]) -> str | None:
    """The text command a tap stands for (None: the form is incomplete)."""
    if action == "accept":
        return f"接单 {code}"
    if action == "decline":
        reason = (form.get("other") or form.get("reason") or "").strip()[:100]
        return f"拒绝 {code} {reason}".strip()
    if action == "book":
        mode = form.get("mode", "visit")
        if mode in ("电话", "远程"):
            return f"预约 {code} {mode}"
        when = form.get("when", "").replace("T", " ").strip()
        return f"预约 {code} {when}" if when else None
    if action == "message":
        words = form.get("text", "").strip()[:1000]
        return f"{code} {words}" if words else None
    if action == "prescribe":
        readable = prescription_text(form, units)
        return f"完成 {code} {readable}" if readable else None
    return None


def run_as_typed(
    engine: Any,
    *,
    openid: str,
    words: str,
    action_id: str,
    then: Callable[[Session, datetime], str] | None = None,
) -> str:
    """Handle `words` as if the expert had typed them into the account; return the reply.

    The same action id is handled once: a repeated tap is answered, not repeated.
    `then(session, now)` runs in the same transaction after the command, and what it
    returns is added to the reply.
    """
    now = utcnow()
    inbound = Inbound(
        openid=openid,
        account=WORKBENCH,
        msg_type="text",
        created=now,
        create_time=int(now.timestamp()),
        msg_id=f"w{action_id}",
        content=words,
        fields={"Content": words, "Via": "workbench"},
    )
    with session_scope(engine) as db:
        farmer = lock_farmer(session=db, openid=openid, now=now)
        if get_inbound_by_key(session=db, dedupe_key=inbound.dedupe_key) is not None:
            return "这一步已经做过了。"
        received = receive(session=db, inbound=inbound, now=now, config=_policy(), farmer=farmer)
        extra = then(db, now) if then is not None else ""
        return (received.reply or "好的。") + extra


@bp.errorhandler(413)
def too_large(_error: Exception) -> BaseResponse:
    """A body over the workbench's limit: say what fits (the browser's Back keeps the form)."""
    return _notice(
        "照片太大或太多",
        f"一次最多传 {MAX_PHOTOS} 张照片，每张不超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB。"
        "请点手机的“返回”，少选几张再提交，填好的内容还在。",
        413,
    )


@bp.get("/tasks")
def tasks() -> BaseResponse | str:
    """My tasks: offered to me, accepted, visits booked today, overdue."""
    policy = _policy()
    now = utcnow()
    with Session(get_engine()) as db:
        expert = _signed_in_expert(db)
        if expert is None:
            return _notice("请从链接进入", "在公众号里回复“任务”，会收到您的任务链接。", 403)
        assert expert.id is not None
        offered, _ = requests_offered_to(session=db, expert_id=expert.id)
        held = requests_of_expert(session=db, expert_id=expert.id)
        today = now.astimezone(policy.tz).date()
        booked_today = [
            r
            for r in held
            if r.visit_booked_for and r.visit_booked_for.astimezone(policy.tz).date() == today
        ]
        overdue = [r for r in held if r.accepted_at and r.accepted_at <= now - policy.overdue_after]
        return render_template(
            "workbench/tasks.html",
            expert=expert,
            offered=offered,
            held=held,
            booked_today=booked_today,
            overdue=overdue,
        )


@bp.get("/record")
def my_record() -> BaseResponse | str:
    """My service record for a period (this quarter by default), with my score."""
    with Session(get_engine()) as db:
        expert = _signed_in_expert(db)
        if expert is None:
            return _notice("请从链接进入", "在公众号里回复“任务”，会收到您的任务链接。", 403)
        assert expert.id is not None
        page = record_page(db, _policy(), expert.id, request.args.get("period"))
        return render_template("workbench/service_record.html", page=page)


@bp.get("/media/<int:media_id>")
def show_media(media_id: int) -> BaseResponse:
    """A photo or voice note of a request this expert may see."""
    with Session(get_engine()) as db:
        media = db.get(MediaFile, media_id)
        expert = _signed_in_expert(db)
        found = db.get(HelpRequest, media.request_id) if media and media.request_id else None
        if media is None or expert is None or found is None or not may_see(db, expert, found):
            abort(403)
    if media.status != "stored" or not media.path or not Path(media.path).is_file():
        abort(404)
    if media.kind == "voice":  # WeChat's AMR, as MP3 for the phone's browser
        playable = playable_voice(Path(media.path), media.content_type or "")
        if playable is None:
            abort(415)
        return send_file(playable.resolve(), mimetype="audio/mpeg", max_age=3600)
    return send_file(
        Path(media.path).resolve(),
        mimetype=media.content_type or "application/octet-stream",
        max_age=3600,
    )
