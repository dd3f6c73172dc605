"""Near-duplicates and recurrences, found through the similarity-key index.

On intake every issue writes its MinHash band keys and its enterprise key
(``closedloop.domain.similarity``) with its county and date. Finding candidates is then
an index probe on (key, county, date) for a whole page of issues at once, followed by an
exact score on the few issues that share keys.

- duplicates: same county, created within ``DUPLICATE_WINDOW`` of each other, not merged;
- recurrences: an earlier issue of the same county, resolved within ``RECURRENCE_WINDOW``
  before this one was raised, by the same enterprise or at the same place with a shared
  tag, with a passing similarity score.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Principal
from closedloop.db import driver
from closedloop.domain import similarity as sim
from closedloop.services.issues.records import IssueRecord, issues_by_id
from closedloop.tenancy.scope import issue_visibility

DUPLICATE_WINDOW = dt.timedelta(days=30)
RECURRENCE_WINDOW = dt.timedelta(days=90)
PER_ISSUE = 30  # how many key-sharing issues get an exact score


def county_of(region: str) -> str:
    return region[:6]


def text_of(issue: IssueRecord) -> sim.IssueText:
    return sim.IssueText(
        title=issue.title,
        content=issue.content,
        enterprise=str(issue.enterprise_id),
        tags=frozenset(issue.tags),
    )


@dataclass(frozen=True, slots=True)
class IssueKeys:
    """An issue's rows of the similarity index: its keys, with its county and date."""

    issue_id: int
    county_code: str
    created_at: dt.datetime
    keys: tuple[int, ...]


# Each issue's keys travel as one text of numbers, not as a bigint[] parameter: asyncpg
# encodes an array element by element in Python (type checks each), which for a batch's
# ~66,000 keys cost more than everything PostgreSQL does with them. Written in index order.
_WRITE_KEYS = sa.text(
    "INSERT INTO issue_similarity_key (key, county_code, created_at, issue_id)"
    " SELECT k.key, i.county, i.created, i.id"
    " FROM unnest(CAST(:issue_ids AS bigint[]), CAST(:counties AS text[]),"
    " CAST(:created AS timestamptz[]), CAST(:keys AS text[])) AS i(id, county, created, keys)"
    " CROSS JOIN LATERAL unnest(CAST(string_to_array(i.keys, ',') AS bigint[])) AS k(key)"
    " ORDER BY 1, 2, 3, 4"
)


async def write_keys(conn: AsyncConnection, issues: Sequence[IssueKeys]) -> None:
    """The similarity index rows of one issue or of many (the bulk import's batch), in
    one statement."""
    if not any(i.keys for i in issues):
        return
    await conn.execute(
        _WRITE_KEYS,
        {
            "issue_ids": [i.issue_id for i in issues],
            "counties": [i.county_code for i in issues],
            "created": [i.created_at for i in issues],
            "keys": [",".join(map(str, i.keys)) for i in issues],
        },
    )


def key_rows(issue_id: int, text: sim.IssueText, origin: str, at: dt.datetime) -> IssueKeys:
    """The similarity index rows of an issue (``write_keys``)."""
    return IssueKeys(issue_id, county_of(origin), at, tuple(sorted(set(sim.candidate_keys(text)))))


@dataclass(frozen=True, slots=True)
class Candidate:
    issue: IssueRecord
    score: sim.DuplicateScore
    features: sim.DuplicateFeatures


_SHARED = sa.text(
    """
    SELECT q.src, k.issue_id, count(*) AS shared
    FROM unnest(CAST(:src AS bigint[]), CAST(:keys AS bigint[]), CAST(:county AS text[]),
                CAST(:since AS timestamptz[]), CAST(:until AS timestamptz[]))
         AS q(src, key, county, since, until)
    JOIN issue_similarity_key k
      ON k.key = q.key AND k.county_code = q.county COLLATE "C"
     AND k.created_at >= q.since AND k.created_at <= q.until AND k.issue_id <> q.src
    GROUP BY q.src, k.issue_id
    """
)


async def _sharing(
    conn: AsyncConnection | driver.Reader,
    issues: Sequence[IssueRecord],
    window: dict[int, tuple[dt.datetime, dt.datetime]],
) -> dict[int, list[int]]:
    """For each issue, the ids sharing the most keys with it (one statement for all)."""
    params: dict[str, list[object]] = {
        "src": [],
        "keys": [],
        "county": [],
        "since": [],
        "until": [],
    }
    for issue in issues:
        since, until = window[issue.id]
        for key in set(sim.candidate_keys(text_of(issue))):
            params["src"].append(issue.id)
            params["keys"].append(key)
            params["county"].append(county_of(issue.origin_region_code))
            params["since"].append(since)
            params["until"].append(until)
    if not params["src"]:
        return {}
    rows = await driver.rows(conn, _SHARED.bindparams(**params))
    shared: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        shared[r["src"]].append((r["shared"], r["issue_id"]))
    return {
        src: [i for _, i in sorted(pairs, key=lambda p: (-p[0], p[1]))[:PER_ISSUE]]
        for src, pairs in shared.items()
    }


async def _scored(
    conn: AsyncConnection | driver.Reader,
    principal: Principal,
    issues: Sequence[IssueRecord],
    window: dict[int, tuple[dt.datetime, dt.datetime]],
) -> dict[int, list[Candidate]]:
    sharing = await _sharing(conn, issues, window)
    ids = sorted({i for ids in sharing.values() for i in ids})
    found = await issues_by_id(conn, ids, issue_visibility(principal)) if ids else {}
    out: dict[int, list[Candidate]] = {}
    for issue in issues:
        mine = text_of(issue)
        scored = []
        for other_id in sharing.get(issue.id, []):
            other = found.get(other_id)
            if other is None:
                continue  # out of the caller's scope: as if it did not exist
            features = sim.compare(mine, text_of(other))
            scored.append(Candidate(other, sim.duplicate_score(features), features))
        scored.sort(key=lambda c: (-c.score.value, c.issue.id))
        out[issue.id] = scored
    return out


async def duplicate_candidates(
    conn: AsyncConnection | driver.Reader, principal: Principal, issues: Sequence[IssueRecord]
) -> dict[int, list[Candidate]]:
    window = {
        i.id: (i.created_at - DUPLICATE_WINDOW, i.created_at + DUPLICATE_WINDOW) for i in issues
    }
    scored = await _scored(conn, principal, issues, window)
    return {
        src: [c for c in cands if c.issue.state != "MERGED" and c.score.is_duplicate]
        for src, cands in scored.items()
    }


def _recurs(issue: IssueRecord, earlier: Candidate) -> bool:
    prev = earlier.issue
    if prev.state not in ("RESOLVED", "CLOSED") or prev.resolved_at is None:
        return False
    if not (issue.created_at - RECURRENCE_WINDOW <= prev.resolved_at <= issue.created_at):
        return False
    same_place = prev.origin_region_code == issue.origin_region_code and bool(
        set(prev.tags) & set(issue.tags)
    )
    return (earlier.features.same_enterprise is True or same_place) and earlier.score.is_duplicate


async def recurrence_candidates(
    conn: AsyncConnection | driver.Reader, principal: Principal, issues: Sequence[IssueRecord]
) -> dict[int, list[Candidate]]:
    # Earlier issues were created before their resolution, so look back one more window.
    window = {i.id: (i.created_at - 2 * RECURRENCE_WINDOW, i.created_at) for i in issues}
    scored = await _scored(conn, principal, issues, window)
    by_id = {i.id: i for i in issues}
    return {src: [c for c in cands if _recurs(by_id[src], c)] for src, cands in scored.items()}
