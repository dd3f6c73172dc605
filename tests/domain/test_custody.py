"""The custody rule (closedloop/domain/custody.py, C1–C5) on hand-built timelines.

Each case is a timeline of steps at hours after the start: a holder takes the issue, the
running limit ends, or a new limit starts. The expected ledger lists, per span, its holder,
the late hours booked to it and the lapses charged to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise

import pytest

from closedloop.domain.custody import (
    Holder,
    Ledger,
    holder_after,
    holder_of,
    running_late,
    span_at,
)

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
CENTER = Holder("330521", "CENTER")
A = Holder("330521", "BOARD", department_id=1)
B = Holder("330521", "BOARD", department_id=2)
BOARD = Holder("330521", "BOARD", board_id=7)
CITY = Holder("3305", "PARENT_TIER")
TOWN = Holder("330521102", "CENTER")


def h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@dataclass(frozen=True)
class Move:
    """At ``at`` hours: the holder becomes ``to`` (None: stays); ``ends``: the running limit
    ends (stopped or replaced); ``due``: the deadline (hours) of the limit running from then
    on (None: no limit runs; ``keep``: unchanged)."""

    at: float
    to: Holder | None = None
    ends: bool = False
    due: float | str | None = "keep"


Case = tuple[str, list[Move], list[tuple[Holder, int, int]]]

# (name, steps, expected spans: holder, late hours, lapses)
CASES: list[Case] = [
    (
        "in time: nobody charged",
        [Move(0, due=48), Move(24, A, ends=True, due=24 + 360), Move(100, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 0, 0)],
    ),
    (
        "resolved late by its holder",
        [Move(0, A, due=10), Move(15, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 5, 1)],
    ),
    (
        # The issue's worked example: A lets the reply limit pass, hands back; the center
        # reassigns to B (the reply limit keeps running), B resolves the same minute.
        "hand-back after the deadline: A is charged, not B",
        [Move(0, A, due=10), Move(16, CENTER), Move(16, B), Move(16, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 6, 1), (CENTER, 0, 0), (B, 0, 0)],
    ),
    (
        "hand-back before the deadline: the next unit is charged",
        [Move(0, A, due=10), Move(4, CENTER), Move(5, B), Move(12, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 0, 0), (CENTER, 0, 0), (B, 2, 1)],
    ),
    (
        "handed on exactly at the deadline: in time (spans are half-open)",
        [Move(0, A, due=10), Move(10, CENTER), Move(10, B), Move(11, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 0, 0), (CENTER, 0, 0), (B, 1, 1)],
    ),
    (
        "late time while others held it is still the deadline holder's",
        [Move(0, A, due=10), Move(14, CENTER), Move(20, B), Move(30, ends=True, due=None)],
        [(CENTER, 0, 0), (A, 20, 1), (CENTER, 0, 0), (B, 0, 0)],
    ),
    (
        # The county lets the assignment limit pass, escalates (the city starts its own
        # limit), the city assigns in time.
        "escalation after the deadline: the lower tier is charged",
        [Move(0, due=48), Move(60, CITY, ends=True, due=60 + 48), Move(70, ends=True, due=None)],
        [(CENTER, 12, 1), (CITY, 0, 0)],
    ),
    (
        # Delegated down with a deadline; the town returns it after the deadline, the
        # county resolves it: the town let the limit pass.
        "delegation returned after the deadline: the town is charged",
        [
            Move(0, due=100),
            Move(5, TOWN, ends=True, due=50),
            Move(60, CENTER),
            Move(65, ends=True, due=None),
        ],
        [(CENTER, 0, 0), (TOWN, 15, 1), (CENTER, 0, 0)],
    ),
    (
        "two limits lapse under two holders: both charged",
        [
            Move(0, due=2),
            Move(5, BOARD, ends=True, due=15),
            Move(20, ends=True, due=None),
        ],
        [(CENTER, 3, 1), (BOARD, 5, 1)],
    ),
    (
        "a limit still running late is not a lapse yet",
        [Move(0, A, due=10), Move(12, CENTER)],
        [(CENTER, 0, 0), (A, 2, 0), (CENTER, 0, 0)],
    ),
]


def run(steps: list[Move]) -> Ledger:
    ledger = Ledger()
    ledger.open(CENTER, h(0))
    due: float | None = None
    for step in steps:
        ledger.change(
            h(step.at),
            due_at=None if due is None else h(due),
            holder=step.to,
            limit_ends=step.ends and due is not None,
        )
        if step.due != "keep":
            due = step.due if step.due is None else float(step.due)
    return ledger


@pytest.mark.parametrize(("name", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_timeline(name: str, steps: list[Move], expected: list[tuple[Holder, int, int]]) -> None:
    ledger = run(steps)
    got = [(s.holder, s.overdue_seconds // 3600, s.lapsed_limits) for s in ledger.spans]
    assert got == expected, name
    assert all(a.ended_at == b.started_at for a, b in pairwise(ledger.spans))


def test_charged_holders_once_each_in_order() -> None:
    ledger = run(CASES[8][1])
    assert ledger.charged() == [CENTER, BOARD]


def test_running_late_goes_to_the_deadline_holder() -> None:
    ledger = run([Move(0, A, due=10), Move(12, CENTER)])
    late = running_late(ledger.spans, h(10), h(15))
    # Booked so far: 2 h (10→12) at the hand-back; running: 3 h more, still A's (index 1).
    assert late is not None and (late.index, late.seconds, late.lapses) == (1, 3 * 3600, 0)
    assert running_late(ledger.spans, h(20), h(15)) is None
    assert running_late(ledger.spans, None, h(15)) is None


def test_span_at_is_half_open() -> None:
    ledger = run([Move(0, A, due=10), Move(4, CENTER)])
    assert span_at(ledger.spans, h(4)) == 2
    assert span_at(ledger.spans, h(3.99)) == 1
    assert span_at(ledger.spans, h(-1)) is None


@pytest.mark.parametrize(
    ("state", "level", "expected"),
    [
        ("ASSIGNED", "BOARD", A),
        ("IN_PROGRESS", "BOARD", A),
        ("RESOLVED", "BOARD", A),
        # Reopened by an unsatisfied rating: the center has the move, not the unit.
        ("REOPENED", "BOARD", CENTER),
        ("ACCEPTED", "CENTER", CENTER),
    ],
)
def test_holder_of(state: str, level: str, expected: Holder) -> None:
    assert holder_of("330521", level, None, 1, state) == expected


def test_an_issue_ends_with_its_holder() -> None:
    for state in ("MERGED", "REJECTED", "ROUTED_OUT", "CLOSED"):
        assert holder_after(A, "330521", "BOARD", None, 2, state) == A
    assert holder_after(A, "330521", "BOARD", None, 1, "REOPENED") == CENTER
