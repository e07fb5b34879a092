"""Keeping access tokens and the AppSecret out of log lines and stored errors."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SECRET_PARAMS = re.compile(
    r"(?i)(access_token|secret|appsecret|token)(=|%3D|\"\s*:\s*\"|'\s*:\s*')([^&\s\"',;)]+)"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with token and secret values replaced by `***`.

    Query parameters and JSON fields named like a token or secret are masked, and so
    is every literal value in `secrets` wherever it appears.
    """
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
