"""Scores of a peer group for a period, and a target's history across periods.

A scoreboard costs a fixed number of statements whatever the group's size or the number of
periods: the peer group (reference data), the platform counters of every target and period
(``attribution.group_counters``), the current external inputs, and the red/black list
counts. The arithmetic is ``closedloop.domain.scoring.score_peers``, once per period.

Scope: the caller needs ``score.read`` on the group's region (SELF or DESCENDANT); a region
outside it answers exactly like an unknown one (``None``). Counting runs in the caller's
transaction (row-level security) with the application's scope predicate as well.

Concurrent callers asking for the same scoreboards in the same issue scope share one
computation (``services.single_flight``), one that began to read after each of them began:
nothing is kept once it ends.

External inputs are matched to the period scored by its first and last day: an input
recorded for ``2026-Q1`` scores ``2026-Q1`` (or ``2026-01-01..2026-03-31``), not the months
inside it nor the year around it; without one the indicator scores the scheme's
``when_missing`` (Huzhou: 0, status MISSING).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db import driver
from closedloop.db.database import Database
from closedloop.db.replicas import PRIMARY, Freshness
from closedloop.domain.periods import Period
from closedloop.domain.schemes import Scheme, ScoringError
from closedloop.domain.scoring import (
    Counters,
    ExternalInput,
    TargetInputs,
    TargetScore,
    score_peers,
    validate_external_input,
)
from closedloop.services.evaluation.attribution import group_counters
from closedloop.services.evaluation.record_queries import adjustment_counts, current_inputs
from closedloop.services.evaluation.targets import (
    ADJUSTMENT_OF,
    ListKind,
    PeerGroup,
    Target,
    TargetKind,
    peer_group,
    region_record,
)
from closedloop.services.issues.queries import scope_key
from closedloop.services.single_flight import SingleFlight
from closedloop.services.tenancy import RegionRecord


@dataclass(frozen=True, slots=True)
class ScoredTarget:
    target: Target
    score: TargetScore
    counters: Counters
    external: Mapping[str, ExternalInput] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupScores:
    scheme: Scheme
    group: PeerGroup
    period: Period
    entries: tuple[ScoredTarget, ...]  # ranked: by rank, then target key
    # Where the figures were read: the primary, or a replica and how old its data is.
    freshness: Freshness = PRIMARY

    def entry(self, key: str) -> ScoredTarget | None:
        return next((e for e in self.entries if e.target.key == key), None)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    period: Period
    entry: ScoredTarget
    peers: int
    freshness: Freshness = PRIMARY
    scheme: Scheme | None = None  # the version in force for the period


async def readable_region(
    db: Database, principal: Principal, code: str, action: Action
) -> RegionRecord | None:
    """The region if it exists and the caller may ``action`` on it; ``None`` either way."""
    if not can_on_region(principal, action, code):
        return None
    async with db.read_reference() as conn:
        return await readable_region_on(conn, principal, code, action)


async def readable_region_on(
    conn: AsyncConnection | driver.Reader, principal: Principal, code: str, action: Action
) -> RegionRecord | None:
    """``readable_region`` in a transaction the caller holds."""
    if not can_on_region(principal, action, code):
        return None
    return await region_record(conn, code)


def _usable(scheme: Scheme, inputs: Mapping[str, ExternalInput]) -> dict[str, ExternalInput]:
    """Inputs still valid under the scheme as shipped now (a scheme file may have changed
    since they were recorded): the others are left out and score as missing."""
    keys = set(scheme.indicator_keys())
    usable: dict[str, ExternalInput] = {}
    for key, value in inputs.items():
        if key not in keys:
            continue
        try:
            validate_external_input(scheme.indicator(key), value)
        except ScoringError:
            continue
        usable[key] = value
    return usable


async def _score(
    conn: AsyncConnection,
    principal: Principal,
    scheme: Scheme,
    group: PeerGroup,
    periods: Sequence[Period],
) -> list[GroupScores]:
    counters = await group_counters(conn, principal, group, periods, scheme.rating_count)
    inputs = await current_inputs(
        conn, scheme.key, group.kind, group.region.code, group.targets, periods
    )
    adjustment_of = {
        kind: key for kind, key in ADJUSTMENT_OF.items() if scheme.adjustment(key) is not None
    }
    lists = await adjustment_counts(
        conn, group.kind, group.region.code, group.targets, periods, adjustment_of
    )
    boards: list[GroupScores] = []
    for n, period in enumerate(periods):
        peers = {
            x.key: TargetInputs(
                counters=counters[n].get(x.key, Counters()),
                external=_usable(scheme, inputs[n].get(x.key, {})),
                adjustments=lists[n].get(x.key, {}),
            )
            for x in group.targets
        }
        board = score_peers(scheme, peers)
        entries = tuple(
            ScoredTarget(
                target=_target(group, s.target),
                score=s,
                counters=peers[s.target].counters,
                external=peers[s.target].external,
            )
            for s in board.scores
        )
        boards.append(GroupScores(scheme, group, period, entries))
    return boards


async def _score_each(
    conn: AsyncConnection,
    principal: Principal,
    schemes: Sequence[Scheme],
    group: PeerGroup,
    periods: Sequence[Period],
) -> list[GroupScores]:
    """Each period under its own scheme (the version in force for it, aligned with
    ``periods``): the periods of one scheme are scored together, as one run."""
    assert len(schemes) == len(periods)
    boards: list[GroupScores] = []
    start = 0
    for end in range(1, len(periods) + 1):
        if end == len(periods) or schemes[end] is not schemes[start]:
            boards += await _score(conn, principal, schemes[start], group, periods[start:end])
            start = end
    return boards


def _target(group: PeerGroup, key: str) -> Target:
    found = group.by_key(key)
    assert found is not None  # score_peers returns exactly the group's keys
    return found


async def group_scores(
    db: Database,
    principal: Principal,
    schemes: Sequence[Scheme],
    kind: TargetKind,
    region_code: str,
    periods: Sequence[Period],
) -> list[GroupScores] | None:
    """The scoreboards of ``kind`` in ``region_code`` for each period (contiguous, oldest
    first), each under its scheme (``schemes``: the one in force for each period);
    ``None`` when the region is unknown or outside the caller's scope."""
    since = time.monotonic()
    # Scope first, at every request: a region out of scope is not there, shared or not.
    region = await readable_region(db, principal, region_code, Action.SCORE_READ)
    if region is None:
        return None

    async def compute(_reading: Callable[[], None]) -> tuple[GroupScores, ...]:
        # It reads from its start, the instant the single flight takes by default.
        async with db.read_reference() as ref:
            group = await peer_group(ref, kind, region)
        async with db.read_tolerant(principal) as (conn, freshness):
            boards = await _score_each(conn, principal, schemes, group, periods)
        return tuple(dataclasses.replace(board, freshness=freshness) for board in boards)

    # Everything the boards depend on: the database, what the caller reads (its issue
    # scope: the scope predicate and row-level security), the group, the periods and the
    # schemes in force. Not the clock (the counters read stored facts only) nor the locale
    # (labels are chosen by the schema).
    key = (db, scope_key(principal), kind, region.code, tuple(periods), tuple(schemes))
    return list(await _FLIGHTS.share(key, since, compute))


