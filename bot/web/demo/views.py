"""The simulator page and its small JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, abort, current_app, jsonify, render_template, request
from sqlmodel import Session, col, select

from bot.database import get_engine
from bot.settings import Settings
from bot.web.demo import bp
from bot.web.demo.fake_wechat import FakeWeChat
from bot.web.demo.photos import PHOTOS, photo_bytes
from bot.web.demo.pushes import deliver, message_fields
from bot.web.demo.seed import FARMERS, OUTBREAK
from bot.web.demo.seed import PLACES as DEMO_PLACES
from handlers.outbreaks import describe
from models.tables import (
    Expert,
    Farmer,
    HelpRequest,
    Offer,
    Outbox,
    OutbreakAlert,
    Survey,
    TreatmentCheck,
    advance_demo_clock,
    utcnow,
)

VILLAGE_POSITIONS = {
    village: (32.55 + 0.03 * n, 105.20 + 0.04 * n)
    for n, village in enumerate(v for vs in DEMO_PLACES.values() for v in vs)
}


def _fake() -> FakeWeChat:
    fake: FakeWeChat = current_app.extensions["farmhelp.fake_wechat"]
    return fake


def _settings() -> Settings:
    settings: Settings = current_app.extensions["farmhelp.settings"]
    return settings


@bp.get("/")
def simulator() -> str:
    """Three phones side by side, the clock, and the demo's logins."""
    with Session(get_engine()) as db:
        experts = list(db.exec(select(Expert).order_by(col(Expert.team), col(Expert.name))))
    people = [{"openid": o, "label": f"农户 {name}（{village}）"} for o, name, village in FARMERS]
    people += [{"openid": e.openid, "label": f"专家 {e.name}（{e.team}）"} for e in experts]
    return render_template(
        "demo/simulator.html",
        people=people,
        photos=PHOTOS,
        villages=list(VILLAGE_POSITIONS),
        logins=current_app.extensions.get("farmhelp.demo_logins", []),
        safe_available=_settings().safe_mode,
    )


@bp.get("/photos/<name>.png")
def photo(name: str) -> Response:
    """A built-in photo, as the phone shows what it sent."""
    if name not in PHOTOS:
        abort(404)
    return Response(photo_bytes(name), mimetype="image/png")


@bp.get("/media/<media_id>")
def media(media_id: str) -> Response:
    """A photo farmhelp forwarded through the fake API, as the receiving phone shows it."""
    found = _fake().media.get(media_id)
    if found is None:
        abort(404)
    return Response(found[0], mimetype=found[1])


@bp.get("/api/inbox")
def inbox() -> Response:
    """What farmhelp sent one person through the fake API after a given number."""
    openid = request.args.get("openid", "")
    after = int(request.args.get("after", "0") or 0)
    return jsonify(
        [
            {
                "number": d.number,
                "kind": d.kind,
                "text": d.text,
                "url": d.url,
                "media_id": d.media_id,
            }
            for d in _fake().since(openid, after)
        ]
    )


@bp.post("/api/send")
def send() -> Response:
    """Send what a phone typed (or its photo, place or voice) as a real WeChat push."""
    body: dict[str, Any] = request.get_json(silent=True) or {}
    openid = str(body.get("openid", ""))[:64]
    kind = str(body.get("kind", "text"))
    if not openid:
        abort(400)
    if kind == "photo":
        name = str(body.get("photo", "green-leaf"))
        if name not in PHOTOS:
            abort(400)
        media_id = f"demo-photo-{name}-{utcnow().timestamp():.0f}"
        _fake().media[media_id] = (photo_bytes(name), "image/png")
        fields = message_fields(
            openid, "image", PicUrl=f"/demo/photos/{name}.png", MediaId=media_id
        )
    elif kind == "location":
        village = str(body.get("place", ""))
        lat, lon = VILLAGE_POSITIONS.get(village, (32.56, 105.22))
        fields = message_fields(
            openid, "location", Location_X=lat, Location_Y=lon, Scale=15, Label=f"青川县{village}"
        )
    elif kind == "voice":
        media_id = f"demo-voice-{utcnow().timestamp():.0f}"
        _fake().media[media_id] = (b"#!AMR\n" + bytes(64), "audio/amr")
        extra = {"Recognition": str(body["text"])[:500]} if body.get("text") else {}
        fields = message_fields(openid, "voice", MediaId=media_id, Format="amr", **extra)
    else:
        text = str(body.get("text", "")).strip()[:2000]
        if not text:
            abort(400)
        fields = message_fields(openid, "text", Content=text)
    base = request.host_url.rstrip("/")
    reply = deliver(
        base, _settings(), fields, safe=bool(body.get("safe")) and _settings().safe_mode
    )
    return jsonify(reply=reply)


