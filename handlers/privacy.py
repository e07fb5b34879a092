"""Masking farmers' phone numbers wherever they are shown to someone who need not call."""

from __future__ import annotations

import re

_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_phone(phone: str | None) -> str:
    """138****0001: enough to recognise a number, not to call it."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_phones(text: str) -> str:
    """Mask every mobile number written in a text."""
    return _PHONE_IN_TEXT.sub(r"\1****\2", text)
