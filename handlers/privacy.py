"""Finding and masking farmers' phone numbers wherever they are shown to someone who
need not call.

Farmers write numbers in many ways: full-width digits (`１３９８７６５４３２１`), in
groups (`139 8765 4322`, `139-8765-4322`, `139.8765.4322`), with `+86`, landlines with
their area code (`0931-8123456`), even in Chinese numerals (`一三九八七六五四三二一`).
Each is read as digits first, then recognised as a mobile or a landline number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_DIGIT_VALUES = {
    **{str(n): str(n) for n in range(10)},
    **{chr(0xFF10 + n): str(n) for n in range(10)},  # full-width ０–９
    **dict(zip("〇零一二三四五六七八九", "00123456789", strict=True)),
    "幺": "1",  # how a 1 is read out in a phone number
}
_DIGIT = "[0-9０-９]"
_NUMERAL = "[〇零一二三四五六七八九幺]"
_SEPARATOR = r"[ \t\-.·－—_/()（）]{1,2}"
# Digits in groups of three or more (139 8765 4322, 0931-8123456), perhaps after +86:
# shorter groups are dates, prices and doses (2026-12-06, 1.5-2.0), not numbers to call.
_RUN = re.compile(
    rf"(?<![0-9０-９.])(?:[+＋]\s?(?:86|８６)\s?)?{_DIGIT}{{3,}}(?:{_SEPARATOR}{_DIGIT}{{3,}})*"
    rf"(?![0-9０-９])"
)
# A number read out in Chinese numerals, all of it (一三九八七六五四三二一).
_SPOKEN = re.compile(rf"(?<!{_NUMERAL}){_NUMERAL}{{10,12}}(?!{_NUMERAL})")
_GROUP = re.compile(r"[0-9０-９]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{1,2}\d{7,8}")


def phone_digits(text: str) -> str | None:
    """The number written in `text` as plain digits (86 prefix dropped), if it is one."""
    digits = "".join(_DIGIT_VALUES.get(c, "") for c in text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and _MOBILE.fullmatch(digits[len(prefix) :]):
            digits = digits[len(prefix) :]
    if _MOBILE.fullmatch(digits) or (_LANDLINE.fullmatch(digits) and 10 <= len(digits) <= 12):
        return digits
    return None


def find_phones(text: str) -> Iterator[tuple[int, int, str]]:
    """Every phone number in a text, as (start, end, digits), in the order written."""
    yield from sorted(_find_phones(text))


def _find_phones(text: str) -> Iterator[tuple[int, int, str]]:
    """Phone numbers in a text, spoken ones first.

    Within a run of digit groups, the first stretch of consecutive groups that makes a
    number is taken, then the search goes on after it: two numbers side by side, or a
    landline followed by its extension, are each found."""
    for run in _SPOKEN.finditer(text):
        digits = phone_digits(run.group())
        if digits is not None:
            yield run.start(), run.end(), digits
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(run.group()))
        first = 0
        while first < len(groups):
            for last in range(first, len(groups)):
                # The first stretch starts with the run, so a +86 is part of it.
                start = run.start() + (0 if first == 0 else groups[first].start())
                end = run.start() + groups[last].end()
                digits = phone_digits(text[start:end])
                if digits is not None:
                    yield start, end, digits
                    first = last + 1
                    break
            else:
                first += 1


def first_phone(text: str) -> str | None:
    """The first phone number in a text, as plain digits."""
    return next((digits for _start, _end, digits in find_phones(text)), None)


def without_phones(text: str) -> str:
    """The text with every phone number taken out."""
    pieces, at = [], 0
    for start, end, _digits in find_phones(text):
        pieces.append(text[at:start])
        at = end
    return "".join(pieces) + text[at:]


def mask_phone(phone: str | None) -> str:
    """138****0001: enough to recognise a number, not to call it."""
    if not phone:
        return ""
    digits = phone_digits(phone) or "".join(_DIGIT_VALUES.get(c, "") for c in phone)
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def mask_phones(text: str) -> str:
    """Mask every phone number written in a text, however it is written."""
    if not text:
        return text
    pieces, at = [], 0
    for start, end, digits in find_phones(text):
        pieces += [text[at:start], digits[:3] + "****" + digits[-4:]]
        at = end
    return "".join(pieces) + text[at:] if pieces else text
