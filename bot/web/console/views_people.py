"""Media files, experts, teams and the rota week."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlmodel import col, select
from werkzeug.wrappers import Response

from bot.files.imports import SPECIALTY_NAMES, split_values
from bot.files.voice import can_play, playable_voice
from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, audit_read, bp, changing, done, policy, reading, refused
from handlers.rota import SwapRefused, pieces_text, swap_duty
from handlers.routing import deactivate_expert
from models.experts import WORKING_STATUSES, get_team
from models.rota import day_pieces, gaps_by_specialty
from models.tables import DutyShift, Expert, HelpRequest, MediaFile, Team, utcnow
from models.workload import expert_loads


@bp.get("/media/<int:media_id>")
@requires("viewer")
def show_media(media_id: int) -> Response:
    """A stored photo, video or voice note; AMR voice is converted for the browser."""
    with reading() as session:
        media = session.get(MediaFile, media_id)
    if media is None or media.status != "stored" or not media.path:
        abort(404)
    audit_read("read_media", f"media {media_id}", request_id=media.request_id)
    path = Path(media.path)
    if not path.is_file():
        abort(404)
    if media.kind == "voice" and request.args.get("play") == "1":
        playable = playable_voice(path, media.content_type or "")
        if playable is not None:
            return send_file(playable, mimetype="audio/mpeg", max_age=3600)
        abort(415)
    return send_file(
        path.resolve(),
        mimetype=media.content_type or "application/octet-stream",
        as_attachment=media.kind == "voice",
        download_name=path.name,
        max_age=3600,
    )


def voice_playable(media: MediaFile) -> bool:
    """Whether the browser can play this voice note (as it is, or converted)."""
    return can_play(media.content_type or "")


@bp.get("/experts")
@requires("viewer")
def list_experts() -> str:
    """Experts with their load now and their record this week and month, and the teams."""
    with reading() as session:
        loads = expert_loads(session, now=utcnow(), tz=policy().tz)
        teams = list(session.exec(select(Team).order_by(col(Team.name))))
        return render_template("console/experts.html", loads=loads, teams=teams)


@bp.route("/experts/<int:expert_id>", methods=["GET", "POST"])
@requires("viewer")
def edit_expert(expert_id: int) -> str | Response:
    """An expert's specialties, crops, regions, team, leader flag and whether active."""
    if request.method == "POST" and not current_user.can("admin"):
        abort(403)
    with changing() as session:
        expert = session.get(Expert, expert_id)
        if expert is None:
            abort(404)
        if request.method == "GET":
            load = next(
                load
                for load in expert_loads(session, now=utcnow(), tz=policy().tz)
                if load.expert.id == expert_id
            )
            cases = list(
                session.exec(
                    select(HelpRequest)
                    .where(HelpRequest.expert_id == expert_id)
                    .order_by(col(HelpRequest.id).desc())
                    .limit(30)
                )
            )
            return render_template(
                "console/expert.html",
                expert=expert,
                load=load,
                open_cases=[r for r in cases if r.status in WORKING_STATUSES],
                recent=[r for r in cases if r.status not in WORKING_STATUSES][:15],
                specialties=SPECIALTY_NAMES,
            )
        before = _expert_fields(expert)
        specialties = [
            SPECIALTY_NAMES.get(v.lower())
            for v in split_values(request.form.get("specialties", ""))
        ]
        if not specialties or None in specialties:
            refused(
                "专业写得不对：用 病虫害、栽培管理、土壤肥料、畜牧兽医、水产、农机、销售市场、其他"
            )
            return redirect(url_for("console.edit_expert", expert_id=expert_id))
        expert.name = request.form.get("name", expert.name).strip()[:64] or expert.name
        expert.phone = request.form.get("phone", "").strip()[:32] or None
        expert.team = request.form.get("team", "").strip()[:64]
        expert.specialties = list(dict.fromkeys(s for s in specialties if s))
        expert.crops = split_values(request.form.get("crops", ""))
        expert.regions = split_values(request.form.get("regions", ""))
        expert.leader = request.form.get("leader") == "on"
        expert.updated_at = utcnow()
        if expert.team and get_team(session=session, name=expert.team) is None:
            session.add(Team(name=expert.team))
        deactivate = expert.active and request.form.get("active") != "on"
        if not expert.active and request.form.get("active") == "on":
            expert.active = True
        moved: list[str] = []
        if deactivate:
            moved = deactivate_expert(session, expert=expert, config=policy(), now=utcnow())
        audit(
            session,
            "expert_edit",
            f"expert {expert.openid}",
            before=before,
            after=_expert_fields(expert),
        )
    done("已保存。" + (f"已停用，{len(moved)} 个求助已转走。" if deactivate else ""))
    return redirect(url_for("console.edit_expert", expert_id=expert_id))


