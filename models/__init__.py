"""SQLModel tables and the small functions that read and write them."""

from models.tables import Farmer, HelpRequest, MediaFile, Message, utcnow

__all__ = ["Farmer", "HelpRequest", "MediaFile", "Message", "utcnow"]
