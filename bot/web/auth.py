"""Staff sign-in: argon2 passwords, sessions that expire when idle, CSRF on every form,
rate-limited guessing, and roles (viewer < coordinator < admin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session
from werkzeug.wrappers import Response as BaseResponse

from bot.settings import Settings
from models.staff import ROLES, clear_failures, count_recent_failures, get_staff, record_failure
from models.tables import StaffUser, utcnow

RANK = {role: number for number, role in enumerate(reversed(ROLES))}  # viewer 0 … admin 2
FAILURE_WINDOW = timedelta(minutes=1)
PUBLIC_ENDPOINTS = ("console.login", "console.static")
FAILURES_PER_USERNAME = 5  # the 6th wrong password in a minute is not even checked
FAILURES_PER_ADDRESS = 20
_hasher = PasswordHasher()
csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])


class SignedIn(UserMixin):
    """The staff member of this session."""

    def __init__(self, user: StaffUser) -> None:
        self.id = str(user.id)
        self.username = user.username
        self.role = user.role

    def can(self, role: str) -> bool:
        """Whether this person has at least `role`."""
        return RANK.get(self.role, -1) >= RANK[role]


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def password_ok(stored_hash: str, password: str) -> bool:
    """Check a password against its hash in constant time."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginResult:
    def __init__(self, user: StaffUser | None, refusal: str | None) -> None:
        self.user, self.refusal = user, refusal


def check_login(db: Session, username: str, password: str, address: str) -> LoginResult:
    """Decide a sign-in attempt; too many recent failures refuse without checking."""
    now = utcnow()
    by_name, by_address = count_recent_failures(
        session=db, username=username, address=address, since=now - FAILURE_WINDOW
    )
    if by_name >= FAILURES_PER_USERNAME or by_address >= FAILURES_PER_ADDRESS:
        return LoginResult(None, "尝试次数太多，请一分钟后再试。")
    user = get_staff(session=db, username=username)
    if user is None or not user.active or not password_ok(user.password_hash, password):
        record_failure(session=db, username=username, address=address, now=now)
        return LoginResult(None, "用户名或密码不对。")
    clear_failures(session=db, username=username, address=address)
    user.last_login_at = now
    return LoginResult(user, None)


def requires(role: str) -> Callable[[F], F]:
    """Only signed-in staff with at least `role` (others: sign-in page, or 403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("console.login", next=request.full_path))
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def init_app(app: Flask, settings: Settings) -> None:
    """Cookies, CSRF, the login manager and idle expiry."""
    idle = settings.console_idle_seconds
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        SESSION_COOKIE_NAME="farmhelp_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=idle),
        SESSION_REFRESH_EACH_REQUEST=True,
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    manager = LoginManager(app)

    @app.before_request
    def sign_in_first() -> BaseResponse | None:
        # The cookie's own expiry can be kept by a client; the server checks too.
        seen = session.get("seen")
        if seen is not None and time.time() - float(seen) > idle:
            session.clear()
        if session.get("_user_id"):
            session["seen"] = time.time()
            session.permanent = True
        # Before CSRF: without a session every console URL but sign-in goes there.
        console = request.path.startswith("/console")
        if (
            console
            and request.endpoint not in PUBLIC_ENDPOINTS
            and not current_user.is_authenticated
        ):
            return redirect(url_for("console.login", next=request.full_path))
        return None

    csrf.init_app(app)
    manager.login_view = "console.login"
    manager.login_message = "请先登录。"

    @manager.user_loader
    def load_user(user_id: str) -> SignedIn | None:
        engine = app.extensions["farmhelp.engine"]
        with Session(engine) as db:
            user = db.get(StaffUser, int(user_id)) if user_id.isdigit() else None
            return SignedIn(user) if user is not None and user.active else None


def client_address() -> str:
    """The caller's address (the proxy's X-Forwarded-For is trusted only when configured)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and current_app.config.get("FARMHELP_TRUST_PROXY"):
        return forwarded.split(",")[0].strip()[:64]
    return (request.remote_addr or "")[:64]
