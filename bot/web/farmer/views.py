"""The farmer's pages: the survey answered with taps, an advisory in full with 退订,
their own data (see, download, erase), the privacy notice and how to use the account."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, render_template, request
from itsdangerous import BadSignature, SignatureExpired
from sqlmodel import select

from bot.database import get_engine
from bot.web.farmer import bp
from handlers import texts
from handlers.config import Policy
from handlers.notify import read_farmer_link
from handlers.personal_data import ErasureRefused, erase_farmer, personal_data
from handlers.survey import answer_survey_page
from models.db import session_scope
from models.tables import Advisory, Expert, Farmer, HelpRequest, Survey, utcnow

SOLVED_CHOICES = (("yes", "解决了"), ("partly", "部分解决"), ("no", "没解决"))


def _policy() -> Policy:
    policy: Policy = current_app.extensions["farmhelp.policy"]
    return policy


def page(template: str, *, status: int = 200, **context: Any) -> Response:
    """Render one of the farmer's pages."""
    body = render_template(template, account_name=_policy().account_name, **context)
    return Response(body, status=status)


def notice(title: str, text: str, status: int) -> Response:
    """A short page that explains why there is nothing else to show."""
    return page("farmer/notice.html", status=status, title=title, text=text)


def _claims(page_name: str, token: str, max_age: int) -> dict[str, int] | Response:
    try:
        return read_farmer_link(_policy(), page_name, token, max_age)
    except SignatureExpired:
        return notice("链接已过期", "这个链接已经过期了。有问题直接在公众号里发给我们。", 403)
    except (BadSignature, ValueError, TypeError):
        return notice("链接无效", "这个链接不完整或被改动过。请从公众号里的消息重新打开。", 403)


@bp.route("/f/survey/<token>", methods=["GET", "POST"])
def survey(token: str) -> Response:
    """The one-tap survey: solved or not, 1-5 stars, optional words (answer stored first)."""
    policy = _policy()
    lifetime = policy.survey_delay + policy.survey_expiry + policy.survey_reminder
    claims = _claims("survey", token, int(lifetime.total_seconds()))
    if isinstance(claims, Response):
        return claims
    typed = request.form if request.method == "POST" else {}
    with session_scope(get_engine()) as session:
        # The farmer first, then the survey: the same order as their chat messages and an
        # erasure take, so a tap here and a digit in the chat are answered one at a time.
        farmer_id = session.exec(
            select(Survey.farmer_id).where(Survey.id == claims.get("s", 0))
        ).first()
        if farmer_id is None:
            return notice("找不到这次回访", texts.SURVEY_PAGE_ENDED, 404)
        session.exec(select(Farmer.id).where(Farmer.id == farmer_id).with_for_update()).first()
        found = session.exec(
            select(Survey).where(Survey.id == claims.get("s", 0)).with_for_update()
        ).first()
        if found is None:
            return notice("找不到这次回访", texts.SURVEY_PAGE_ENDED, 404)
        if found.state == "answered" or found.step in ("comment", "done"):
            return notice("已经评价过了", texts.SURVEY_PAGE_ANSWERED, 200)
        if found.state not in ("sent", "held"):
            return notice("回访已结束", texts.SURVEY_PAGE_ENDED, 410)
        help_request = session.get(HelpRequest, found.request_id)
        expert = session.get(Expert, found.expert_id) if found.expert_id else None
        shown: dict[str, Any] = {
            "code": help_request.code if help_request else "",
            "expert": texts.expert_title(expert.name) if expert else "专家",
            "solved_choices": SOLVED_CHOICES,
            "typed": typed,
        }
        if request.method == "GET":
            return page("farmer/survey.html", **shown)
        solved = typed.get("solved", "")
        if found.step == "rating":  # answered 1/2/3 in the chat already
            solved = found.solved or solved
        rating = typed.get("rating", "")
        if solved not in dict(SOLVED_CHOICES) or rating not in ("1", "2", "3", "4", "5"):
            return page(
                "farmer/survey.html",
                status=400,
                message="请点选“解决了吗”和几颗星，再提交。",
                error=True,
                **shown,
            )
        done = answer_survey_page(
            session,
            survey=found,
            solved=solved,
            rating=int(rating),
            comment=typed.get("comment", "")[:500],
            policy=policy,
            now=utcnow(),
        )
    return notice("谢谢您的评价", done, 200)


