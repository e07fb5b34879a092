"""The demo's built-in photos: small PNGs made on the spot (no files to ship)."""

from __future__ import annotations

import struct
import zlib

# name → (what it shows, colour); a leaf, a sick leaf, a field, a pig pen.
PHOTOS = {
    "green-leaf": ("叶子", (86, 150, 64)),
    "yellow-leaf": ("发黄的叶子", (196, 176, 62)),
    "spotted-leaf": ("有斑点的叶子", (140, 120, 60)),
    "pig-pen": ("猪圈", (170, 120, 100)),
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour."""
    raw = (b"\x00" + bytes(rgb) * width) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def photo_bytes(name: str) -> bytes:
    """The PNG of one built-in photo."""
    return png(240, 180, PHOTOS[name][1])
