"""Error pages a person can read: 403, 404, 405 and 500 in Chinese, with a way back
that fits where they were (the console's front page, the expert's task list, or the
page before). The webhook and the JSON APIs keep their plain status answers."""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template_string, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

ERROR_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<body style="font-family: system-ui, 'Noto Sans CJK SC', sans-serif; max-width: 36rem;
 margin: 2rem auto; padding: 0 1rem; color: #1f2a1c; background: #f6f7f4">
<h1 style="font-size: 1.3rem">{{ title }}</h1><p>{{ text }}</p>
<p><a href="{{ back }}" style="color: #3c7a2a">{{ back_label }}</a></p>
</body></html>"""

WORDS = {
    403: ("没有权限", "您的账号不能打开这个页面。需要的话，请管理员调整您的角色。"),
    404: ("找不到这个页面", "网址可能写错了，或者这条记录已经不在了。"),
    405: ("不能这样打开", "这个地址只接受表单提交，请从页面上的按钮操作。"),
    500: ("出错了", "服务器这边出了问题，已记下。请稍后再试；一直不行的话请联系工作人员。"),
}
# Answered with the plain status: WeChat and the JSON calls read the code, not a page.
PLAIN = ("/wechat", "/demo/api", "/fake-wechat", "/healthz", "/readyz", "/metrics")


def way_back() -> tuple[str, str]:
    """Where a person on this path goes from an error page."""
    if request.path.startswith("/console"):
        return "/console/", "回到管理后台首页"
    if request.path.startswith("/w/"):
        return "/w/tasks", "回到我的任务"
    if request.path.startswith("/demo"):
        return "/demo/", "回到演示页"
    return "javascript:history.back()", "返回上一页"


def page(status: int) -> Response:
    """The error page of this status, in Chinese."""
    title, text = WORDS[status]
    back, back_label = way_back()
    body = render_template_string(
        ERROR_PAGE, title=title, text=text, back=back, back_label=back_label
    )
    return Response(body, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the pages for the statuses people meet."""

    def handler(error: HTTPException) -> Response | HTTPException:
        status = error.code or 500
        if request.path.startswith(PLAIN) or status not in WORDS:
            return error
        if status == 500:
            log.error("server error on %s %s", request.method, request.path)
        return page(status)

    for status in WORDS:
        app.register_error_handler(status, handler)
