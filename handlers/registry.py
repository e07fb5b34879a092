"""Dispatch of inbound pushes to handlers, by message type or event name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from handlers.config import Policy
from handlers.inbound import Inbound
from models.senders import SenderState
from models.tables import Expert, Farmer, HelpRequest, Message, Survey, TreatmentCheck


@dataclass
class Context:
    """What a handler gets: the session, the clock, the sender and the logged message."""

    session: Session
    now: datetime
    farmer: Farmer
    message: Message
    # The sender's open request and survey, read once the sender was locked.
    sender: SenderState
    config: Policy = field(default_factory=Policy)
    expert: Expert | None = None
    # Sentences put before the reply (e.g. "your message was too long").
    notices: list[str] = field(default_factory=list)

    def open_request(self) -> HelpRequest | None:
        """The sender's open request (the relay step and the intake dialogue both ask;
        neither opens or closes one before the other asks)."""
        return self.sender.open_request

    def open_check(self) -> TreatmentCheck | None:
        """The sender's treatment check asked and waiting for an answer, if any."""
        if self.sender.open_check_id is None:
            return None
        return self.session.get(TreatmentCheck, self.sender.open_check_id)

    def open_survey(self) -> Survey | None:
        """The sender's survey waiting for an answer, if any."""
        if self.sender.open_survey_id is None:
            return None
        return self.session.get(Survey, self.sender.open_survey_id)


# A handler returns the passive reply text, or None to answer "success" (no reply).
Handler = Callable[[Context, Inbound], str | None]

_HANDLERS: dict[str, Handler] = {}


def handles(*kinds: str) -> Callable[[Handler], Handler]:
    """Register a handler for message types ("text") or events ("event:subscribe")."""

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            _HANDLERS[kind] = handler
        return handler

    return register


def find_handler(inbound: Inbound) -> Handler:
    """Return the handler for this push, or the one for anything unknown."""
    if inbound.msg_type == "event":
        # An event nobody handles is a report from WeChat, not a person waiting.
        return _HANDLERS.get(f"event:{inbound.event}") or _HANDLERS["event:*"]
    return _HANDLERS.get(inbound.msg_type) or _HANDLERS["unknown"]
