"""Village QR posters: one printable A4 page per village, with that village's own
permanent QR code, so that scanning it places the farmer in the village.

The codes come from WeChat (`qrcode/create`, scene `village:<place id>`); each is drawn
here from the URL WeChat returns, with the `qrcode` library, and the Chinese text is
set in a CJK font embedded (subset) in the PDF, so the file prints the same anywhere.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

FONT_ENV = "FARMHELP_POSTER_FONT"
# Where Debian's fonts-noto-cjk and fonts-wqy-* put their files.
KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
STEPS = ("扫码关注", "拍照或说话", "专家联系您")


class PosterError(RuntimeError):
    """The posters cannot be made (no Chinese font, no village); the message says why."""


@dataclass(frozen=True)
class VillagePoster:
    """What one poster shows: the village, its township and its QR code's content."""

    township: str
    village: str
    qr_url: str


def find_font() -> tuple[Path, int]:
    """A font file with Chinese glyphs and, for a collection, the Simplified Chinese face."""
    chosen = os.environ.get(FONT_ENV, "").strip()
    candidates = [chosen] if chosen else [*KNOWN_FONTS, _fontconfig_choice()]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            path = Path(candidate)
            return path, _simplified_face(path)
    if chosen:
        raise PosterError(f"{FONT_ENV}={chosen} is not a file")
    raise PosterError(
        "no Chinese font found for the posters: install one (Debian: apt-get install "
        f"fonts-noto-cjk) or set {FONT_ENV} to a .ttf, .otf or .ttc file with Chinese glyphs"
    )


def _fontconfig_choice() -> str:
    if shutil.which("fc-match") is None:
        return ""
    found = subprocess.run(
        ["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def _simplified_face(path: Path) -> int:
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    try:
        for number, face in enumerate(collection.fonts):
            name = str(face["name"].getDebugName(1) or "")
            if name.endswith(" SC") or "SC " in name or "GB" in name:
                return number
        return 0
    finally:
        collection.close()


def qr_png(content: str) -> bytes:
    """The QR code of `content` as a PNG (error correction M, a quiet zone of 4)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=12, border=4)
    code.add_data(content)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_posters(
    posters: Iterable[VillagePoster],
    *,
    account_name: str,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """The PDF: one A4 page per village (name, QR code, three large-print steps)."""
    font, face = find_font()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{account_name} 村级二维码海报")
    pdf.add_font("cjk", fname=str(font), collection_font_number=face)
    count = 0
    for poster in posters:
        _draw(pdf, poster, account_name)
        count += 1
        if progress is not None:
            progress(count)
    if count == 0:
        raise PosterError("no villages to make posters for (import places first)")
    return bytes(pdf.output())


def _draw(pdf: FPDF, poster: VillagePoster, account_name: str) -> None:
    pdf.add_page()
    width = pdf.w - 2 * 15
    pdf.set_text_color(31, 42, 28)
    pdf.set_font("cjk", size=22)
    pdf.set_xy(15, 16)
    pdf.cell(width, 12, account_name, align="C")
    pdf.set_font("cjk", size=44)
    pdf.set_xy(15, 32)
    pdf.cell(width, 22, "有问题，找专家", align="C")
    pdf.set_text_color(60, 122, 42)
    pdf.set_font("cjk", size=34)
    pdf.set_xy(15, 58)
    pdf.cell(width, 16, f"{poster.township} {poster.village}".strip(), align="C")
    side = 110
    pdf.image(io.BytesIO(qr_png(poster.qr_url)), x=(pdf.w - side) / 2, y=80, w=side, h=side)
    pdf.set_text_color(31, 42, 28)
    top = 198
    for number, step in enumerate(STEPS, 1):
        pdf.set_font("cjk", size=30)
        pdf.set_xy(25, top + (number - 1) * 22)
        pdf.cell(width - 20, 18, f"{number}. {step}", align="L")
    pdf.set_font("cjk", size=12)
    pdf.set_text_color(95, 106, 90)
    pdf.set_xy(15, 272)
    pdf.cell(width, 8, f"用微信扫码：我们会记下您在{poster.village}，专家找得到您。", align="C")
