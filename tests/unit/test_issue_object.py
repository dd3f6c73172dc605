"""``Issue.from_record`` computes each field from the record when first read: every field
of the GraphQL type is covered, each equals what the record says, and is kept once read."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest
import strawberry

from closedloop.domain.issues import (
    Category,
    Channel,
    ClockKind,
    HandlingLevel,
    IssueState,
    RatingGrade,
)
from closedloop.schema.issue_entries import CustodyEntry, IssueEvent
from closedloop.schema.issues import _ISSUE_FIELDS, Issue
from closedloop.schema.relay import to_global_id
from closedloop.services.issues.records import CustodyRecord, EventRecord, IssueRecord

T = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def record(**changes: object) -> IssueRecord:
    values: dict[str, object] = {
        "id": 42,
        "number": "330521102-2026-000042",
        "title": "用电报装",
        "content": "三相电何时接入",
        "enterprise_id": 7,
        "origin_region_code": "330521102",
        "holding_region_code": "330521",
        "channel": Channel.HOTLINE_12345.value,
        "proactive": True,
        "external_id": None,
        "category": Category.COMPLAINT.value,
        "tags": ("要素保障/用电",),
        "board_id": 3,
        "department_id": None,
        "handling_level": HandlingLevel.BOARD,
        "state": IssueState.IN_PROGRESS,
        "route": None,
        "version": 5,
        "created_at": T,
        "updated_at": T + dt.timedelta(hours=1),
        "accepted_at": T + dt.timedelta(hours=2),
        "assigned_at": T + dt.timedelta(hours=3),
        "started_at": T + dt.timedelta(hours=4),
        "clock_kind": ClockKind.REPLY,
        "clock_started_at": T,
        "warn_at": T + dt.timedelta(days=3),
        "due_at": T + dt.timedelta(days=5),
        "light_notified": None,
        "assign_overdue": False,
        "resolved_at": None,
        "reply": "已安排",
        "overdue": False,
        "closed_at": None,
        "rating": RatingGrade.SATISFIED,
        "rating_comment": None,
        "rated_at": T + dt.timedelta(days=6),
        "last_urged_at": T + dt.timedelta(days=1),
        "urge_count": 2,
        "reopen_count": 1,
        "merged_into_id": None,
        "reason": None,
        "delegated_from_region_code": None,
        "escalation_count": 3,
        "delegation_return_count": 4,
        "recurrence_of_id": None,
        "recurred": True,
    }
    values.update(changes)
    return IssueRecord(**values)  # type: ignore[arg-type]


def test_every_field_of_the_type_is_computed_from_the_record() -> None:
    # The dataclass's own fields (its __init__ parameters); resolvers are not among them.
    names = {f.name for f in dataclasses.fields(Issue) if f.init} - {"rec"}
    assert names == set(_ISSUE_FIELDS)


def test_fields_follow_the_record() -> None:
    r = record()
    issue = Issue.from_record(r)
    assert issue.rec is r
    expected = {
        "id": to_global_id("Issue", 42),
        "channel": Channel.HOTLINE_12345,
        "category": Category.COMPLAINT,
        "tags": ["要素保障/用电"],
        "due_at": T + dt.timedelta(days=5),
    }
    for name in _ISSUE_FIELDS:
        want = expected.get(name, getattr(r, name, None))
        assert getattr(issue, name) == want, name
    assert isinstance(issue.tags, list)
    # Without a running clock there is no deadline to show; no category stays None.
    stopped = Issue.from_record(record(clock_kind=None, category=None))
    assert stopped.due_at is None
    assert stopped.category is None


def test_a_field_is_computed_once_and_unknown_names_fail() -> None:
    issue = Issue.from_record(record())
    assert "title" not in vars(issue)
    tags = issue.tags
    assert issue.tags is tags  # kept
    assert "tags" in vars(issue)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        issue.nope  # noqa: B018
    assert Issue.from_record(record()) == Issue.from_record(record())
    assert Issue.from_record(record()) != Issue.from_record(record(title="别的"))


def _init_fields(cls: type) -> set[str]:
    """What the class's own ``__init__`` sets: its fields without a resolver."""
    return {f.name for f in dataclasses.fields(cls) if f.init}


def test_an_event_is_made_as_its_class_would_make_it() -> None:
    rec = EventRecord(
        id=9,
        issue_id=42,
        occurred_at=T,
        actor_id=3,
        actor_name="德清县中心",
        type="ASSIGNED",
        from_state="ACCEPTED",
        to_state="ASSIGNED",
        public=True,
        message="交办",
        payload={"board": 3},
    )
    event = IssueEvent.from_record(rec)
    assert set(vars(event)) == _init_fields(IssueEvent)
    assert vars(event) == vars(
        IssueEvent(
            id=strawberry.ID("9"),
            type="ASSIGNED",
            occurred_at=T,
            actor_name="德清县中心",
            from_state=IssueState.ACCEPTED,
            to_state=IssueState.ASSIGNED,
            public=True,
            message="交办",
            payload={"board": 3},
        )
    )


def test_a_custody_entry_is_made_with_every_field_of_its_class() -> None:
    issue = Issue.from_record(record())
    info = SimpleNamespace(context=SimpleNamespace(now=T, locale="zh-CN"))
    held = CustodyRecord(
        id=1,
        issue_id=42,
        region_code="330521",
        handling_level=HandlingLevel.CENTER.value,
        board_id=None,
        department_id=None,
        started_at=T,
        ended_at=None,
        overdue_seconds=0,
        lapsed_limits=0,
    )
    [entry] = issue._custody(info, None, None, [held])
    assert set(vars(entry)) == _init_fields(CustodyEntry)
    assert entry.handling_level is HandlingLevel.CENTER
    assert entry.position == 1
