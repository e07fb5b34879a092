"""The demo's built-in photos, drawn on the spot with Pillow (no files to ship): a
healthy leaf, a yellowing one, one with brown lesions, and a pig in its pen, so that
what the farmer sends and the expert opens looks like what it stands for."""

from __future__ import annotations

import functools
import io
import math
import random
import struct
import zlib

# name → (what it shows, its main colour).
PHOTOS = {
    "green-leaf": ("叶子", (86, 150, 64)),
    "yellow-leaf": ("发黄的叶子", (196, 176, 62)),
    "spotted-leaf": ("有斑点的叶子", (120, 150, 60)),
    "pig-pen": ("猪圈", (232, 170, 160)),
}
WIDTH, HEIGHT = 480, 360


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (for tests that need a small, known image)."""
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


@functools.cache
def photo_bytes(name: str) -> bytes:
    """The PNG of one built-in photo."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(name)
    colour = PHOTOS[name][1]
    image = Image.new("RGB", (WIDTH, HEIGHT), (104, 84, 60))
    draw = ImageDraw.Draw(image)
    for _ in range(900):  # soil, or straw in the pen
        x, y = rng.randrange(WIDTH), rng.randrange(HEIGHT)
        shade = (196, 170, 96) if name == "pig-pen" else (82, 64, 44)
        tone = tuple(max(0, c + rng.randint(-18, 18)) for c in shade)
        draw.line((x, y, x + rng.randint(-14, 14), y + rng.randint(-3, 3)), fill=tone, width=2)
    if name == "pig-pen":
        _pig(draw, colour)
    else:
        _leaf(draw, rng, colour, spotted=name == "spotted-leaf", yellow=name == "yellow-leaf")
    image = image.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _leaf(
    draw: object, rng: random.Random, colour: tuple[int, int, int], *, spotted: bool, yellow: bool
) -> None:
    from PIL import ImageDraw

    assert isinstance(draw, ImageDraw.ImageDraw)
    cx, cy, length, width = WIDTH / 2, HEIGHT / 2, 380, 170
    angle = math.radians(-18)

    def at(u: float, v: float) -> tuple[float, float]:
        """A point along the leaf (u from tip −1 to base 1) and across it (v)."""
        x, y = u * length / 2, v * width / 2
        return (cx + x * math.cos(angle) - y * math.sin(angle),
                cy + x * math.sin(angle) + y * math.cos(angle))  # fmt: skip

    edge = [at(u, math.sin(math.acos(u)) * (1 - 0.15 * u)) for u in _steps(-1, 1, 60)]
    edge += [at(u, -math.sin(math.acos(u)) * (1 - 0.15 * u)) for u in _steps(1, -1, 60)]
    draw.polygon(edge, fill=colour, outline=(50, 90, 40))
    if yellow:  # yellowing from the edge inward, green along the midrib
        inner = [at(u, math.sin(math.acos(u)) * 0.45) for u in _steps(-0.9, 0.9, 40)]
        inner += [at(u, -math.sin(math.acos(u)) * 0.45) for u in _steps(0.9, -0.9, 40)]
        draw.polygon(inner, fill=(150, 170, 70))
    draw.line([at(-0.98, 0), at(1.25, 0)], fill=(60, 100, 45), width=4)  # midrib and stalk
    for u in _steps(-0.7, 0.8, 7):
        for side in (1, -1):
            draw.line([at(u, 0), at(u - 0.22, side * 0.75)], fill=(70, 115, 50), width=2)
    if spotted:
        for _ in range(14):
            u, v = rng.uniform(-0.7, 0.7), rng.uniform(-0.55, 0.55)
            x, y = at(u, v)
            r = rng.uniform(5, 12)
            draw.ellipse((x - r - 3, y - r - 3, x + r + 3, y + r + 3), fill=(190, 170, 70))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(96, 60, 32))


def _pig(draw: object, colour: tuple[int, int, int]) -> None:
    from PIL import ImageDraw

    assert isinstance(draw, ImageDraw.ImageDraw)
    outline, dark = (150, 96, 90), (90, 60, 58)
    for x in (150, 190, 290, 330):  # legs
        draw.rounded_rectangle((x, 220, x + 26, 290), 8, fill=colour, outline=outline)
    draw.ellipse((110, 120, 370, 250), fill=colour, outline=outline, width=2)  # body
    draw.ellipse((330, 110, 430, 210), fill=colour, outline=outline, width=2)  # head
    draw.polygon([(345, 120), (360, 80), (378, 118)], fill=colour, outline=outline)  # ears
    draw.polygon([(390, 116), (410, 80), (418, 124)], fill=colour, outline=outline)
    draw.ellipse((400, 150, 450, 190), fill=(240, 150, 150), outline=outline, width=2)  # snout
    for x in (415, 432):
        draw.ellipse((x - 4, 164, x + 4, 174), fill=dark)
    draw.ellipse((372, 140, 382, 150), fill=dark)  # eye
    draw.arc((80, 150, 120, 190), 180, 420, fill=outline, width=4)  # curly tail
    for x in range(0, WIDTH, 60):  # the pen's rails
        draw.rectangle((x, 0, x + 10, 70), fill=(120, 90, 60))
    draw.rectangle((0, 20, WIDTH, 34), fill=(140, 104, 70))


def _steps(start: float, end: float, count: int) -> list[float]:
    return [start + (end - start) * i / (count - 1) for i in range(count)]
