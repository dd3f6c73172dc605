"""Escalation and delegation targets (closedloop.domain.ladder), table by table."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import HandlingLevel
from closedloop.domain.ladder import (
    EscalationTarget,
    check_delegation_deadline,
    delegation_blocked,
    escalation_blocked,
    escalation_target,
    is_delegation_target,
    rejection_blocked,
    return_blocked,
)

E = IssueErrorCode
H = HandlingLevel


@pytest.mark.parametrize(
    ("holder", "level", "delegated_from", "requested", "expected"),
    [
        ("330521001", H.CENTER, None, None, EscalationTarget("330521")),  # town -> county
        ("330521", H.BOARD, None, None, EscalationTarget("3305")),  # county -> city
        ("3305", H.LEADER_MEETING, None, "33", EscalationTarget("33")),  # city -> province
        ("33", H.CENTER, None, None, EscalationTarget(None)),  # province -> task force
        ("330521", H.CENTER, None, "33", E.ESCALATION_TARGET_INVALID),  # skips a tier
        ("330521", H.CENTER, None, "330522", E.ESCALATION_TARGET_INVALID),  # sideways
        ("33", H.CENTER, None, "33", E.ESCALATION_TARGET_INVALID),  # no region above
        ("33", H.PROVINCE_TASKFORCE, None, None, E.ESCALATION_TARGET_INVALID),  # once only
        ("330521", H.CENTER, "3305", None, E.MUST_RETURN_DELEGATION),  # return it first
    ],
)
def test_escalation_target(
    holder: str,
    level: HandlingLevel,
    delegated_from: str | None,
    requested: str | None,
    expected: EscalationTarget | IssueErrorCode,
) -> None:
    if isinstance(expected, EscalationTarget):
        target = escalation_target(holder, level, delegated_from, requested)
        assert target == expected
        assert target.is_taskforce is (expected.region is None)
    else:
        with pytest.raises(IssueCommandError) as raised:
            escalation_target(holder, level, delegated_from, requested)
        assert raised.value.code is expected


@pytest.mark.parametrize(
    ("holder", "level", "delegated_from", "expected"),
    [
        ("330521001", H.CENTER, None, None),
        ("3305", H.LEADER_MEETING, None, None),
        ("33", H.CENTER, None, None),  # to the task force
        ("33", H.LEADER_MEETING, None, None),
        ("33", H.PROVINCE_TASKFORCE, None, E.ESCALATION_TARGET_INVALID),  # once only
        ("3305", H.PROVINCE_TASKFORCE, None, None),  # only the province's top stops there
        ("330521", H.CENTER, "3305", E.MUST_RETURN_DELEGATION),
        ("33", H.PROVINCE_TASKFORCE, "33", E.MUST_RETURN_DELEGATION),  # returning comes first
    ],
)
def test_escalation_blocked(
    holder: str, level: HandlingLevel, delegated_from: str | None, expected: IssueErrorCode | None
) -> None:
    assert escalation_blocked(holder, level, delegated_from) is expected
    # Whatever blocks escalating at all blocks every requested target with the same code.
    if expected is not None:
        with pytest.raises(IssueCommandError) as raised:
            escalation_target(holder, level, delegated_from, None)
        assert raised.value.code is expected


@pytest.mark.parametrize(
    ("delegated_from", "reject", "return_"),
    [(None, None, E.NOT_DELEGATED), ("3305", E.MUST_RETURN_DELEGATION, None)],
)
def test_a_delegated_issue_is_returned_not_rejected(
    delegated_from: str | None, reject: IssueErrorCode | None, return_: IssueErrorCode | None
) -> None:
    assert rejection_blocked(delegated_from) is reject
    assert return_blocked(delegated_from) is return_


@pytest.mark.parametrize(
    ("holder", "to_region", "ok"),
    [
        ("3305", "330521", True),
        ("3305", "330521001", True),  # any depth below
        ("3305", "3305", False),  # not to itself
        ("3305", "3306", False),  # not sideways
        ("330521", "3305", False),  # not up
    ],
)
def test_delegation_target(holder: str, to_region: str, ok: bool) -> None:
    assert is_delegation_target(holder, to_region) is ok


NOW = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
OWN = NOW + dt.timedelta(days=5)


@pytest.mark.parametrize(
    ("holder", "own_due", "expected"),
    [
        ("33", None, None),
        ("3305", OWN, None),
        ("330521", NOW + dt.timedelta(seconds=1), None),
        ("330521001", None, E.DELEGATION_TARGET_INVALID),  # a town has no subtree
        ("330521", NOW, E.DEADLINE_INVALID),  # its own limit reached: nothing fits inside
        ("330521", NOW - dt.timedelta(days=1), E.DEADLINE_INVALID),
    ],
)
def test_delegation_blocked(
    holder: str, own_due: dt.datetime | None, expected: IssueErrorCode | None
) -> None:
    assert delegation_blocked(holder, own_due, NOW) is expected


@pytest.mark.parametrize(
    ("due", "own_due", "detail"),
    [
        (NOW + dt.timedelta(days=1), OWN, None),
        (OWN, OWN, None),  # up to the holder's own limit
        (NOW + dt.timedelta(days=30), None, None),  # no clock of its own: any future time
        (OWN + dt.timedelta(seconds=1), OWN, ""),  # beyond the holder's own limit
        (NOW, OWN, ""),  # not in the future
        (NOW.replace(tzinfo=None) + dt.timedelta(days=1), OWN, "needs a time zone"),
    ],
)
def test_delegation_deadline(
    due: dt.datetime, own_due: dt.datetime | None, detail: str | None
) -> None:
    if detail is None:
        check_delegation_deadline(NOW, due, own_due)
        return
    with pytest.raises(IssueCommandError) as raised:
        check_delegation_deadline(NOW, due, own_due)
    assert (raised.value.code, raised.value.field) == (E.DEADLINE_INVALID, "dueAt")
    if detail:
        assert detail in str(raised.value)
