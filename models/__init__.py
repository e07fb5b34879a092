"""SQLModel tables and the small functions that read and write them."""

from models.tables import AccessToken, Farmer, HelpRequest, MediaFile, Message, utcnow

__all__ = ["AccessToken", "Farmer", "HelpRequest", "MediaFile", "Message", "utcnow"]
