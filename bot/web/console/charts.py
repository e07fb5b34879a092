"""Bar charts drawn on the server as SVG: readable on screen and on paper, no script."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

GREEN = "#3c7a2a"
GREY = "#b8c4b0"


def columns(
    labels: Sequence[str], values: Sequence[float], *, width: int = 720, height: int = 180
) -> Markup:
    """Vertical bars (e.g. requests per day), the value above each non-empty bar."""
    top = max(values, default=0) or 1
    slot = width / max(len(values), 1)
    bar = max(slot * 0.7, 1)
    parts = [_open(width, height + 34)]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = index * slot + (slot - bar) / 2
        h = value / top * height
        parts.append(_rect(x, height - h + 14, bar, h))
        if value:
            parts.append(_text(x + bar / 2, height - h + 10, f"{value:g}", 10, "middle"))
        if len(labels) <= 12 or index % 5 == 0:
            parts.append(_text(x + bar / 2, height + 28, label, 10, "middle"))
    parts.append(
        f'<line x1="0" y1="{height + 14}" x2="{width}" y2="{height + 14}" stroke="{GREY}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(labels: Sequence[str], values: Sequence[float], *, width: int = 480) -> Markup:
    """Horizontal bars with their labels (e.g. by category or township)."""
    top = max(values, default=0) or 1
    row, label_width = 24, 110
    parts = [_open(width, row * max(len(values), 1))]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = index * row
        w = value / top * (width - label_width - 40)
        parts.append(_text(label_width - 6, y + 16, label, 12, "end"))
        parts.append(_rect(label_width, y + 4, w, row - 8))
        parts.append(_text(label_width + w + 4, y + 16, f"{value:g}", 12, "start"))
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width: float, height: float) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'xmlns="http://www.w3.org/2000/svg">'
    )


def _rect(x: float, y: float, width: float, height: float) -> str:
    size = f'width="{width:.1f}" height="{height:.1f}"'
    return f'<rect x="{x:.1f}" y="{y:.1f}" {size} fill="{GREEN}"/>'


def _text(x: float, y: float, words: str, size: int, anchor: str) -> str:
    place = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"'
    return f"<text {place}>{escape(words)}</text>"
