"""The outbound WeChat API client: every call, the token fetch included, goes through
WECHAT_API_BASE_URL, so a local fake API can stand in for WeChat's.

wechatpy's client hard-codes the token URL and has no stable_token, so this small
client does the HTTP itself with requests.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import Engine

from models.tokens import get_valid_token
from scheduler.redact import redact

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}  # invalid, not the latest, or expired token
TIMEOUT = (3.05, 10)  # connect, read: a hanging WeChat costs at most ~13 s per call


class WeChatAPIError(Exception):
    """WeChat answered with an errcode, or could not be reached.

    Its message never holds the access_token or the AppSecret (see `redact`).
    """

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class Media:
    """Downloaded media bytes and what WeChat said they are."""

    content: bytes
    content_type: str
    filename: str | None


class WeChatAPI:
    """Calls the WeChat API with a token shared by all processes through the database."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        engine: Engine,
        http: requests.Session | None = None,
        legacy_token: bool = False,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.app_id = app_id
        self.app_secret = app_secret
        self.engine = engine
        self.http = http or requests.Session()
        self.legacy_token = legacy_token

    def _http(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call; network failures become WeChatAPIError(-1) without secrets."""
        try:
            return self.http.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise WeChatAPIError(-1, self.redact(f"network: {error}")) from None

    def redact(self, text: str) -> str:
        """Remove this client's secret and any token from a text about to be logged."""
        return redact(text, [self.app_secret])

    def fetch_token(self) -> tuple[str, int]:
        """Ask /stable_token (or /token when configured) for a token: (token, expires_in)."""
        if self.legacy_token:
            response = self._http(
                "GET",
                self.base_url + "token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self.app_secret,
                },
            )
        else:
            response = self._http(
                "POST",
                self.base_url + "stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self.app_secret,
                    "force_refresh": False,
                },
            )
        data = _json(response)
        if "access_token" not in data:
            raise WeChatAPIError(
                int(data.get("errcode", -1)), self.redact(str(data.get("errmsg", "")))
            )
        log.info("fetched a new access_token (expires in %s s)", data.get("expires_in"))
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    def token(self, *, stale: str | None = None) -> str:
        """Return the shared valid token, fetching it once for all processes if needed."""
        return get_valid_token(self.engine, self.app_id, self.fetch_token, stale=stale)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Call with the token; a token error refreshes the token once and retries once."""
        token = self.token()
        for attempt in (1, 2):
            response = self._http(
                method,
                self.base_url + path,
                params={**(params or {}), "access_token": token},
                data=None if body is None else json.dumps(body, ensure_ascii=False).encode(),
                headers=None if body is None else {"Content-Type": "application/json"},
            )
            error = _errcode(response)
            if error in TOKEN_ERRORS and attempt == 1:
                log.warning("access_token rejected (%s); refreshing once", error)
                token = self.token(stale=token)
                continue
            return response
        raise AssertionError("unreachable")

    def download_media(self, media_id: str) -> Media:
        """Download a user's photo, voice note or video (/media/get)."""
        response = self._call("GET", "media/get", params={"media_id": media_id})
        if _is_json(response):
            data = _json(response)
            if "video_url" in data:
                video = self._http("GET", str(data["video_url"]))
                if video.status_code >= 400:
                    raise WeChatAPIError(-1, f"HTTP {video.status_code} fetching the video")
                return Media(video.content, video.headers.get("Content-Type", "video/mp4"), None)
            raise WeChatAPIError(
                int(data.get("errcode", -1)), self.redact(str(data.get("errmsg", "")))
            )
        if response.status_code >= 400:
            raise WeChatAPIError(-1, f"HTTP {response.status_code}")
        disposition = response.headers.get("Content-Disposition", "")
        match = re.search(r'filename="?([^";]+)"?', disposition)
        return Media(
            response.content,
            response.headers.get("Content-Type", "application/octet-stream"),
            match.group(1) if match else None,
        )

    def _post_checked(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._call("POST", path, body=body)
        if response.status_code >= 500:
            raise WeChatAPIError(-1, f"HTTP {response.status_code}")
        data = _json(response)
        errcode = int(data.get("errcode", 0))
        if errcode:
            raise WeChatAPIError(errcode, self.redact(str(data.get("errmsg", ""))))
        return data

    def send_custom(self, openid: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send a customer-service message (text, image, voice, video …)."""
        return self._post_checked("message/custom/send", {"touser": openid, **message})

    def send_template(self, openid: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send a template message: `message` holds template_id, data and url."""
        return self._post_checked("message/template/send", {"touser": openid, **message})

    def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the account's custom menu (menu/create)."""
        self._post_checked("menu/create", menu)

    def get_menu(self) -> dict[str, Any] | None:
        """The account's custom menu as set through the API (menu/get); None: no menu."""
        response = self._call("GET", "menu/get")
        data = _json(response)
        errcode = int(data.get("errcode", 0))
        if errcode == 46003:  # menu no exist
            return None
        if errcode:
            raise WeChatAPIError(errcode, self.redact(str(data.get("errmsg", ""))))
        menu = data.get("menu")
        return menu if isinstance(menu, dict) else None

    def create_permanent_qrcode(self, scene: str) -> str:
        """A permanent QR code for `scene` (qrcode/create, QR_LIMIT_STR_SCENE); its URL.

        WeChat allows 100,000 permanent codes per account; asking again for the same
        scene returns the same code.
        """
        data = self._post_checked(
            "qrcode/create",
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}},
        )
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise WeChatAPIError(-1, "qrcode/create answered without a url")
        return url

    def send(self, kind: str, openid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an outbox payload of the given kind ("custom" or "template")."""
        if kind == "template":
            return self.send_template(openid, payload)
        return self.send_custom(openid, payload)


def _is_json(response: requests.Response) -> bool:
    return (
        response.headers.get("Content-Type", "").split(";")[0].strip()
        in ("application/json", "text/plain", "text/json")
        and response.content[:1] == b"{"
    )


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as error:
        raise WeChatAPIError(-1, f"HTTP {response.status_code}, not JSON") from error
    if not isinstance(data, dict):
        raise WeChatAPIError(-1, "unexpected JSON")
    return data


def _errcode(response: requests.Response) -> int | None:
    if not _is_json(response):
        return None
    try:
        return int(_json(response).get("errcode", 0)) or None
    except (WeChatAPIError, ValueError):
        return None
