"""Request codes."""

from __future__ import annotations

import re

from models.requests import code_for_id


def test_codes_match_the_published_pattern() -> None:
    pattern = re.compile(r"[A-Z][0-9]{3,6}")
    for request_id in (1, 2, 999, 998_999, 999_000, 999_001, 5_000_000):
        assert pattern.fullmatch(code_for_id(request_id)), request_id
    assert code_for_id(1) == "A1000"
    assert code_for_id(999_001) == "B1000"
    assert len({code_for_id(i) for i in range(1, 3_000_000, 997)}) == len(range(1, 3_000_000, 997))
