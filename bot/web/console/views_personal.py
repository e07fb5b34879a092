"""A farmer's personal data for admins: export it (JSON or XLSX), or erase it. Both
are written to the audit log."""

from __future__ import annotations

import json

from flask import Response, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from bot.web.auth import requires
from bot.web.console import audit, bp, changing, done, policy, refused
from handlers.personal_data import ErasureRefused, erase_farmer, personal_data
from models.tables import Farmer, utcnow


@bp.get("/farmers/<int:farmer_id>/export")
@requires("admin")
def export_farmer(farmer_id: int) -> Response:
    """Everything stored about one farmer, as JSON or XLSX (audited)."""
    from bot.files.personal_export import personal_xlsx

    fmt = request.args.get("format", "json")
    if fmt not in ("json", "xlsx"):
        abort(400)
    with changing() as session:
        farmer = session.get(Farmer, farmer_id)
        if farmer is None:
            abort(404)
        data = personal_data(session, farmer=farmer, tz=policy().tz)
        audit(session, "export_personal_data", f"farmer {farmer_id}", after={"format": fmt})
    if fmt == "xlsx":
        body = personal_xlsx(data)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        mimetype = "application/json"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f"attachment; filename=farmer-{farmer_id}.{fmt}"},
    )


@bp.post("/farmers/<int:farmer_id>/erase")
@requires("admin")
def erase_farmer_data(farmer_id: int) -> BaseResponse:
    """Erase one farmer's personal data, as 删除我的信息 does (audited)."""
    if request.form.get("confirm") != "yes":
        refused("请勾选“确定删除”")
        return redirect(url_for("console.show_farmer", farmer_id=farmer_id))
    with changing() as session:
        farmer = session.get(Farmer, farmer_id, with_for_update=True)
        if farmer is None:
            abort(404)
        if farmer.erased_at is not None:
            refused("这位农户的信息已经删除过了")
            return redirect(url_for("console.show_farmer", farmer_id=farmer_id))
        try:
            erasure = erase_farmer(session, farmer=farmer, config=policy(), now=utcnow())
        except ErasureRefused as refusal:
            refused(str(refusal))
            return redirect(url_for("console.show_farmer", farmer_id=farmer_id))
        audit(
            session,
            "erase_personal_data",
            f"farmer {farmer_id}",
            after={
                "requests": erasure.requests,
                "messages": erasure.messages,
                "files": erasure.media,
                "closed": erasure.closed,
            },
        )
    done(f"已删除这位农户的个人信息（{erasure.requests} 个求助，{erasure.messages} 条对话）")
    return redirect(url_for("console.show_farmer", farmer_id=farmer_id))