@bp.post("/api/outbreak")
def outbreak() -> Response:
    """Three farmers of two bordering townships report one disease in their own words,
    as real pushes; answer with what each was told and the alert it raised."""
    base = request.host_url.rstrip("/")
    clicked = utcnow()
    replies = [
        deliver(base, _settings(), message_fields(openid, "text", Content=words), safe=False)
        for openid, words in OUTBREAK
    ]
    openids = [openid for openid, _words in OUTBREAK]
    with Session(get_engine()) as db:
        reported = set(
            db.exec(
                select(HelpRequest.id)
                .join(Farmer, col(Farmer.id) == col(HelpRequest.farmer_id))
                .where(col(Farmer.openid).in_(openids))
            )
        )
        alerts = db.exec(select(OutbreakAlert).order_by(col(OutbreakAlert.id).desc()))
        alert = next(
            (
                a
                for a in alerts
                if reported & set(a.request_ids) and a.created_at >= clicked  # raised now
            ),
            None,
        )
        shown = None
        if alert is not None:
            parts = describe(alert)
            shown = (
                f"【疫情预警】{alert.crop}，{parts['where']}："
                f"{len(alert.request_ids)} 个求助说到{parts['signs']}"
            )
    return jsonify(reports=[w for _o, w in OUTBREAK], replies=replies, alert=shown)


@bp.post("/api/clock")
def clock() -> Response:
    """Move the demo's clock forward (hours, or to the next thing due) and run what is due."""
    body: dict[str, Any] = request.get_json(silent=True) or {}
    if body.get("next"):
        jump = _until_next_due() or timedelta(hours=1)
    else:
        jump = timedelta(hours=float(body.get("hours", 1)))
    offset = advance_demo_clock(jump + timedelta(seconds=1))
    ran = current_app.extensions["farmhelp.demo_run_due"](jump + timedelta(seconds=1))
    tz = current_app.extensions["farmhelp.policy"].tz
    return jsonify(
        now=utcnow().astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        ahead_hours=round(offset.total_seconds() / 3600, 1),
        ran=ran,
    )


def _until_next_due() -> timedelta | None:
    """How long until the next timeout, survey, reminder or retry falls due."""
    policy = current_app.extensions["farmhelp.policy"]
    now = utcnow()
    with Session(get_engine()) as db:
        moments = [
            *db.exec(select(Offer.deadline_at).where(Offer.status == "pending")),
            *db.exec(select(Survey.due_at).where(Survey.state == "scheduled")),
            *db.exec(select(TreatmentCheck.due_at).where(TreatmentCheck.state == "scheduled")),
            *(
                (s.sent_at or s.due_at) + policy.survey_reminder
                for s in db.exec(select(Survey).where(Survey.state == "sent"))
            ),
            *(
                r.updated_at + policy.intake_timeout
                for r in db.exec(select(HelpRequest).where(HelpRequest.status == "intake"))
            ),
            *db.exec(select(Outbox.next_try_at).where(Outbox.status == "pending")),
        ]
    later = [m - now for m in moments if m > now]
    return min(later) if later else None
