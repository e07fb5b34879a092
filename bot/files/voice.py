"""Voice notes a browser can play: WeChat sends AMR, browsers play MP3.

The converter is the ffmpeg that the `imageio-ffmpeg` package ships (a static
build with the AMR decoders and an MP3 encoder), so a fresh install plays voice
notes; `IMAGEIO_FFMPEG_EXE` points it at another ffmpeg. The original file is
kept as the farmer sent it; the MP3 is made once, beside it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

BROWSER_AUDIO = ("audio/mpeg", "audio/mp3", "audio/ogg", "audio/wav", "audio/x-wav", "audio/aac")
CONVERT_TIMEOUT = 30  # seconds; a 60-second voice note converts in well under one


def converter() -> str | None:
    """The ffmpeg executable, or None when none can be found."""
    try:
        import imageio_ffmpeg

        found = shutil.which(str(imageio_ffmpeg.get_ffmpeg_exe()))
    except (ImportError, RuntimeError) as exc:
        log.warning("no ffmpeg for voice notes: %s", exc)
        return None
    if found is None:
        log.warning("no ffmpeg for voice notes: IMAGEIO_FFMPEG_EXE is not an executable")
    return found


def can_play(content_type: str) -> bool:
    """Whether a browser can play this voice note, as it is or once converted."""
    return content_type in BROWSER_AUDIO or converter() is not None


def playable_voice(path: Path, content_type: str) -> Path | None:
    """The voice note as a file a browser plays (converted to MP3 once), or None."""
    if content_type in BROWSER_AUDIO:
        return path
    converted = path.with_suffix(".mp3")
    if converted.is_file():
        return converted
    ffmpeg = converter()
    if ffmpeg is None:
        return None
    partial = path.with_suffix(".part.mp3")
    try:
        result = subprocess.run(
            [ffmpeg, "-loglevel", "error", "-y", "-i", str(path), "-ac", "1", str(partial)],
            capture_output=True,
            timeout=CONVERT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("voice note %s: conversion took over %d s", path.name, CONVERT_TIMEOUT)
        partial.unlink(missing_ok=True)
        return None
    if result.returncode != 0 or not partial.is_file():
        log.warning(
            "voice note %s could not be converted: %s",
            path.name,
            result.stderr.decode("utf-8", "replace").strip()[:200],
        )
        partial.unlink(missing_ok=True)
        return None
    partial.replace(converted)  # two viewers at once each write their own, one wins
    return converted
