"""SQLModel tables and the small functions that read and write them."""

from models.tables import (
    AccessToken,
    DutyShift,
    Expert,
    Farmer,
    HelpRequest,
    MediaFile,
    Message,
    MonthlyReport,
    Offer,
    Outbox,
    Place,
    RequestEvent,
    SchedulerLease,
    Survey,
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
    "MonthlyReport",
    "Offer",
    "Outbox",
    "Place",
    "RequestEvent",
    "SchedulerLease",
    "Survey",
    "Team",
    "utcnow",
]
