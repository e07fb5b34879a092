"""Fetching farmers' photos and voice notes before their MediaIds expire (3 days)."""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from models.db import session_scope
from models.media import due_media
from models.tables import HelpRequest, MediaFile
from scheduler.redact import redact

log = logging.getLogger(__name__)

MEDIA_LIFETIME = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)


class DownloadedMedia(Protocol):
    content: bytes
    content_type: str
    filename: str | None


class MediaSource(Protocol):
    def download_media(self, media_id: str) -> DownloadedMedia: ...


def fetch_due_media(
    *, engine: Engine, source: MediaSource, media_dir: Path, now: datetime, limit: int = 20
) -> int:
    """Download every media file that is due; return how many were stored.

    Failures are logged and retried with growing delays until the MediaId expires.
    """
    with session_scope(engine) as session:
        due = [(m.id, m.media_id) for m in due_media(session=session, now=now, limit=limit)]
    stored = 0
    for media_row_id, media_id in due:
        try:
            media = source.download_media(media_id)
        except Exception as error:
            _record_failure(engine, media_row_id, error, now)  # error text is redacted there
            continue
        with session_scope(engine) as session:
            # Locked: an erasure marking it meanwhile wins, and the file is not written.
            row = session.get(MediaFile, media_row_id, with_for_update=True)
            if row is None or row.status != "pending":
                continue
            path = _target_path(
                media_dir,
                row,
                session.get(HelpRequest, row.request_id),
                media.content_type,
                media.filename,
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(media.content)
            row.status, row.path, row.size = "stored", str(path), len(media.content)
            row.content_type, row.stored_at = media.content_type, now
            row.attempts += 1
            stored += 1
            log.info("stored %s %s (%d bytes) at %s", row.kind, media_id, row.size, path)
    return stored


def _target_path(
    media_dir: Path,
    row: MediaFile,
    request: HelpRequest | None,
    content_type: str,
    filename: str | None,
) -> Path:
    extension = Path(filename).suffix if filename else ""
    extension = extension or mimetypes.guess_extension(content_type.split(";")[0]) or ".bin"
    folder = request.code if request is not None and request.code else "unlinked"
    return media_dir / str(folder) / f"{row.id}-{row.kind}{extension}"


def _record_failure(
    engine: Engine, media_row_id: int | None, error: Exception, now: datetime
) -> None:
    with session_scope(engine) as session:
        row = session.get(MediaFile, media_row_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = redact(str(error))[:1000]
        delay = min(FIRST_RETRY * 2 ** (row.attempts - 1), LONGEST_RETRY)
        if row.created_at + MEDIA_LIFETIME <= now + delay:
            row.status = "failed"
            log.error(
                "giving up on %s %s after %d attempts: %s",
                row.kind,
                row.media_id,
                row.attempts,
                row.last_error,
            )
            return
        row.next_try_at = now + delay
        log.warning(
            "could not fetch %s %s (attempt %d, next in %s): %s",
            row.kind,
            row.media_id,
            row.attempts,
            delay,
            row.last_error,
        )