def _expert_fields(expert: Expert) -> dict[str, object]:
    return {
        "name": expert.name,
        "team": expert.team,
        "specialties": list(expert.specialties),
        "crops": list(expert.crops),
        "regions": list(expert.regions),
        "leader": expert.leader,
        "active": expert.active,
    }


@bp.post("/teams/<int:team_id>")
@requires("admin")
def edit_team(team_id: int) -> Response:
    """A team's paging mode (open board or one expert at a time)."""
    with changing() as session:
        team = session.get(Team, team_id)
        if team is None:
            abort(404)
        before = {"broadcast": team.broadcast}
        team.broadcast = request.form.get("broadcast") == "on"
        audit(
            session,
            "team_edit",
            f"team {team.name}",
            before=before,
            after={"broadcast": team.broadcast},
        )
    done("已保存。")
    return redirect(url_for("console.list_experts"))


def _week_start(text: str | None) -> date:
    chosen = params.day(text) or utcnow().astimezone(policy().tz).date()
    return chosen - timedelta(days=chosen.weekday())


@bp.get("/rota")
@requires("viewer")
def show_rota() -> str:
    """The rota as a week: one row per expert, one column per day."""
    tz = policy().tz
    monday = _week_start(request.args.get("week"))
    start = datetime.combine(monday, time(), tz)
    end = start + timedelta(days=7)
    with reading() as session:
        experts = list(
            session.exec(
                select(Expert)
                .where(col(Expert.active).is_(True))
                .order_by(col(Expert.team), col(Expert.name))
            )
        )
        shifts = list(
            session.exec(
                select(DutyShift)
                .where(DutyShift.start < end, DutyShift.end > start)
                .order_by(col(DutyShift.start))
            )
        )
    days = [monday + timedelta(days=n) for n in range(7)]
    by_expert: dict[int, list[DutyShift]] = {}
    for shift in shifts:
        by_expert.setdefault(shift.expert_id, []).append(shift)
    grid = {
        e.id or 0: {d: day_pieces(by_expert.get(e.id or 0, []), d, tz) for d in days}
        for e in experts
    }
    gaps = {d: gaps_by_specialty(experts, shifts, d, tz) for d in days}
    return render_template(
        "console/rota.html",
        experts=experts,
        names={e.id: e.name for e in experts},
        days=days,
        grid=grid,
        gaps=gaps,
        monday=monday,
        previous=monday - timedelta(days=7),
        following=monday + timedelta(days=7),
    )


@bp.post("/rota/swap")
@requires("admin")
def swap_shifts() -> Response:
    """值班调整: one expert covers another's shifts for a while; both and the leader hear."""
    absent_id = params.ident(request.form.get("absent_id")) or 0
    cover_id = params.ident(request.form.get("cover_id")) or 0
    start, end = _local(request.form.get("start", "")), _local(request.form.get("end", ""))
    with changing() as session:
        absent, cover = session.get(Expert, absent_id), session.get(Expert, cover_id)
        try:
            if absent is None or cover is None:
                raise SwapRefused("请选两位专家")
            if start is None or end is None:
                raise SwapRefused("时间写得不对")
            covering = swap_duty(
                session,
                absent=absent,
                cover=cover,
                start=start,
                end=end,
                tz=policy().tz,
                now=utcnow(),
                arranged_by=current_user.username,
            )
        except SwapRefused as refusal:
            session.rollback()
            refused(str(refusal))
            return redirect(url_for("console.show_rota", week=request.form.get("week", "")))
        audit(
            session,
            "rota_swap",
            f"expert {absent.openid}",
            after={
                "expert_id": cover.id,
                "start": covering[0].start.isoformat(),
                "end": covering[-1].end.isoformat(),
            },
        )
        when = pieces_text(covering, policy().tz)
        week = covering[0].start.astimezone(policy().tz).date().isoformat()
    done(f"已调整：{when}由{cover.name}替{absent.name}值班，已通知两位和组长。")
    return redirect(url_for("console.show_rota", week=week))


