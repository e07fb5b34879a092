"""Seeing ahead in the console: the monthly report with charts, outbreak alerts, advisories."""

from __future__ import annotations

import io
import secrets
import string
from typing import Any

from flask import Response, abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from werkzeug.wrappers import Response as BaseResponse

from bot.files.report_export import FIGURE_NAMES, SCOPE_NAMES, shown
from bot.files.spreadsheet import write_xlsx_row
from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, bp, changing, done, policy, reading, refused
from bot.web.console.charts import bars, columns
from handlers import texts
from handlers.advisories import AdvisoryRefused, audience_count, progress, send_advisory
from handlers.outcomes import OUTCOMES
from handlers.report import FIGURES, previous_month
from handlers.report_page import RANK_HEADER, month_before, report_page
from handlers.scores import ScoreRule
from models.experts import all_places
from models.tables import Advisory, HelpRequest, OutbreakAlert, utcnow


def _month() -> str:
    chosen = params.month(request.args.get("month"))
    if chosen is not None:
        return chosen
    return previous_month(utcnow(), policy().tz) if request.args.get("last") else _this_month()


def _this_month() -> str:
    now = utcnow().astimezone(policy().tz)
    return f"{now.year:04d}-{now.month:02d}"


@bp.get("/reports")
@requires("viewer")
def show_report() -> str:
    """The monthly dispatch report (月度调度表) with charts, beside the month before."""
    month = _month()
    with reading() as session:
        page = report_page(session, month, policy().tz, ScoreRule.of(policy()), now=utcnow())
    details = page.details
    return render_template(
        "console/report.html",
        month=month,
        before=month_before(month),
        page=page,
        rows=page.rows,
        total=page.total,
        previous=page.previous,
        details=details,
        treatments=page.treatments,
        rule=page.rule,
        rank_header=RANK_HEADER,
        figures=FIGURES,
        names=FIGURE_NAMES,
        scopes=SCOPE_NAMES,
        shown=shown,
        per_day=columns([f"{d.day}" for d, _ in details.per_day], [n for _, n in details.per_day]),
        by_category=bars(
            [texts.CATEGORY_NAMES.get(c, c) for c, _ in details.by_category],
            [n for _, n in details.by_category],
        ),
        by_township=bars([t for t, _ in details.by_township], [n for _, n in details.by_township]),
    )


@bp.get("/reports/<month>.xlsx")
@requires("viewer")
def export_report(month: str) -> Response:
    """The same figures as the page, one sheet per table."""
    if params.month(month) is None:
        abort(404)
    with reading() as session:
        page = report_page(session, month, policy().tz, ScoreRule.of(policy()), now=utcnow())
    rows, details, treatments = page.rows, page.details, page.treatments
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = workbook.add_format({"bold": True})
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {
        "月度调度表": (
            ["范围", "名称", *(FIGURE_NAMES[f] for f in FIGURES)],
            [[SCOPE_NAMES[s], n, *(shown(f, v[f]) for f in FIGURES)] for s, n, v in rows],
        ),
        "每日求助": (["日期", "求助数"], [[d.isoformat(), n] for d, n in details.per_day]),
        "问题类别": (
            ["类别", "求助数"],
            [[texts.CATEGORY_NAMES.get(c, c), n] for c, n in details.by_category],
        ),
        "乡镇": (["乡镇", "求助数"], [[t, n] for t, n in details.by_township]),
        "专家": (
            ["专家", "服务队", "接单", "拒绝", "超时", "上门", "平均评分"],
            [
                [
                    e["name"],
                    e["team"],
                    e["taken"],
                    e["declined"],
                    e["timed_out"],
                    e["visits"],
                    e["rating"],
                ]
                for e in details.experts
            ],
        ),
        "服务队": (
            ["服务队", "接单", "拒绝", "超时", "上门", "平均评分"],
            [
                [t["name"], t["taken"], t["declined"], t["timed_out"], t["visits"], t["rating"]]
                for t in details.teams
            ],
        ),
        "用药效果": (
            ["作物", "问题", "用药", "好了", "好一些", "没变化", "更重了", "好转比例"],
            [
                [
                    t.crop,
                    t.problem,
                    t.treatment,
                    *(t.counts[o] for o in OUTCOMES),
                    f"{round(t.recovered_share * 100)}%",
                ]
                for t in treatments
            ],
        ),
        "专家评分": (
            list(RANK_HEADER),
            [*page.ranking, [], [f"评分办法：{page.rule.formula()}"]],
        ),
    }
    for name, (header, table) in tables.items():
        sheet = workbook.add_worksheet(name)
        write_xlsx_row(sheet, 0, header, bold)
        for number, values in enumerate(table, start=1):
            write_xlsx_row(sheet, number, values)
        sheet.set_column(0, len(header) - 1, 12)
    workbook.close()
    buffer.seek(0)
    return send_file(
        buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"月度调度表-{month}.xlsx",
    )


def _choices() -> dict[str, object]:
    with reading() as session:
        places = all_places(session=session)
    return {
        "townships": sorted({p.township for p in places if p.township}),
        "villages": sorted({p.village for p in places if p.village}),
    }