# Identical scoreboards asked at the same moment are computed once (``single_flight``): a
# city's county ranking was ~400 ms of PostgreSQL (~100 since 0030), and sixteen at once
# queued for seconds.
_FLIGHTS: SingleFlight[tuple[GroupScores, ...]] = SingleFlight("scores")


async def target_history(
    db: Database,
    principal: Principal,
    schemes: Sequence[Scheme],
    kind: TargetKind,
    region_code: str,
    target: str | int,
    period: Period,
    count: int,
) -> list[HistoryPoint] | None:
    """One target's score in each of the ``count`` periods ending with ``period``, ranked
    among its peers of each period, under the scheme in force for it (``schemes``, aligned
    with ``period.history(count)``). ``target``: a region code (REGION) or a department id.
    ``None`` when the region or the target is unknown or outside the caller's scope."""
    periods = period.history(count)
    region = await readable_region(db, principal, region_code, Action.SCORE_READ)
    if region is None:
        return None
    async with db.read_reference() as ref:
        group = await peer_group(ref, kind, region)
    found = (
        group.by_department(target)
        if isinstance(target, int)
        else group.by_key(target)
        if kind is TargetKind.REGION
        else None
    )
    if found is None:
        return None
    async with db.read_tolerant(principal) as (conn, freshness):
        boards = await _score_each(conn, principal, schemes, group, periods)
    points: list[HistoryPoint] = []
    for board in boards:
        entry = board.entry(found.key)
        assert entry is not None
        points.append(
            HistoryPoint(board.period, entry, len(board.entries), freshness, board.scheme)
        )
    return points


__all__ = [
    "GroupScores",
    "HistoryPoint",
    "ListKind",
    "ScoredTarget",
    "group_scores",
    "readable_region",
    "target_history",
]
