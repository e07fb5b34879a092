"""The WeChat edge at /wechat: verify, decrypt, parse, deduplicate, store, reply."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from bot.database import get_engine
from bot.ops import PUSHES, REPLY_SECONDS
from bot.settings import Settings
from bot.wechat.protocol import (
    ProtocolError,
    check_signature,
    decrypt_body,
    encrypt_reply,
    parse_xml,
    render_text_reply,
    to_inbound,
)
from bot.wechat.replay import ReplayRefused, Seal, admit, admit_alone, seal_of
from bot.wechat.replies import get_reply_cache, may_be_retried
from handlers import texts
from handlers.inbound import Inbound
from handlers.receive import log_inbound, log_reply, receive
from models.db import session_scope
from models.farmers import lock_farmer, lock_farmer_id
from models.messages import get_inbound_by_key
from models.senders import read_sender_state
from models.tables import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

SUCCESS = "success"  # WeChat's "received, no reply" answer
RETRY_WAIT_SECONDS = 4.0
DEADLOCK_RETRIES = 3


def init_app(app: Flask) -> None:
    """Mount the webhook."""
    app.register_blueprint(bp)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["farmhelp.settings"]
    return settings


def _refuse(error: ProtocolError) -> Response:
    log.warning(
        "wechat push refused with %d: %s (from %s, %s)",
        error.status,
        error.reason,
        request.remote_addr,
        request.full_path,
    )
    return Response(error.reason, status=error.status, mimetype="text/plain")


def _check_query_signature(settings: Settings) -> None:
    check_signature(
        token=settings.wechat_token,
        signature=request.args.get("signature", ""),
        timestamp=request.args.get("timestamp", ""),
        nonce=request.args.get("nonce", ""),
        tolerance=settings.timestamp_tolerance,
    )


@bp.get("/wechat")
def verify_url() -> Response:
    """WeChat's URL check: echo `echostr` when the signature is right."""
    try:
        _check_query_signature(_settings())
    except ProtocolError as error:
        return _refuse(error)
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def receive_push() -> Response:
    """Accept one push: the reply is committed with the message before it is returned."""
    started = time.perf_counter()
    response, msg_type, outcome = _receive_push()
    PUSHES.labels(type=msg_type, outcome=outcome).inc()
    REPLY_SECONDS.observe(time.perf_counter() - started)
    return response


def _receive_push() -> tuple[Response, str, str]:
    settings = _settings()
    seal: Seal | None = None
    try:
        _check_query_signature(settings)
        body = read_body(settings.max_body_bytes)
        seal = seal_of(
            timestamp=request.args.get("timestamp", ""),
            nonce=request.args.get("nonce", ""),
            body=body,
            settings=settings,
        )
        encrypted = request.args.get("encrypt_type", "raw").lower() == "aes"
        if settings.safe_mode and not encrypted and not settings.wechat_allow_plaintext:
            raise ProtocolError(
                403, "plaintext push refused: safe mode is configured (WECHAT_ALLOW_PLAINTEXT)"
            )
        fields = parse_xml(body)
        if encrypted:
            if not settings.safe_mode:
                raise ProtocolError(400, "encrypted push but WECHAT_ENCODING_AES_KEY is not set")
            assert settings.wechat_encoding_aes_key is not None
            fields = parse_xml(
                decrypt_body(
                    fields=fields,
                    token=settings.wechat_token,
                    aes_key=settings.wechat_encoding_aes_key,
                    app_id=settings.wechat_app_id,
                    msg_signature=request.args.get("msg_signature", ""),
                    timestamp=request.args.get("timestamp", ""),
                    nonce=request.args.get("nonce", ""),
                )
            )
        inbound = to_inbound(fields)
    except RequestEntityTooLarge:
        response = _refuse(ProtocolError(413, f"body over {settings.max_body_bytes} bytes"))
        response.headers["Connection"] = "close"  # do not wait for the rest of the body
        return response, "unknown", "refused_413"
    except ProtocolError as error:
        if seal is not None:
            # Signed but refused: its pair is remembered all the same, so that the
            # signature cannot be reused with a body that would be accepted.
            try:
                admit_alone(get_engine(), seal)
            except ReplayRefused:
                return _refuse(REPLAY), "unknown", "refused_403"
            except Exception:  # the database is failing: the push is refused anyway
                log.exception("could not remember the nonce of a refused push")
        return _refuse(error), "unknown", f"refused_{error.status}"

    try:
        body_text = answer(get_engine(), inbound, seal)
    except ReplayRefused:
        return _refuse(REPLAY), inbound.msg_type, "refused_403"
    except Exception:
        # Nothing could be stored: a 503 makes WeChat retry instead of losing the message.
        log.exception("push %s not stored; answering 503 so WeChat retries", inbound.dedupe_key)
        return (
            Response("temporarily unavailable", status=503, mimetype="text/plain"),
            inbound.msg_type,
            "not_stored",
        )
    if encrypted and body_text != SUCCESS:
        assert settings.wechat_encoding_aes_key is not None
        body_text = encrypt_reply(
            xml=body_text,
            token=settings.wechat_token,
            aes_key=settings.wechat_encoding_aes_key,
            app_id=settings.wechat_app_id,
        )
    response = Response(
        body_text, mimetype="application/xml" if body_text != SUCCESS else "text/plain"
    )
    return response, inbound.msg_type, "answered"


REPLAY = ProtocolError(403, "timestamp and nonce already used for another body (replay)")