def _local(text: str) -> datetime | None:
    return params.moment(text, policy().tz)


def _shift_problem(
    session: object, expert_id: int, start: datetime | None, end: datetime | None, keep: int | None
) -> str | None:
    from bot.files.imports import LONGEST_SHIFT

    if start is None or end is None:
        return "时间写得不对"
    if end <= start:
        return "结束要晚于开始"
    if end - start > LONGEST_SHIFT:
        return f"一个班最长 {LONGEST_SHIFT.days} 天"
    clash = session.exec(  # type: ignore[attr-defined]
        select(DutyShift).where(
            DutyShift.expert_id == expert_id, DutyShift.start < end, DutyShift.end > start
        )
    ).all()
    if any(s.id != keep for s in clash):
        return "和这位专家已有的班重叠"
    return None


@bp.post("/rota/add")
@requires("admin")
def add_shift() -> Response:
    """Add a shift."""
    expert_id = params.ident(request.form.get("expert_id")) or 0
    start, end = _local(request.form.get("start", "")), _local(request.form.get("end", ""))
    with changing() as session:
        problem = _shift_problem(session, expert_id, start, end, None)
        if problem or session.get(Expert, expert_id) is None:
            refused(problem or "没有这位专家")
        else:
            assert start is not None and end is not None
            shift = DutyShift(expert_id=expert_id, start=start, end=end)
            session.add(shift)
            session.flush()
            audit(
                session,
                "rota_add",
                f"shift {shift.id}",
                after={"expert_id": expert_id, "start": start.isoformat(), "end": end.isoformat()},
            )
            done("已加班次。")
    return redirect(
        url_for(
            "console.show_rota", week=(start or utcnow()).astimezone(policy().tz).date().isoformat()
        )
    )


@bp.post("/rota/<int:shift_id>/move")
@requires("admin")
def move_shift(shift_id: int) -> Response:
    """Move a shift to other times."""
    start, end = _local(request.form.get("start", "")), _local(request.form.get("end", ""))
    with changing() as session:
        shift = session.get(DutyShift, shift_id)
        if shift is None:
            abort(404)
        problem = _shift_problem(session, shift.expert_id, start, end, shift.id)
        if problem:
            refused(problem)
        else:
            assert start is not None and end is not None
            before = {
                "expert_id": shift.expert_id,
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
            }
            shift.start, shift.end = start, end
            audit(
                session,
                "rota_move",
                f"shift {shift_id}",
                before=before,
                after={"start": start.isoformat(), "end": end.isoformat()},
            )
            done("已调整班次。")
        week = shift.start.astimezone(policy().tz).date().isoformat()
    return redirect(url_for("console.show_rota", week=week))


@bp.post("/rota/<int:shift_id>/delete")
@requires("admin")
def delete_shift(shift_id: int) -> Response:
    """Remove a shift."""
    with changing() as session:
        shift = session.get(DutyShift, shift_id)
        if shift is None:
            abort(404)
        week = shift.start.astimezone(policy().tz).date().isoformat()
        audit(
            session,
            "rota_delete",
            f"shift {shift_id}",
            before={
                "expert_id": shift.expert_id,
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
            },
        )
        session.delete(shift)
    done("已删除班次。")
    return redirect(url_for("console.show_rota", week=week))
