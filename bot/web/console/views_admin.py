"""Signing in and out, imports in the browser, staff accounts and the audit log."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import abort, redirect, render_template, request, send_file, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlmodel import select
from werkzeug.wrappers import Response

from bot.database import get_engine
from bot.files.import_samples import SAMPLES, sample_file
from bot.files.imports import (
    SPECIALTY_CHOICES,
    ImportFileError,
    import_duty,
    import_experts,
    import_places,
)
from bot.web.auth import (
    SignedIn,
    begin_session,
    check_login,
    client_address,
    end_session,
    hash_password,
    requires,
)
from bot.web.console import audit, bp, changing, done, policy, reading, refused
from bot.web.console.audit_text import Words, describe
from models.staff import (
    ROLES,
    end_staff_sessions,
    get_staff,
    list_audit,
    list_staff,
    record_audit,
)
from models.tables import Expert, StaffUser, utcnow

IMPORTERS = {"experts": "专家", "duty": "值班表", "places": "地名"}


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """The sign-in page."""
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")
        engine = get_engine()
        result = check_login(engine, username, password, client_address())
        if result.user is not None:
            token = begin_session(engine, result.user, client_address())
            session.clear()  # nothing from before sign-in is carried over
            session["sid"] = token
            login_user(SignedIn(result.user))
            with changing() as db:
                record_audit(
                    session=db,
                    username=username,
                    action="login",
                    target=f"staff {username}",
                    now=utcnow(),
                    address=client_address(),
                )
            target = request.args.get("next", "")
            safe = target.startswith("/console") and not target.startswith("//")
            return redirect(target if safe else url_for("console.show_dashboard"))
        error = result.refusal
    return render_template("console/login.html", error=error)


@bp.post("/logout")
def logout() -> Response:
    """Sign out: this browser's session ends on the server too."""
    if current_user.is_authenticated:
        with changing() as db:
            audit(db, "logout", f"staff {current_user.username}")
    end_session(get_engine(), session.get("sid"))
    logout_user()
    session.clear()
    return redirect(url_for("console.login"))


@bp.route("/import", methods=["GET", "POST"])
@requires("admin")
def import_file() -> str:
    """Import experts, the rota or places from CSV/XLSX, with the CLI's line-numbered errors."""
    report, kind = None, request.form.get("kind", "experts")
    if request.method == "POST":
        upload = request.files.get("file")
        if kind not in IMPORTERS or upload is None or not upload.filename:
            refused("请选择要导入的内容和文件")
        else:
            suffix = Path(upload.filename).suffix.lower()
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"upload{suffix}"
                upload.save(path)
                try:
                    with changing() as session:
                        if kind == "experts":
                            report = import_experts(session, path)
                        elif kind == "duty":
                            report = import_duty(session, path, policy().timezone)
                        else:
                            report = import_places(session, path)
                        audit(
                            session,
                            f"import_{kind}",
                            upload.filename[:100],
                            after={
                                "created": report.created,
                                "updated": report.updated,
                                "bad_rows": len(report.errors),
                            },
                        )
                except ImportFileError as error:
                    refused(str(error))
    return render_template(
        "console/import.html",
        report=report,
        kind=kind,
        importers=IMPORTERS,
        SAMPLE_HEADERS={kind: SAMPLES[kind][0] for kind in IMPORTERS},
        SPECIALTY_CHOICES=SPECIALTY_CHOICES,
    )


@bp.get("/import/sample/<kind>.<fmt>")
@requires("admin")
def import_sample(kind: str, fmt: str) -> Response:
    """A sample sheet with the columns as the county writes them, to fill in."""
    if kind not in IMPORTERS or fmt not in ("csv", "xlsx"):
        abort(404)
    mimetype = (
        "text/csv"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return send_file(
        io.BytesIO(sample_file(kind, fmt)),
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"{IMPORTERS[kind]}示例.{fmt}",
    )


@bp.get("/staff")
@requires("admin")
def list_staff_accounts() -> str:
    """Staff accounts."""
    with reading() as session:
        return render_template("console/staff.html", staff=list_staff(session=session), roles=ROLES)


@bp.post("/staff/add")
@requires("admin")
def add_staff() -> Response:
    """Create a staff account."""
    username = request.form.get("username", "").strip()[:64]
    role, password = request.form.get("role", ""), request.form.get("password", "")
    if not username or role not in ROLES or len(password) < 10:
        refused("需要用户名、角色和至少 10 位的密码")
        return redirect(url_for("console.list_staff_accounts"))
    with changing() as session:
        if get_staff(session=session, username=username) is not None:
            refused(f"{username} 已存在")
            return redirect(url_for("console.list_staff_accounts"))
        session.add(StaffUser(username=username, password_hash=hash_password(password), role=role))
        audit(session, "staff_add", f"staff {username}", after={"role": role})
    done(f"已添加 {username}。")
    return redirect(url_for("console.list_staff_accounts"))


@bp.post("/staff/<int:staff_id>/disable")
@requires("admin")
def disable_staff(staff_id: int) -> Response:
    """Disable a staff account (it can no longer sign in)."""
    with changing() as session:
        user = session.get(StaffUser, staff_id)
        if user is None:
            abort(404)
        if user.username == current_user.username:
            refused("不能停用自己的账号")
            return redirect(url_for("console.list_staff_accounts"))
        user.active = False
        end_staff_sessions(session=session, now=utcnow(), staff_id=staff_id)
        audit(
            session,
            "staff_disable",
            f"staff {user.username}",
            before={"active": True},
            after={"active": False},
        )
    done("已停用。")
    return redirect(url_for("console.list_staff_accounts"))


@bp.get("/audit")
@requires("admin")
def show_audit() -> str:
    """The audit log, newest first."""
    with reading() as session:
        experts = list(session.exec(select(Expert)))
        words = Words(
            {e.id: e.name for e in experts if e.id is not None},
            {e.openid: e.name for e in experts},
            {s.username: s.role for s in list_staff(session=session)},
            policy().tz,
        )
        entries = [describe(event, words) for event in list_audit(session=session)]
        return render_template("console/audit.html", entries=entries)