@bp.get("/advisories")
@requires("viewer")
def list_advisories() -> str:
    """Advisories sent and how far they got; a form to write one (pre-filled from an alert)."""
    with reading() as session:
        sent = list(session.exec(select(Advisory).order_by(col(Advisory.id).desc()).limit(50)))
        counts = {a.id: progress(session, advisory_id=a.id or 0) for a in sent}
        alert_id = params.ident(request.args.get("alert"))
        alert = session.get(OutbreakAlert, alert_id) if alert_id is not None else None
    draft = {
        "title": f"{alert.crop}病虫害预警" if alert else "",
        "crop": request.args.get("crop", alert.crop if alert else ""),
        "township": request.args.get("township", alert.township if alert else ""),
        "village": "",
        "body": "",
        "alert": alert.id if alert else "",
    }
    return render_template(
        "console/advisories.html", sent=sent, counts=counts, draft=draft, count=None, **_choices()
    )


def _draft_from_form() -> dict[str, object]:
    form = request.form
    return {
        "title": form.get("title", "").strip()[:60],
        "body": form.get("body", "").strip()[:1000],
        "crop": form.get("crop", "").strip()[:32],
        "township": form.get("township", "").strip()[:64],
        "village": form.get("village", "").strip()[:64],
        "everyone": form.get("everyone") == "on",
        "alert": form.get("alert", ""),
    }


@bp.post("/advisories/preview")
@requires("coordinator")
def preview_advisory() -> str | BaseResponse:
    """How many farmers the advisory will reach, before anything is sent."""
    draft = _draft_from_form()
    if not draft["title"] or not draft["body"]:
        refused("请写标题和内容")
        return redirect(url_for("console.list_advisories"))
    with reading() as session:
        try:
            reached = audience_count(
                session,
                crop=str(draft["crop"]) or None,
                township=str(draft["township"]) or None,
                village=str(draft["village"]) or None,
                everyone=bool(draft["everyone"]),
            )
        except AdvisoryRefused as error:
            refused(str(error))
            return redirect(url_for("console.list_advisories"))
    return render_template(
        "console/advisories.html",
        sent=[],
        counts={},
        draft=draft,
        count=reached,
        submission=secrets.token_hex(16),  # one send per preview, however often clicked
        **_choices(),
    )


@bp.post("/advisories/send")
@requires("coordinator")
def send_advisory_now() -> BaseResponse:
    """Send the advisory the coordinator previewed."""
    draft = _draft_from_form()
    alert = str(draft["alert"])
    submission = "".join(c for c in request.form.get("submission", "") if c in HEX)[:32]
    if len(submission) != 32:
        refused("这个表单不完整，请重新预览后再发送")
        return redirect(url_for("console.list_advisories"))
    earlier = _sent_by(submission)
    if earlier is not None:
        done("这条通知已经发出了（按了两次也只发一次）。")
        return redirect(url_for("console.show_advisory", advisory_id=earlier))
    try:
        return _send(draft, alert, submission)
    except IntegrityError:
        # The same form was sent at the same moment by another click: show that one.
        earlier = _sent_by(submission)
        if earlier is None:
            raise
        done("这条通知已经发出了（按了两次也只发一次）。")
        return redirect(url_for("console.show_advisory", advisory_id=earlier))


HEX = set(string.hexdigits.lower())


def _existing_alert(session: Any, value: str) -> int | None:
    """The alert an advisory answers, if the form names one that exists."""
    alert_id = params.ident(value)
    return alert_id if alert_id is not None and session.get(OutbreakAlert, alert_id) else None


def _sent_by(submission: str) -> int | None:
    with reading() as session:
        return session.exec(select(Advisory.id).where(Advisory.submission == submission)).first()


def _send(draft: dict[str, object], alert: str, submission: str) -> BaseResponse:
    with changing() as session:
        advisory = Advisory(
            submission=submission,
            title=str(draft["title"]),
            body=str(draft["body"]),
            crop=str(draft["crop"]) or None,
            township=str(draft["township"]) or None,
            village=str(draft["village"]) or None,
            everyone=bool(draft["everyone"]),
            created_by=current_user.username,
            created_at=utcnow(),
            alert_id=_existing_alert(session, alert),
        )
        session.add(advisory)
        session.flush()
        try:
            ways = send_advisory(session, advisory=advisory, config=policy(), now=utcnow())
        except AdvisoryRefused as error:
            session.rollback()
            refused(str(error))
            return redirect(url_for("console.list_advisories"))
        audit(
            session,
            "advisory_send",
            f"advisory {advisory.id}",
            after={"recipients": advisory.recipients, "title": advisory.title},
        )
        advisory_id, recipients = advisory.id, advisory.recipients
        queued = advisory.queued_at is not None
    if queued:
        done(f"已排队发送给 {recipients} 位农户。")
    else:
        done(f"正在为 {recipients} 位农户排队，已排 {sum(ways.values())} 位，其余几十秒内排好。")
    return redirect(url_for("console.show_advisory", advisory_id=advisory_id))


@bp.get("/advisories/<int:advisory_id>")
@requires("viewer")
def show_advisory(advisory_id: int) -> str:
    """One advisory's progress: queued, waiting, sent, failed (by reason and farmer)."""
    with reading() as session:
        advisory = session.get(Advisory, advisory_id)
        if advisory is None:
            abort(404)
        return render_template(
            "console/advisory.html",
            advisory=advisory,
            counts=progress(session, advisory_id=advisory_id),
        )


def alert_requests(session: object, alert: OutbreakAlert) -> list[HelpRequest]:
    """The requests of an alert (for the dashboard's links)."""
    return [
        r
        for r in session.exec(select(HelpRequest).where(col(HelpRequest.id).in_(alert.request_ids)))  # type: ignore[attr-defined]
    ]
