"""Photos uploaded through the web (visit photos): checked, turned upright and shrunk.

Phones take photos of 2–6 MB; they are kept as JPEGs no larger than needed to read
a leaf's spots on a screen, which keeps the media folder and the pages light.
"""

from __future__ import annotations

import io
import warnings

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # one uploaded photo, as it came from the phone
MAX_PHOTOS = 6
MAX_PIXELS = 50_000_000  # a 50-megapixel photo at most (larger is a decompression bomb)
FORMATS = ("JPEG", "PNG", "WEBP")  # what phones send (JPEG covers MPO); nothing else is opened
LONGEST_SIDE = 1600
JPEG_QUALITY = 82


class PhotoRefused(ValueError):
    """The upload is not a photo that can be kept; the message says why, in Chinese."""


def shrink_photo(content: bytes, name: str = "") -> bytes:
    """Return the photo as an upright JPEG at most LONGEST_SIDE pixels on its longest side.

    Raises PhotoRefused for files too large, not images, or broken.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = f"“{name}”" if name else "这张照片"
    if len(content) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"{label}超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，没有保存")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise PhotoRefused(f"{label}像素太多，没有保存")
                # JPEGs are decoded at a reduced scale already: far less memory and time.
                image.draft("RGB", (LONGEST_SIDE, LONGEST_SIDE))
                upright = ImageOps.exif_transpose(image)
                upright = upright.convert("RGB")
                upright.thumbnail((LONGEST_SIDE, LONGEST_SIDE))
                out = io.BytesIO()
                upright.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise PhotoRefused(f"{label}不是能打开的照片（请传 JPG、PNG 或 WebP）") from None
    except (OSError, ValueError, SyntaxError):
        raise PhotoRefused(f"{label}已损坏，打不开") from None
    return out.getvalue()
