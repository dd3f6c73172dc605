"""The rules of pushes to the seven problem lists, table-driven (domain.problem_lists)."""

from __future__ import annotations

import pytest

from closedloop.domain.problem_lists import (
    InvalidReport,
    PushDecision,
    PushState,
    Report,
    ReportOutcome,
    parse_report,
    push_decision,
    report_outcome,
    valid_reference,
)

P = PushState
A, U, X = ReportOutcome.APPLY, ReportOutcome.UNCHANGED, ReportOutcome.STALE

# Rows: the recorded state; columns: the reported one (ACCEPTED, IN_PROGRESS, RESOLVED,
# REJECTED), with the same message as recorded. Reports apply only once the application
# gave its receipt, move forward only, and a final state stays final.
REPORTED = (P.ACCEPTED, P.IN_PROGRESS, P.RESOLVED, P.REJECTED)
TABLE = {
    P.PENDING: (X, X, X, X),
    P.FAILED: (X, X, X, X),
    P.DELIVERED: (A, A, A, A),
    P.ACCEPTED: (U, A, A, A),
    P.IN_PROGRESS: (X, U, A, A),
    P.RESOLVED: (X, X, U, X),
    P.REJECTED: (X, X, X, U),
}


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (current, reported, cell)
        for current, row in TABLE.items()
        for reported, cell in zip(REPORTED, row, strict=True)
    ],
)
def test_report_outcome(current: PushState, reported: PushState, expected: ReportOutcome) -> None:
    assert report_outcome(current, reported, same_message=True) is expected


def test_the_table_covers_every_state() -> None:
    assert set(TABLE) == set(PushState)


@pytest.mark.parametrize(
    ("current", "expected"),
    [(P.IN_PROGRESS, A), (P.ACCEPTED, U), (P.RESOLVED, U), (P.REJECTED, U)],
)
def test_a_new_message_in_the_same_state_is_a_progress_note_only_in_progress(
    current: PushState, expected: ReportOutcome
) -> None:
    assert report_outcome(current, current, same_message=False) is expected


def test_the_application_cannot_report_our_own_states() -> None:
    for ours in (P.PENDING, P.FAILED, P.DELIVERED):
        assert report_outcome(P.DELIVERED, ours, same_message=True) is X


@pytest.mark.parametrize(
    ("existing", "decision"),
    [
        (None, PushDecision.NEW),
        (P.FAILED, PushDecision.AGAIN),
        (P.PENDING, PushDecision.REFUSED),
        (P.DELIVERED, PushDecision.REFUSED),
        (P.ACCEPTED, PushDecision.REFUSED),
        (P.IN_PROGRESS, PushDecision.REFUSED),
        (P.RESOLVED, PushDecision.REFUSED),
        (P.REJECTED, PushDecision.REFUSED),
    ],
)
def test_push_decision(existing: PushState | None, decision: PushDecision) -> None:
    assert push_decision(existing) is decision


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("QZQD-2026-0001", True),
        ("七张问题清单-330521-1", True),
        ("x" * 100, True),
        ("x" * 101, False),
        ("", False),
        (" QZQD", False),
        ("QZ\nQD", False),
        (17, False),
        (None, False),
    ],
)
def test_valid_reference(value: object, valid: bool) -> None:
    assert valid_reference(value) is valid


BASE = {"region": "330521", "reference": "QZQD-1", "state": "RESOLVED", "message": " 已办结 "}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"region": "33a"}, "region"),
        ({"region": "3"}, "region"),
        ({"region": 330521}, "region"),
        ({"reference": ""}, "reference"),
        ({"state": "DELIVERED"}, "state"),
        ({"state": "resolved"}, "state"),
        ({"state": None}, "state"),
        ({"message": ["x"]}, "message"),
        ({"message": "长" * 2001}, "message"),
    ],
)
def test_parse_report_names_the_field_at_fault(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_report({**BASE, **change})
    assert caught.value.field == field


def test_parse_report() -> None:
    assert parse_report(BASE) == Report("330521", "QZQD-1", P.RESOLVED, "已办结")
    assert parse_report({**BASE, "message": "  "}).message is None
    with pytest.raises(InvalidReport):
        parse_report([BASE])
