"""Every parameter a page takes, read at the edge: a bad one is refused (400, in Chinese)
or ignored, never passed on to the database or to date arithmetic.

Ids are ASCII digits that fit the database's INTEGER columns (`²` and `١٢` pass
`str.isdigit()` but are not ids); dates lie between 2000 and 2100; texts carry no NUL
(PostgreSQL refuses it) and are cut to what their column holds.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Any

from flask import Flask, Response, abort, render_template_string, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
MAX_PAGE = 100_000
_ID = re.compile(r"[0-9]{1,10}")
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: ASCII digits within INTEGER's range (others are 404)."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def ident(value: str | None) -> int | None:
    """An id typed or chosen in a form; None unless it is one."""
    if value is None or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def idents(values: list[str]) -> list[int]:
    """The ids among several values (checkboxes)."""
    return [n for n in (ident(v) for v in values) if n is not None]


def page_number(value: str | None) -> int:
    """A page of a list: 1 unless a plausible page is asked for."""
    number = ident(value)
    return min(number, MAX_PAGE) if number is not None else 1


def day(value: str | None) -> date | None:
    """A YYYY-MM-DD date within the years the service can have seen; None otherwise."""
    try:
        parsed = date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return parsed if EARLIEST_YEAR <= parsed.year <= LATEST_YEAR else None


def moment(value: str | None, tz: tzinfo) -> datetime | None:
    """A date and time from a form (local to `tz` unless it says otherwise), within range."""
    try:
        parsed = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def month(value: str | None) -> str | None:
    """A YYYY-MM month within range; None otherwise."""
    found = _MONTH.fullmatch(value or "")
    if found is None or not EARLIEST_YEAR <= int(found.group(1)) <= LATEST_YEAR:
        return None
    return found.group()


def text(value: str | None, limit: int) -> str:
    """Typed words, trimmed and cut to what their column holds."""
    return (value or "").strip()[:limit]


BAD_REQUEST_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<body style="font-family: sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem">
<h1>{{ title }}</h1><p>{{ text }}</p><p><a href="javascript:history.back()">返回上一页</a></p>
</body></html>"""


def refuse_nul() -> None:
    """Refuse a request to a page whose path, query or form carries a NUL (none takes one)."""
    if (request.endpoint or "").startswith("wechat."):
        return  # the webhook checks its own input
    query = [value for _name, values in request.args.lists() for value in values]
    if "\x00" in request.path or any("\x00" in value for value in [*query, *request.args]):
        abort(400, "网址里有无效字符")
    if request.method == "POST":
        fields = [name for name, _values in request.form.lists()]
        fields += [value for _name, values in request.form.lists() for value in values]
        fields += [name for name, _files in request.files.lists()]
        fields += [f.filename or "" for _name, files in request.files.lists() for f in files]
        if any("\x00" in value for value in fields):
            abort(400, "表单里有无效字符")


def init_app(app: Flask) -> None:
    """Bounded ids in routes, NUL refused, and 400s as a page a person can read."""
    app.url_map.converters["int"] = IdConverter

    @app.errorhandler(400)
    def bad_request(error: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/wechat"):
            return error  # WeChat reads the status, not a page
        described = error.description or ""
        if isinstance(error, CSRFError):
            why = "页面已过期或不是从本站打开的，请刷新页面后再提交。"
        elif any("\u4e00" <= c <= "\u9fff" for c in described):
            why = described
        else:
            why = "请求有误，请返回上一页再试。"
        page = render_template_string(BAD_REQUEST_PAGE, title="请求有误", text=why)
        return Response(page, status=400, mimetype="text/html")
