"""Staff sign-in: argon2 passwords, server-side sessions that end on sign-out and expire
when idle or old, CSRF on every form, rate-limited guessing, and roles
(viewer < coordinator < admin)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlmodel import Session
from werkzeug.wrappers import Response as BaseResponse

from bot.settings import Settings
from models.db import session_scope
from models.staff import (
    ROLES,
    count_attempt,
    end_staff_sessions,
    forget_attempts,
    get_staff,
    get_staff_session,
    record_audit,
    start_staff_session,
)
from models.tables import StaffUser

RANK = {role: number for number, role in enumerate(reversed(ROLES))}  # viewer 0 … admin 2
FAILURE_WINDOW = timedelta(minutes=1)
PUBLIC_ENDPOINTS = ("console.login", "console.static")
FAILURES_PER_USERNAME = 5  # the 6th attempt in a minute is not even checked
FAILURES_PER_ADDRESS = 20
SESSION_LIFETIME = timedelta(hours=12)  # however busy, a session ends after this
SEEN_EVERY = 60  # seconds between writes of a session's last_seen_at (less for short idles)
_hasher = PasswordHasher()


def wall_clock() -> datetime:
    """The real time: sessions and sign-in limits ignore the demo's moved clock."""
    return datetime.now(UTC)


_decoy_hash: list[str] = []  # checked for unknown usernames, so that they cost the same
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


def _decoy() -> str:
    if not _decoy_hash:
        _decoy_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _decoy_hash[0]


def check_login(engine: Engine, username: str, password: str, address: str) -> LoginResult:
    """Decide a sign-in attempt; too many recent attempts refuse without checking.

    Each attempt is counted first, in a transaction of its own, so that parallel
    guesses in other workers see it. An unknown or disabled username costs the same
    password check as a known one, and every refusal is audited.
    """
    now = wall_clock()
    with session_scope(engine) as db:
        by_name = count_attempt(session=db, key=f"user:{username}", now=now, window=FAILURE_WINDOW)
        by_address = count_attempt(
            session=db, key=f"addr:{address}", now=now, window=FAILURE_WINDOW
        )
    with session_scope(engine) as db:
        if by_name > FAILURES_PER_USERNAME or by_address > FAILURES_PER_ADDRESS:
            _audit_refusal(db, username, address, now, "too many attempts")
            return LoginResult(None, "尝试次数太多，请一分钟后再试。")
        user = get_staff(session=db, username=username)
        matches = password_ok(user.password_hash if user is not None else _decoy(), password)
        if user is None or not user.active or not matches:
            _audit_refusal(db, username, address, now, "wrong username or password")
            return LoginResult(None, "用户名或密码不对。")
        forget_attempts(session=db, key=f"user:{username}")
        user.last_login_at = now
        db.flush()
        db.expunge(user)
        return LoginResult(user, None)


def _audit_refusal(db: Session, username: str, address: str, now: Any, why: str) -> None:
    record_audit(
        session=db,
        username=username or "-",
        action="login_failed",
        target=f"staff {username}",
        now=now,
        after={"reason": why},
        address=address,
    )


def token_hash(token: str) -> str:
    """What is stored of a session token (the cookie alone holds the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def begin_session(engine: Engine, user: StaffUser, address: str) -> str:
    """Start a server-side session for a staff member; return its token for the cookie."""
    token = secrets.token_urlsafe(32)
    assert user.id is not None
    with session_scope(engine) as db:
        start_staff_session(
            session=db,
            staff_id=user.id,
            token_hash=token_hash(token),
            now=wall_clock(),
            address=address,
        )
    return token


def end_session(engine: Engine, token: str | None) -> None:
    """End this browser's server-side session (its cookie stops working everywhere)."""
    if token:
        with session_scope(engine) as db:
            end_staff_sessions(session=db, now=wall_clock(), token_hash=token_hash(token))


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
            # Check the server-side session now, before a view opens a database session
            # of its own (on SQLite a write inside another open transaction would wait).
            if not current_user.is_authenticated:
                session.clear()
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
        token = session.get("sid")
        if not user_id.isdigit() or not isinstance(token, str):
            return None
        now = wall_clock()
        with session_scope(engine) as db:
            kept = get_staff_session(session=db, token_hash=token_hash(token))
            user = db.get(StaffUser, int(user_id))
            if (
                kept is None
                or kept.ended_at is not None
                or kept.staff_id != int(user_id)
                or now - kept.created_at > SESSION_LIFETIME
                or (now - kept.last_seen_at).total_seconds() > idle
                or user is None
                or not user.active
            ):
                return None
            if (now - kept.last_seen_at).total_seconds() > min(SEEN_EVERY, idle // 4):
                kept.last_seen_at = now
            return SignedIn(user)


def client_address() -> str:
    """The caller's address.

    With FARMHELP_TRUST_PROXY, the address the proxy itself appended to
    X-Forwarded-For (the last entry) is used; anything before it was written by the
    client and proves nothing.
    """
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and current_app.config.get("FARMHELP_TRUST_PROXY"):
        return forwarded.split(",")[-1].strip()[:64]
    return (request.remote_addr or "")[:64]
