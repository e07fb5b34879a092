"""The dashboard, the request list (filters, search, export) and a request's page."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from typing import Any

from flask import (
    Response,
    abort,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlmodel import select
from werkzeug.wrappers import Response as BaseResponse

from bot.files.spreadsheet import write_csv, write_xlsx_row
from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, audit_read, bp, changing, done, policy, reading, refused
from bot.web.console.views_ahead import alert_requests
from bot.web.console.views_farmers import known_places
from handlers import coordination, texts
from handlers.outbreaks import describe, live_alerts
from handlers.outcomes import checks_of
from handlers.privacy import mask_phone, mask_phones
from handlers.routing import TIER_NAMES, rank_candidates, reassign_choices
from handlers.service_record import is_complaint
from handlers.survey import survey_rounds
from models.console import dashboard, timeline, unresolved_places
from models.experts import active_experts, on_duty_expert_ids
from models.offers import offers_for
from models.outbox import deliveries_of
from models.request_list import RequestFilter, iter_matching, list_requests
from models.requests import get_request_by_code
from models.search import phone_part
from models.tables import Expert, Farmer, HelpRequest, utcnow
from models.workload import busiest_and_idle, expert_loads

PER_PAGE = 50
EXPORT_COLUMNS = (
    "编号",
    "登记时间",
    "状态",
    "作物/牲畜",
    "问题类别",
    "紧急程度",
    "地点",
    "农户说",
    "农户电话",
    "接单专家",
    "服务队",
)


@bp.get("/")
@requires("viewer")
def show_dashboard() -> str:
    """Today at a glance."""
    now = utcnow()
    tz = policy().tz
    day_start = datetime.combine(now.astimezone(tz).date(), time(), tz)
    with reading() as session:
        on_now = on_duty_expert_ids(session=session, now=now)
        on_later = set().union(
            *(
                on_duty_expert_ids(session=session, now=now + timedelta(hours=h))
                for h in range(1, 25, 3)
            )
        )
        figures = dashboard(
            session,
            now=now,
            day_start=day_start,
            overdue_after=policy().overdue_after,
            on_duty_now=on_now,
            on_duty_next_day=on_later,
            specialties=tuple(texts.CATEGORY_NAMES),
        )
        alerts = [
            (alert, describe(alert), alert_requests(session, alert))
            for alert in live_alerts(session, config=policy(), now=now)
        ]
        unresolved = unresolved_places(session)
        busiest, idle = busiest_and_idle(expert_loads(session, now=now, tz=tz))
        return render_template(
            "console/dashboard.html",
            busiest=busiest,
            idle=idle,
            figures=figures,
            now=now,
            alerts=alerts,
            unresolved=unresolved,
        )


def _filters() -> RequestFilter:
    args = request.args
    tz = policy().tz

    def local_day(name: str, offset: int = 0) -> datetime | None:
        chosen = params.day(args.get(name))
        if chosen is None:
            return None
        return datetime.combine(chosen + timedelta(days=offset), time(), tz)

    return RequestFilter(
        status=params.text(args.get("status"), 16),
        urgency=params.text(args.get("urgency"), 16),
        crop=params.text(args.get("crop"), 32),
        category=params.text(args.get("category"), 32),
        place=params.text(args.get("place"), 64),
        expert_id=params.ident(args.get("expert")),
        team=params.text(args.get("team"), 64),
        since=local_day("from"),
        until=local_day("to", 1),
        q=params.text(args.get("q"), 40),
        sort=params.text(args.get("sort"), 16) or "newest",
        phones=current_user.can("coordinator"),
        places=known_places(),
    )


@bp.get("/requests")
@requires("viewer")
def list_all_requests() -> str:
    """Requests, filtered, searched, sorted and paginated."""
    page = params.page_number(request.args.get("page"))
    filters = _filters()
    if filters.phones and phone_part(filters.q):
        audit_read("search_phone", "requests")  # which digits were asked is not kept
    townships: dict[str, list[str]] = {}
    for township, village in filters.places:
        if township:
            townships.setdefault(township, [])
            if village:
                townships[township].append(village)
    with reading() as session:
        rows, total = list_requests(session, filters, page=page, per_page=PER_PAGE)
        experts = active_experts(session=session)
        return render_template(
            "console/requests.html",
            rows=rows,
            total=total,
            count_cap=filters.count_cap,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            experts=sorted(experts, key=lambda e: e.name),
            teams=sorted({e.team for e in experts if e.team}),
            townships=townships,
            # A place chosen elsewhere (the dashboard's unrecognised names) stays chosen.
            other_place=(
                filters.place
                if filters.place and not any(filters.place in (t, v) for t, v in filters.places)
                else ""
            ),
            args=request.args,
        )


@bp.get("/requests/export.<fmt>")
@requires("viewer")
def export_requests(fmt: str) -> Response:
    """The list exactly as filtered, as XLSX or CSV (phones masked, text as text)."""
    if fmt not in ("xlsx", "csv"):
        abort(404)
    tz = policy().tz
    with reading() as session:
        table = [
            [
                row.request.code,
                row.request.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                texts.STATUS_NAMES.get(row.request.status, row.request.status),
                row.request.crop or "",
                texts.CATEGORY_NAMES.get(row.request.category, row.request.category),
                texts.URGENCY_NAMES.get(row.request.urgency, row.request.urgency),
                row.request.place or "",
                mask_phones(row.request.text),
                mask_phone(row.farmer.phone),
                row.expert.name if row.expert else "",
                row.expert.team if row.expert else "",
            ]
            for row in iter_matching(session, _filters())
        ]
    buffer = io.BytesIO()
    if fmt == "csv":
        write_csv(buffer, EXPORT_COLUMNS, table)
        mimetype = "text/csv"
    else:
        import xlsxwriter

        workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
        sheet = workbook.add_worksheet("求助列表")
        write_xlsx_row(sheet, 0, EXPORT_COLUMNS, workbook.add_format({"bold": True}))
        for number, values in enumerate(table, start=1):
            write_xlsx_row(sheet, number, values)
        sheet.freeze_panes(1, 1)
        workbook.close()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    buffer.seek(0)
    audit_read(
        "export_requests",
        f"{len(table)} requests",
        format=fmt,
        # The search words may be a phone or a name: the log keeps only that there were some.
        filters={k: ("…" if k == "q" else v[:50]) for k, v in request.args.items()},
    )
    stamp = utcnow().astimezone(tz).strftime("%Y%m%d-%H%M")
    return send_file(
        buffer, mimetype=mimetype, as_attachment=True, download_name=f"求助-{stamp}.{fmt}"
    )


def _load(session: Any, code: str) -> HelpRequest:
    found = get_request_by_code(session=session, code=code)
    if found is None:
        abort(404)
    return found


@bp.get("/requests/<code>")
@requires("viewer")
def show_request(code: str) -> str:
    """One request: its conversation, its routing decision and the actions on it (audited)."""
    return _request_page(code, revealed=False)


def _request_page(code: str, *, revealed: bool) -> str:
    if not revealed:  # a reveal wrote its own "unmask" row
        audit_read("read_request", f"request {code.upper()[:16]}")
    with reading() as session:
        found = _load(session, code)
        assert found.id is not None
        farmer = session.get(Farmer, found.farmer_id)
        expert = session.get(Expert, found.expert_id) if found.expert_id else None
        offers = offers_for(session=session, request_id=found.id)
        deliveries = deliveries_of(session=session, request_id=found.id)
        names = {e.id: e for e in session.exec(select(Expert))}
        candidates = rank_candidates(session, found, utcnow())
        qualified, others = reassign_choices(session, found, utcnow())
        return render_template(
            "console/request.html",
            req=found,
            farmer=farmer,
            expert=expert,
            offers=offers,
            deliveries=deliveries,
            names=names,
            by_openid={e.openid: e for e in names.values()},
            items=timeline(session, request=found),
            history=found.routing.get("history", []),
            candidates=candidates,
            qualified=qualified,
            others=others,
            TIER_NAMES=TIER_NAMES,
            revealed=revealed,
            checks=checks_of(session, found.id),
            surveys=survey_rounds(session, found.id),
            is_complaint=is_complaint,
        )


def _act(code: str, action: str, run: Any) -> BaseResponse:
    """Run one staff action on a request, audit it, and go back to its page."""
    with changing() as session:
        found = _load(session, code)
        assert found.id is not None
        waiting = [
            offer.expert_id
            for offer in offers_for(session=session, request_id=found.id)
            if offer.status == "pending"
        ]
        before: dict[str, Any] = {"status": found.status, "expert_id": found.expert_id}
        if waiting:
            before["offered"] = waiting  # paged, not yet answered
        try:
            changed = run(session, found)
        except coordination.ActionRefused as error:
            session.rollback()
            refused(str(error))
            return redirect(url_for("console.show_request", code=code))
        audit(
            session,
            action,
            f"request {code}",
            before=before,
            after={
                "status": changed.status,
                "expert_id": changed.expert_id,
                # Choices only: free text (a note, a reason) is the request's, not the log's,
                # so that erasing a farmer's data leaves none of it here.
                **{
                    key: value
                    for key, value in request.form.to_dict().items()
                    if key not in ("text", "reason", "csrf_token")
                },
            },
        )
    done("已完成。")
    return redirect(url_for("console.show_request", code=code))


@bp.post("/requests/<code>/reassign")
@requires("coordinator")
def reassign(code: str) -> BaseResponse:
    """Offer the request to the expert staff chose."""
    expert_id = params.ident(request.form.get("expert_id"))

    def run(session: Any, found: HelpRequest) -> HelpRequest:
        expert = session.get(Expert, expert_id) if expert_id is not None else None
        if expert is None:
            raise coordination.ActionRefused("请选一位专家")
        assert found.id is not None
        return coordination.reassign_request(
            session,
            request_id=found.id,
            expert=expert,
            staff=current_user.username,
            config=policy(),
            now=utcnow(),
        )

    return _act(code, "reassign", run)


@bp.post("/requests/<code>/page-next")
@requires("coordinator")
def page_next(code: str) -> BaseResponse:
    """Page the next candidate."""
    return _act(
        code,
        "page_next",
        lambda session, found: coordination.page_next_candidate(
            session, request_id=found.id, staff=current_user.username, config=policy(), now=utcnow()
        ),
    )


@bp.post("/requests/<code>/close")
@requires("coordinator")
def close(code: str) -> BaseResponse:
    """Close the request."""
    return _act(
        code,
        "close",
        lambda session, found: coordination.close_request(
            session,
            request_id=found.id,
            staff=current_user.username,
            reason=request.form.get("reason", "")[:200],
            now=utcnow(),
        ),
    )


@bp.post("/requests/<code>/reopen")
@requires("coordinator")
def reopen(code: str) -> BaseResponse:
    """Reopen the request and page an expert."""
    return _act(
        code,
        "reopen",
        lambda session, found: coordination.reopen_request(
            session,
            request_id=found.id,
            staff=current_user.username,
            reason=request.form.get("reason", "")[:200],
            config=policy(),
            now=utcnow(),
        ),
    )


@bp.post("/requests/<code>/note")
@requires("coordinator")
def note(code: str) -> BaseResponse:
    """An internal note."""
    return _act(
        code,
        "note",
        lambda session, found: coordination.add_note(
            session,
            request_id=found.id,
            staff=current_user.username,
            text=request.form.get("text", ""),
            now=utcnow(),
        ),
    )


@bp.post("/requests/<code>/reveal")
@requires("coordinator")
def reveal(code: str) -> str:
    """Show the farmer's phone number and openid, answering the POST itself (audited)."""
    with changing() as session:
        found = _load(session, code)
        audit(session, "unmask", f"request {found.code}", after={"farmer_id": found.farmer_id})
    return _request_page(code, revealed=True)
