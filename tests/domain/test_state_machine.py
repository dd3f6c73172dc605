"""The issue state machine, every (command, state) pair against a table written out by hand
from the design: where each command may start and where it leads."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.domain.issues import (
    TRANSITIONS,
    Command,
    IllegalTransition,
    IssueState,
    RatingGrade,
    after_rating,
    rating_window_closes,
    transition,
)

S = IssueState
C = Command
# Column order of the table below.
STATES = (
    S.SUBMITTED,
    S.ACCEPTED,
    S.ASSIGNED,
    S.IN_PROGRESS,
    S.RESOLVED,
    S.CLOSED,
    S.REJECTED,
    S.MERGED,
    S.ROUTED_OUT,
    S.REOPENED,
)
SHORT = {
    "SU": S.SUBMITTED,
    "AC": S.ACCEPTED,
    "AS": S.ASSIGNED,
    "IP": S.IN_PROGRESS,
    "RS": S.RESOLVED,
    "CL": S.CLOSED,
    "RJ": S.REJECTED,
    "MG": S.MERGED,
    "RO": S.ROUTED_OUT,
    "RE": S.REOPENED,
}
# "--": not allowed; "==": allowed, the state stays; otherwise the state reached.
#                            SU  AC  AS  IP  RS  CL  RJ  MG  RO  RE
TABLE = {
    C.ACCEPT: "              AC  --  --  --  --  --  --  --  --  --",
    C.REJECT: "              RJ  RJ  --  --  --  --  --  --  --  --",
    C.TRIAGE: "              ==  ==  --  --  --  --  --  --  --  ==",
    C.ROUTE_OUT: "           RO  RO  --  --  --  --  --  --  --  RO",
    C.ASSIGN: "              --  AS  --  --  --  --  --  --  --  AS",
    C.START: "               --  --  IP  --  --  --  --  --  --  --",
    C.NOTE: "                ==  ==  ==  ==  ==  --  --  --  --  ==",
    C.HAND_BACK: "           --  --  AC  AC  --  --  --  --  --  --",
    C.RESOLVE: "             --  RS  RS  RS  --  --  --  --  --  RS",
    C.RATE: "                --  --  --  --  ==  --  --  --  --  --",
    C.URGE: "                ==  ==  ==  ==  --  --  --  --  --  ==",
    C.REOPEN: "              --  --  --  --  RE  RE  --  --  --  --",
    C.CLOSE: "               --  --  --  --  CL  --  --  --  --  --",
    C.MERGE: "               MG  MG  MG  MG  --  --  --  --  --  MG",
    C.VERIFY: "              --  --  --  --  ==  ==  --  --  --  --",
    C.SHARE: "               --  --  --  --  ==  ==  --  --  --  --",
    C.LINK_RECURRENCE: "     ==  ==  ==  ==  ==  ==  ==  --  ==  ==",
    C.ESCALATE: "            --  AC  AC  AC  --  --  --  --  --  AC",
    C.DELEGATE: "            --  AC  AC  AC  --  --  --  --  --  AC",
    C.RETURN: "              --  AC  AC  AC  --  --  --  --  --  AC",
    C.COORDINATE: "          --  ==  ==  ==  --  --  --  --  --  ==",
    C.MEETING_DECISION: "    --  ==  ==  ==  --  --  --  --  --  ==",
    C.PUSH_PROBLEM_LIST: "   --  ==  ==  ==  --  --  --  --  --  ==",
}

CASES = [
    (command, state, cell)
    for command, row in TABLE.items()
    for state, cell in zip(STATES, row.split(), strict=True)
]


def test_the_table_covers_every_command_with_a_transition() -> None:
    assert set(TABLE) == set(TRANSITIONS)
    assert set(STATES) == set(IssueState)


@pytest.mark.parametrize(("command", "state", "cell"), CASES)
def test_transition(command: Command, state: IssueState, cell: str) -> None:
    if cell == "--":
        with pytest.raises(IllegalTransition) as raised:
            transition(command, state)
        assert (raised.value.command, raised.value.state) == (command, state)
    else:
        assert transition(command, state) is (state if cell == "==" else SHORT[cell])


@pytest.mark.parametrize(
    ("grade", "after"),
    [
        (RatingGrade.SATISFIED, S.CLOSED),
        (RatingGrade.FAIRLY_SATISFIED, S.CLOSED),
        (RatingGrade.BASICALLY_SATISFIED, S.CLOSED),
        (RatingGrade.UNSATISFIED, S.REOPENED),
    ],
)
def test_a_rating_closes_or_reopens(grade: RatingGrade, after: IssueState) -> None:
    assert after_rating(grade) is after


@pytest.mark.parametrize(
    ("resolved_at", "days", "closes"),
    [
        # Calendar days, not working days: a Friday resolution closes on the Friday after.
        (dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC), 7, dt.datetime(2026, 3, 13, 9, tzinfo=dt.UTC)),
        (
            dt.datetime(2026, 12, 30, 23, tzinfo=dt.UTC),
            3,
            dt.datetime(2027, 1, 2, 23, tzinfo=dt.UTC),
        ),
        (dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC), 0, dt.datetime(2026, 3, 6, 9, tzinfo=dt.UTC)),
    ],
)
def test_the_rating_window_closes_days_after_the_resolution(
    resolved_at: dt.datetime, days: int, closes: dt.datetime
) -> None:
    assert rating_window_closes(resolved_at, days) == closes
