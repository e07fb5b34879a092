"""The account's custom menu (自定义菜单): the default, a county's own file, and the
checks WeChat applies, so that a bad menu is refused here with a readable reason.

WeChat's rules (自定义菜单/创建接口): at most 3 buttons, each with at most 5 sub-buttons;
a button's name at most 16 bytes (4 Chinese characters), a sub-button's 60 bytes;
`key` at most 128 bytes, `url` at most 1024; a button with sub-buttons has no type.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from handlers.events import MENU_KEY_MY_REQUESTS

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
KEYED = {
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
}


class MenuError(ValueError):
    """The menu breaks one of WeChat's rules; the message says which button and how."""


def default_menu(public_url: str) -> dict[str, Any]:
    """拍照求助, 我的求助, and 更多 (发送位置, 使用说明, 隐私说明)."""
    base = public_url.rstrip("/")
    return {
        "button": [
            {"type": "pic_photo_or_album", "name": "拍照求助", "key": "PHOTO_HELP"},
            {"type": "click", "name": "我的求助", "key": MENU_KEY_MY_REQUESTS},
            {
                "name": "更多",
                "sub_button": [
                    {"type": "location_select", "name": "发送位置", "key": "SEND_LOCATION"},
                    {"type": "view", "name": "使用说明", "url": f"{base}/help"},
                    {"type": "view", "name": "个人信息保护说明", "url": f"{base}/privacy"},
                ],
            },
        ]
    }


def read_menu(path: Path) -> dict[str, Any]:
    """A county's menu from a TOML or JSON file (`button = [...]`), checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MenuError(f"cannot read {path}: {error}") from error
    try:
        menu = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise MenuError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {error}"
        ) from error
    if not isinstance(menu, dict):
        raise MenuError(f"{path}: expected a table with `button`, found {type(menu).__name__}")
    check_menu(menu)
    return menu


def check_menu(menu: dict[str, Any]) -> None:
    """Raise MenuError naming the first button that WeChat would refuse."""
    buttons = menu.get("button")
    if set(menu) != {"button"} or not isinstance(buttons, list) or not buttons:
        raise MenuError("the menu needs one list `button` and nothing else")
    if len(buttons) > MAX_BUTTONS:
        raise MenuError(f"{len(buttons)} buttons: WeChat allows {MAX_BUTTONS}")
    for number, button in enumerate(buttons, 1):
        where = f"button {number}"
        _check_name(button, where, MAX_NAME_BYTES)
        subs = button.get("sub_button")
        if subs is None:
            _check_action(button, where)
            continue
        if "type" in button:
            raise MenuError(f"{where} ({button['name']}) has sub-buttons, so it takes no type")
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise MenuError(f"{where} ({button['name']}): 1 to {MAX_SUB_BUTTONS} sub-buttons")
        for sub_number, sub in enumerate(subs, 1):
            sub_where = f"{where}.{sub_number}"
            _check_name(sub, sub_where, MAX_SUB_NAME_BYTES)
            if "sub_button" in sub:
                raise MenuError(f"{sub_where} ({sub['name']}): WeChat menus have two levels")
            _check_action(sub, sub_where)


def _check_name(button: Any, where: str, limit: int) -> None:
    if not isinstance(button, dict):
        raise MenuError(f"{where} is not a table")
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MenuError(f"{where} has no name")
    size = len(name.encode("utf-8"))
    if size > limit:
        raise MenuError(
            f"{where} ({name}): the name is {size} bytes, WeChat shows at most {limit} "
            f"({limit // 3} Chinese characters)"
        )


def _check_action(button: dict[str, Any], where: str) -> None:
    kind, name = button.get("type"), button["name"]
    if kind in KEYED:
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY_BYTES:
            raise MenuError(f"{where} ({name}): type {kind} needs a key of 1-{MAX_KEY_BYTES} bytes")
    elif kind in ("view", "miniprogram"):
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MenuError(f"{where} ({name}): type {kind} needs a url starting with https://")
        if len(url.encode()) > MAX_URL_BYTES:
            raise MenuError(f"{where} ({name}): the url is longer than {MAX_URL_BYTES} bytes")
        if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
            raise MenuError(f"{where} ({name}): a miniprogram button needs appid and pagepath")
    elif kind in ("media_id", "view_limited", "article_id", "article_view_limited"):
        field = "media_id" if kind in ("media_id", "view_limited") else "article_id"
        if not button.get(field):
            raise MenuError(f"{where} ({name}): type {kind} needs {field}")
    else:
        raise MenuError(f"{where} ({name}): unknown type {kind!r}")


def describe_menu(menu: dict[str, Any]) -> list[str]:
    """The menu as lines a person reads: name, then what the button does."""
    lines = []
    for button in menu.get("button", []):
        lines.append(_describe(button, ""))
        lines.extend(_describe(sub, "  ") for sub in button.get("sub_button") or [])
    return lines


def _describe(button: dict[str, Any], indent: str) -> str:
    if button.get("sub_button"):
        return f"{indent}{button.get('name', '')}"
    target = button.get("key") or button.get("url") or button.get("media_id") or ""
    return f"{indent}{button.get('name', '')}\t{button.get('type', '')}\t{target}"
