"""The console's request list: a search's ways read one by one give the page and the count
that one condition over all of them gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

import models.request_list as request_list
from models.request_list import RequestFilter, iter_matching, list_requests
from models.search import index_pending
from models.tables import Farmer, HelpRequest, utcnow

PLACES = (("东河镇", "东河村"), ("东河镇", "石坝村"), ("木鱼镇", "马园村"))


@pytest.fixture
def requests(session: Session) -> list[int]:
    """Sixteen requests: some hold 叶子发黄, some are 张三's, some are in 东河村, some are
    several of these at once, some none; crops, urgency and times vary (updated_at and
    urgency with ties, ordered by id among them)."""
    farmers = [
        Farmer(openid="farmer-zhang", name="张三"),
        Farmer(openid="farmer-li", name="李四"),
        Farmer(openid="farmer-wang"),
    ]
    session.add_all(farmers)
    session.flush()
    start = utcnow() - timedelta(days=10)
    texts = ["辣椒叶子发黄", "玉米叶子卷了", "叶子发黄打蔫", "猪不吃食", "麦苗叶子发黄了"]
    villages = [("东河镇", "东河村"), ("木鱼镇", "马园村"), (None, None), ("东河镇", "石坝村")]
    ids = []
    for n in range(16):
        township, village = villages[n % 4]
        request = HelpRequest(
            farmer_id=farmers[n % 3].id,
            text=texts[n % 5],
            crop=("辣椒", "小麦")[n % 2],
            urgency=("normal", "urgent", "low")[n % 3],
            township=township,
            village=village,
            created_at=start + timedelta(hours=n),
            updated_at=start + timedelta(hours=(n * 7) % 16 // 3),  # ties
        )
        session.add(request)
        session.flush()
        assert request.id is not None
        request.code = f"A{1000 + request.id}"
        ids.append(request.id)
    session.commit()
    index_pending(session, now=utcnow())
    session.commit()
    # One changed since it was indexed: found by its words through the LIKE.
    changed = session.get(HelpRequest, ids[3])
    assert changed is not None
    changed.text = "猪叶子发黄"
    changed.updated_at = utcnow()
    session.commit()
    return ids


WORDS = ["叶子发黄", "东河", "张三", "东河村", "马园", "叶子", "没有的词"]


@pytest.mark.parametrize("words", WORDS)
@pytest.mark.parametrize("sort", ["newest", "oldest", "urgency", "updated"])
def test_each_page_and_the_count_are_those_of_every_match_in_order(
    session: Session, requests: list[int], words: str, sort: str
) -> None:
    for crop in ("", "小麦"):
        filters = RequestFilter(q=words, crop=crop, sort=sort, places=PLACES)
        every = [row.request.id for row in iter_matching(session, filters)]
        assert len(every) == len(set(every))
        total = None
        for page in (1, 2, 3, 4):
            rows, total = list_requests(session, filters, page=page, per_page=3)
            listed = [row.request.id for row in rows]
            assert listed == every[(page - 1) * 3 : page * 3], (words, crop, sort, page)
            assert all(row.farmer.id == row.request.farmer_id for row in rows)
        assert total == len(every), (words, crop, sort)
    # The search found what each of its ways finds, not only by one of them.
    if words == "叶子发黄":
        everything = RequestFilter(q=words, places=PLACES)
        found = {row.request.id for row in iter_matching(session, everything)}
        assert requests[3] in found  # changed after indexing: its new words are read
        assert {requests[0], requests[2], requests[4]} <= found


def test_a_search_counts_up_to_its_own_cap_and_still_shows_the_newest_page(
    session: Session, requests: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_list, "SEARCH_COUNT_CAP", 2)
    filters = RequestFilter(q="叶子发黄", places=PLACES)
    every = [row.request.id for row in iter_matching(session, filters)]
    assert len(every) > 3
    rows, total = list_requests(session, filters, page=1, per_page=3)
    assert total == 3 and filters.count_cap == 2  # more than 2
    assert [row.request.id for row in rows] == every[:3]
    # A list without a search keeps the larger cap.
    assert RequestFilter(crop="小麦").count_cap == request_list.COUNT_CAP
    unfiltered, all_of_them = list_requests(session, RequestFilter(), page=1, per_page=3)
    assert all_of_them == len(requests) and len(unfiltered) == 3
