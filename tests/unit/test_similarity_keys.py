"""The similarity-key backfill writes exactly the rows intake would have written."""

from __future__ import annotations

import datetime as dt

from bench.generator import similarity_keys as sk
from closedloop.domain.similarity import IssueText, candidate_keys

AT = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)
ROWS: list[sk.IssueRow] = [
    (
        1,
        "应收账款质押融资办理咨询",
        "希望了解政府性融资担保的申请条件和费率。",
        64628,
        ["融资"],
        "330521102",
        AT,
    ),
    (2, "厂房用电增容", "新上产线需要增容到 2000 千伏安，供电所答复要排队。", 7, [], "330522", AT),
    (3, "", "", 9, None, "330602012", AT),  # type: ignore[list-item]
]


def test_rows_match_what_intake_writes() -> None:
    rows = sk.key_rows(ROWS)
    for issue_id, title, content, enterprise, tags, origin, at in ROWS:
        expected = sorted(
            set(candidate_keys(IssueText(title, content, str(enterprise), frozenset(tags or ()))))
        )
        mine = [r for r in rows if r[3] == issue_id]
        assert [r[0] for r in mine] == expected
        assert {(r[1], r[2]) for r in mine} == {(origin[:6], at)}


def test_band_and_enterprise_keys_per_issue() -> None:
    by_issue = {i: keys for i, _, _, keys in sk.batch_keys(ROWS)}
    assert len(by_issue[1]) == 33  # 32 LSH bands + the enterprise key
    assert len(by_issue[3]) == 1  # an empty text has no band keys, only its enterprise
    assert sk.expand(sk.batch_keys(ROWS)) == sk.key_rows(ROWS)


def test_plain_url() -> None:
    assert sk.plain_url("postgresql+asyncpg://u@h/d") == "postgresql://u@h/d"
    assert sk.plain_url("postgresql://u@h/d") == "postgresql://u@h/d"
