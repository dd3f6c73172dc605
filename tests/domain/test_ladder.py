"""Escalation and delegation targets (closedloop.domain.ladder), table by table."""

from __future__ import annotations

import datetime as dt

import pytest

from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import HandlingLevel
from closedloop.domain.ladder import (
    EscalationTarget,
    check_delegation_deadline,
    escalation_target,
    is_delegation_target,
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