class PushNotStored(Exception):
    """The push could not be stored now; WeChat should retry it (answered with 503)."""


def read_body(limit: int) -> bytes:
    """Read the body, at most `limit` bytes, whatever the transfer encoding says."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    # A chunked body has no length to check: werkzeug's stream stops at its maximum
    # without a word, so let it read one byte more and see whether there was one.
    request.max_content_length = limit + 1
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def answer(engine: Engine, inbound: Inbound, seal: Seal) -> str:
    """Return the plaintext reply body for a push, handling it exactly once.

    Raises ReplayRefused when the push's (timestamp, nonce) pair came with another
    body before (nothing is stored). Raises PushNotStored when nothing could be stored
    (the database is down, or a concurrent copy of the push never finished): the
    caller answers 503 so that WeChat retries. A reply is cached only once the push it
    answers is committed, and only when WeChat may send the push again (replies.py).
    """
    cache = get_reply_cache()
    if may_be_retried(inbound.create_time):
        cached = cache.get(inbound.dedupe_key)
        if cached is not None:
            return cached
    body: str | None = None
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            body = _handle_once(engine, inbound, seal)
            break
        except ReplayRefused:
            raise
        except IntegrityError:
            # The same push was stored concurrently by a path that does not lock
            # the sender (the failure path): give its reply once it is committed.
            body = _wait_for_reply(engine, inbound.dedupe_key)
            break
        except DBAPIError as error:
            if _is_transient(error) and attempt < DEADLOCK_RETRIES:
                log.warning("push %s hit %s; retrying", inbound.dedupe_key, type(error.orig))
                continue
            if error.connection_invalidated and attempt == 1:
                # A pooled connection had been dropped (server restart, terminated
                # backend): once more on a fresh one. Had the commit got through, the
                # push is found stored and answered with its reply.
                log.warning("push %s lost its connection; retrying", inbound.dedupe_key)
                continue
            if error.connection_invalidated or _is_connection_error(error):
                log.error("database unreachable for %s: %s", inbound.dedupe_key, error.orig)
                raise PushNotStored(inbound.dedupe_key) from error
            log.exception("handler failed for %s; storing the message", inbound.dedupe_key)
            body = _store_after_failure(engine, inbound, seal)
            break
        except Exception:
            log.exception(
                "handler failed for %s; storing the message and apologising", inbound.dedupe_key
            )
            body = _store_after_failure(engine, inbound, seal)
            break
    if body is None:
        raise PushNotStored(inbound.dedupe_key)
    if may_be_retried(inbound.create_time):
        cache.put(inbound.dedupe_key, body)
    return body


def _is_transient(error: DBAPIError) -> bool:
    """Deadlocks, serialisation failures and SQLite's busy lock: worth a retry."""
    name = type(error.orig).__name__
    return name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable") or (
        "database is locked" in str(error.orig)
    )


def _is_connection_error(error: DBAPIError) -> bool:
    return isinstance(error, OperationalError) and not _is_transient(error)


def _handle_once(engine: Engine, inbound: Inbound, seal: Seal) -> str:
    with session_scope(engine) as session:
        now = utcnow()
        admit(session, seal)
        # Locking the sender first serialises their pushes across workers; a retry of
        # this very push waits here and then finds it stored.
        farmer_id = lock_farmer_id(
            session=session, openid=inbound.openid, now=now, wrote=inbound.opens_window
        )
        sender = read_sender_state(
            session=session,
            farmer_id=farmer_id,
            openid=inbound.openid,
            dedupe_key=inbound.dedupe_key,
        )
        if sender.stored_message_id is not None:
            log.debug("retry of %s answered with the stored reply", inbound.dedupe_key)
            return sender.stored_reply or SUCCESS
        received = receive(
            session=session,
            inbound=inbound,
            now=now,
            config=current_app.extensions["farmhelp.policy"],
            farmer=sender.farmer,
            sender=sender,
            reply_body=lambda reply: (
                SUCCESS if reply is None else render_text_reply(inbound=inbound, content=reply)
            ),
        )
    return received.message.reply_body or SUCCESS


def _wait_for_reply(engine: Engine, dedupe_key: str) -> str | None:
    deadline = time.monotonic() + RETRY_WAIT_SECONDS
    while True:
        with session_scope(engine) as session:
            stored = get_inbound_by_key(session=session, dedupe_key=dedupe_key)
            if stored is not None and stored.reply_body is not None:
                return stored.reply_body
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _store_after_failure(engine: Engine, inbound: Inbound, seal: Seal) -> str:
    try:
        with session_scope(engine) as session:
            now = utcnow()
            admit(session, seal)
            lock_farmer(session=session, openid=inbound.openid, now=now)
            stored = get_inbound_by_key(session=session, dedupe_key=inbound.dedupe_key)
            if stored is not None:
                return stored.reply_body or SUCCESS
            message = log_inbound(session=session, inbound=inbound, now=now, status="failed")
            body = render_text_reply(inbound=inbound, content=texts.SYSTEM_BUSY)
            message.reply_body = body
            log_reply(session=session, inbound_message=message, content=texts.SYSTEM_BUSY, now=now)
        return body
    except ReplayRefused:
        raise
    except Exception as error:
        # The database itself is failing: let WeChat retry rather than lose the message.
        log.exception("could not store %s at all", inbound.dedupe_key)
        raise PushNotStored(inbound.dedupe_key) from error
