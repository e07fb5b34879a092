"""SQLModel tables and the small functions that read and write them."""

from models.tables import (
    AccessToken,
    DutyShift,
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Message,
    Offer,
    Outbox,
    Place,
    RequestEvent,
    Team,
    utcnow,
)

__all__ = [
    "AccessToken",
    "DutyShift",
    "Expert",
    "Farmer",
    "HelpRequest",
    "MediaFile",
    "Message",
    "Offer",
    "Outbox",
    "Place",
    "RequestEvent",
    "Team",
    "utcnow",
]
