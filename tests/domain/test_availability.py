"""Which commands an issue's facts block (closedloop.domain.availability), table by table:
each row one issue and the commands its state allows that its facts refuse, with the code."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.domain.availability import IssueFacts, available_commands, blocked
from closedloop.domain.errors import IssueErrorCode
from closedloop.domain.issues import Command, HandlingLevel, IssueState, allowed_commands

E = IssueErrorCode
H = HandlingLevel
C = Command
S = IssueState
NOW = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
URGE_EVERY = dt.timedelta(hours=24)


def facts(
    holder: str = "330521",
    level: HandlingLevel = H.CENTER,
    delegated_from: str | None = None,
    last_urged_at: dt.datetime | None = None,
    due_at: dt.datetime | None = None,
    state: IssueState = S.ASSIGNED,
) -> IssueFacts:
    return IssueFacts(state, level, holder, delegated_from, last_urged_at, due_at)


# What a plain issue in hand refuses: returning (not delegated to it) and recording a
# meeting's decision (not at the leaders' meeting).
PLAIN = {C.RETURN: E.NOT_DELEGATED, C.MEETING_DECISION: E.LEVEL_INVALID}


@pytest.mark.parametrize(
    ("issue", "refused"),
    [
        # A county center's plain issue.
        (facts(), PLAIN),
        (facts(state=S.SUBMITTED), {C.REJECT: None}),
        # Delegated to it: returned, never rejected or escalated.
        (
            facts(delegated_from="3305", state=S.ACCEPTED),
            {
                C.REJECT: E.MUST_RETURN_DELEGATION,
                C.ESCALATE: E.MUST_RETURN_DELEGATION,
                C.MEETING_DECISION: E.LEVEL_INVALID,
            },
        ),
        # A town has no subtree to delegate to.
        (facts("330521001"), {**PLAIN, C.DELEGATE: E.DELEGATION_TARGET_INVALID}),
        # Its own limit reached: no deadline fits inside.
        (facts(due_at=NOW), {**PLAIN, C.DELEGATE: E.DEADLINE_INVALID}),
        (facts(due_at=NOW + HOUR), PLAIN),
        # The province's task force: escalated once, and at the top of the ladder.
        (
            facts("33", H.PROVINCE_TASKFORCE),
            {
                C.RETURN: E.NOT_DELEGATED,
                C.ESCALATE: E.ESCALATION_TARGET_INVALID,
                C.COORDINATE: E.LEVEL_INVALID,
                C.MEETING_DECISION: E.LEVEL_INVALID,
            },
        ),
        (facts("33", H.CENTER), PLAIN),
        # Urged an hour ago: not again within the interval; a day later, again.
        (facts(last_urged_at=NOW - HOUR), {**PLAIN, C.URGE: E.URGE_TOO_SOON}),
        (facts(last_urged_at=NOW - URGE_EVERY), PLAIN),
        # At the leaders' meeting: no higher level to coordinate to, a decision to record.
        (facts(level=H.LEADER_MEETING), {C.RETURN: E.NOT_DELEGATED, C.COORDINATE: E.LEVEL_INVALID}),
        (facts(level=H.BOARD), PLAIN),
        # A closed issue: its state allows few commands, and its facts block none of them.
        (facts(state=S.CLOSED, delegated_from="3305"), {}),
    ],
)
def test_blocked(issue: IssueFacts, refused: dict[Command, IssueErrorCode | None]) -> None:
    # ``None`` in the table: the state allows it and the facts do not block it (listed so
    # the row says it).
    refused = {c: code for c, code in refused.items() if code is not None}
    allowed = allowed_commands(issue.state)
    assert set(refused) <= set(allowed)
    got = {c: blocked(c, issue, NOW, URGE_EVERY) for c in allowed}
    assert {c: code for c, code in got.items() if code is not None} == refused
    assert available_commands(issue, NOW, URGE_EVERY) == [c for c in allowed if c not in refused]
