"""Farmers: the list (latest to write first, found by name, village or phone) and a
farmer's page (who they are, their requests, every conversation)."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import col, select
from werkzeug.wrappers import Response

from bot.web import params
from bot.web.auth import requires
from bot.web.console import audit, audit_read, bp, changing, done, reading
from models.console import timeline
from models.experts import place_book
from models.farmers import list_farmers
from models.search import phone_part
from models.tables import Farmer, HelpRequest

PER_PAGE = 50


def known_places() -> tuple[tuple[str, str], ...]:
    """(township, village) of every imported place, for searches and the place filter."""
    with reading() as session:
        return tuple((p.township, p.village) for p in place_book(session=session).places)


@bp.get("/farmers")
@requires("viewer")
def list_all_farmers() -> str:
    """Farmers, the latest to write first; searched by name, village or phone."""
    words = params.text(request.args.get("q"), 40)
    page = params.page_number(request.args.get("page"))
    phones = current_user.can("coordinator")
    if phone_part(words) and phones:
        audit_read("search_phone", "farmers")  # which digits were asked is not kept
    with reading() as session:
        rows, total = list_farmers(
            session,
            words=words,
            phones=phones,
            places=known_places(),
            page=page,
            per_page=PER_PAGE,
        )
        return render_template(
            "console/farmers.html",
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            words=words,
            phones=phones,
        )


@bp.get("/farmers/<int:farmer_id>")
@requires("viewer")
def show_farmer(farmer_id: int) -> str:
    """Every conversation with one farmer, across all their requests (the read is audited)."""
    return _farmer_page(farmer_id, revealed=False)


def _farmer_page(farmer_id: int, *, revealed: bool) -> str:
    if not revealed:  # a reveal wrote its own "unmask" row
        audit_read("read_farmer", f"farmer {farmer_id}")
    with reading() as session:
        farmer = session.get(Farmer, farmer_id)
        if farmer is None:
            abort(404)
        requests = list(
            session.exec(
                select(HelpRequest)
                .where(HelpRequest.farmer_id == farmer_id)
                .order_by(col(HelpRequest.id))
            )
        )
        placed = next((r for r in reversed(requests) if r.village or r.township), None)
        return render_template(
            "console/farmer.html",
            farmer=farmer,
            requests=requests,
            village=" ".join(filter(None, (placed.township, placed.village))) if placed else "",
            items=timeline(session, farmer=farmer),
            revealed=revealed,
        )


@bp.post("/farmers/<int:farmer_id>/reveal")
@requires("coordinator")
def reveal_farmer(farmer_id: int) -> str:
    """Show this farmer's phone and openid, answering the POST itself (audited)."""
    with changing() as session:
        audit(session, "unmask", f"farmer {farmer_id}")
    return _farmer_page(farmer_id, revealed=True)


@bp.post("/farmers/<int:farmer_id>/name")
@requires("coordinator")
def name_farmer(farmer_id: int) -> Response:
    """Write down the name staff know this farmer by (WeChat gives none)."""
    name = params.text(request.form.get("name"), 32).strip() or None
    with changing() as session:
        farmer = session.get(Farmer, farmer_id)
        if farmer is None or farmer.erased_at is not None:
            abort(404)
        farmer.name = name
        # The name itself stays off the log, so that erasing the farmer leaves none of it.
        audit(session, "name_farmer", f"farmer {farmer_id}")
    done("已保存。")
    return redirect(url_for("console.show_farmer", farmer_id=farmer_id))
