"""What arrived from WeChat, as handlers see it (no XML, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# One message keeps at most this many characters of text (the farmer is told).
MAX_MESSAGE_CHARS = 2000
# The `account` of an action an expert took on the workbench page: handled like the
# command they could have written, but not a message WeChat carried.
WORKBENCH = "workbench"


@dataclass(frozen=True)
class Inbound:
    """One message or event pushed by WeChat, already verified and decrypted."""

    openid: str
    account: str  # ToUserName: the official account's original id
    msg_type: str  # text, image, voice, video, shortvideo, location, link, event, or unknown
    created: datetime
    create_time: int
    msg_id: str | None = None
    event: str | None = None  # lower-case: subscribe, unsubscribe, scan, location, click …
    content: str | None = None
    media_id: str | None = None
    recognition: str | None = None
    event_key: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None
    url: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False  # the words were longer than MAX_MESSAGE_CHARS and were cut

    @property
    def dedupe_key(self) -> str:
        """The key WeChat's retries share: MsgId for messages, sender+time+event for events."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        key = f"evt:{self.openid}:{self.create_time}:{self.event or self.msg_type}"
        # Two delivery reports to one person in one second are two reports, not a retry.
        report = self.fields.get("MsgID")
        return f"{key}:{report}" if isinstance(report, str) and report.isdigit() else key

    @property
    def opens_window(self) -> bool:
        """Whether the user wrote to the account, which opens WeChat's 48 h window for
        customer-service messages to them (an event or a workbench tap does not)."""
        return self.msg_type != "event" and self.account != WORKBENCH

    @property
    def words(self) -> str:
        """The farmer's words in this message: text, or the voice recognition text."""
        return (self.content or self.recognition or "").strip()