@bp.get("/f/advisory/<token>")
def show_advisory(token: str) -> Response:
    """An advisory in full, with 退订 as a button."""
    claims = _claims("advisory", token, int(_policy().link_lifetime.total_seconds()) * 4)
    if isinstance(claims, Response):
        return claims
    with session_scope(get_engine()) as session:
        advisory = session.get(Advisory, claims.get("a", 0))
        farmer = session.get(Farmer, claims.get("f", 0))
        if advisory is None or farmer is None:
            return notice("找不到这条提醒", "这条农事提醒已经不在了。", 404)
        sent = (advisory.sent_at or advisory.created_at).astimezone(_policy().tz)
        return page(
            "farmer/advisory.html",
            advisory=advisory,
            token=token,
            subscribed=farmer.advisories,
            sent=sent.strftime("%Y-%m-%d"),
        )


@bp.post("/f/advisory/<token>/stop")
def stop_advisories(token: str) -> Response:
    """退订 from the advisory's page: no more advisories (help requests unaffected)."""
    claims = _claims("advisory", token, int(_policy().link_lifetime.total_seconds()) * 4)
    if isinstance(claims, Response):
        return claims
    with session_scope(get_engine()) as session:
        farmer = session.get(Farmer, claims.get("f", 0))
        if farmer is None:
            return notice("找不到您的信息", "您的信息已经删除了。", 404)
        farmer.advisories = False
    return notice("已退订", texts.UNSUBSCRIBED_ADVISORIES, 200)


@bp.get("/privacy")
def privacy() -> Response:
    """What is collected, why, for how long, who sees it, and how to exercise one's rights."""
    policy = _policy()
    return page(
        "farmer/privacy.html",
        retention=texts.duration_words(policy.retention),
        grace=texts.duration_words(policy.unfollow_grace),
        contact=policy.privacy_contact,
    )


@bp.get("/help")
def how_to() -> Response:
    """How to ask for help: the menu's 使用说明."""
    return page("farmer/help.html")


def _me(token: str) -> dict[str, int] | Response:
    return _claims("me", token, int(_policy().link_lifetime.total_seconds()))


def _stored_data(token: str) -> dict[str, Any] | Response:
    """What is stored about the farmer this link names, or the page to show instead."""
    claims = _me(token)
    if isinstance(claims, Response):
        return claims
    with session_scope(get_engine()) as session:
        farmer = session.get(Farmer, claims.get("f", 0))
        if farmer is None or farmer.erased_at is not None:
            return notice("信息已删除", "您的个人信息已经删除了。", 410)
        return personal_data(session, farmer=farmer, tz=_policy().tz)


@bp.get("/f/me/<token>")
def my_data(token: str) -> Response:
    """Everything stored about the farmer who holds this link (PIPL Art. 45)."""
    data = _stored_data(token)
    if isinstance(data, Response):
        return data
    return page("farmer/me.html", data=data, token=token)


@bp.get("/f/me/<token>/download")
def download_my_data(token: str) -> Response:
    """The same, as a JSON file the farmer keeps (a copy, PIPL Art. 45)."""
    data = _stored_data(token)
    if isinstance(data, Response):
        return data
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": "attachment; filename=my-data.json"},
    )


@bp.post("/f/me/<token>/erase")
def erase_my_data(token: str) -> Response:
    """删除我的信息 from the page: confirmed by the ticked box, then erased at once."""
    claims = _me(token)
    if isinstance(claims, Response):
        return claims
    if request.form.get("confirm") != "yes":
        return notice("还没有删除", "请勾选“确定删除”再点按钮。", 400)
    with session_scope(get_engine()) as session:
        farmer = session.exec(
            select(Farmer).where(Farmer.id == claims.get("f", 0)).with_for_update()
        ).first()
        if farmer is None or farmer.erased_at is not None:
            return notice("信息已删除", "您的个人信息已经删除了。", 410)
        try:
            erase_farmer(session, farmer=farmer, config=_policy(), now=utcnow())
        except ErasureRefused as refusal:
            return notice("不能在这里删除", str(refusal), 403)
    return notice("已删除", texts.ERASE_DONE, 200)
