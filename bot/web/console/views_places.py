"""The places page: the villages, their QR codes, and the posters to print."""

from __future__ import annotations

from collections import Counter

from flask import Response, current_app, render_template, request
from sqlmodel import select

from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, bp, changing, policy, reading, refused
from models.tables import Place


@bp.get("/places")
@requires("viewer")
def list_places() -> str:
    """Townships and villages, with whether each village's QR code was made."""
    with reading() as session:
        places = [p for p in session.exec(select(Place)) if p.village]
    places.sort(key=lambda p: (p.township, p.village))
    made = Counter(p.township for p in places if p.qr_url)
    townships = sorted({p.township for p in places})
    return render_template("console/places.html", places=places, townships=townships, made=made)


@bp.post("/places/posters")
@requires("admin")
def make_posters() -> Response | str:
    """Village QR posters as a PDF (codes WeChat has not made yet are asked for first)."""
    from bot.files.posters import PosterError, write_posters
    from bot.service import wechat_client
    from bot.wechat.api import WeChatAPIError
    from bot.wechat.qrcodes import village_posters, villages

    township = params.text(request.form.get("township", ""), 64) or None
    settings = current_app.extensions["farmhelp.settings"]
    try:
        with changing() as session:
            chosen = villages(session, township)
            if not chosen:
                refused("没有可以生成海报的村（请先导入地名）")
                return list_places()
            api = wechat_client(settings, session.get_bind())  # type: ignore[arg-type]
            posters = village_posters(session, api, chosen)
            audit(session, "qr_posters", township or "全县", after={"villages": len(posters)})
        pdf = write_posters(posters, account_name=policy().account_name)
    except (PosterError, WeChatAPIError) as error:
        refused(f"海报没有生成：{error}")
        return list_places()
    name = f"qr-posters-{township or 'all'}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quoted(name)}"},
    )


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name)
