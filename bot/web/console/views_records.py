"""The expert's service record (专家服务记录) on the console: page, print, Excel."""

from __future__ import annotations

import io

from flask import abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from werkzeug.wrappers import Response as BaseResponse

from bot.files.service_record_export import write_record
from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, bp, changing, done, policy, reading, refused
from bot.web.service_records import record_page
from handlers.service_record import COMPLAINT_VERDICTS, is_complaint
from models.requests import get_request_by_code
from models.tables import Survey, utcnow


@bp.get("/experts/<int:expert_id>/record")
@requires("viewer")
def show_service_record(expert_id: int) -> str:
    """An expert's service record for a period, printable on A4."""
    with reading() as session:
        page = record_page(session, policy(), expert_id, request.args.get("period"))
        return render_template("console/service_record.html", page=page)


@bp.get("/experts/<int:expert_id>/record.xlsx")
@requires("viewer")
def export_service_record(expert_id: int) -> Response:
    """The same record as an Excel workbook."""
    with reading() as session:
        page = record_page(session, policy(), expert_id, request.args.get("period"))
    content = write_record(page, tz=policy().tz)
    name = f"专家服务记录-{page.record.expert.name}-{page.period.label}.xlsx".replace(" ", "")
    return send_file(
        io.BytesIO(content),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=name,
    )


@bp.post("/requests/<code>/complaint")
@requires("coordinator")
def judge_complaint(code: str) -> BaseResponse:
    """Staff looked into a complaining survey answer: upheld or dismissed (audited)."""
    survey_id = params.ident(request.form.get("survey_id"))
    verdict = request.form.get("verdict", "")
    with changing() as session:
        found = get_request_by_code(session=session, code=code)
        survey = session.get(Survey, survey_id) if survey_id is not None else None
        if found is None or survey is None or survey.request_id != found.id:
            abort(404)
        if verdict not in COMPLAINT_VERDICTS or not is_complaint(survey):
            refused("只能核实农户说没解决或打 1、2 分的回访")
            return redirect(url_for("console.show_request", code=code))
        before = {"complaint": survey.complaint}
        survey.complaint = verdict
        survey.complaint_by, survey.complaint_at = current_user.username, utcnow()
        audit(
            session,
            f"complaint_{verdict}",
            f"request {found.code} survey {survey.id}",
            before=before,
            after={"complaint": verdict},
        )
    done(f"已记下：投诉{COMPLAINT_VERDICTS[verdict]}。")
    return redirect(url_for("console.show_request", code=code))
