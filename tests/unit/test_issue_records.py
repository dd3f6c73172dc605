"""Issue records built from driver rows: whole rows and partial ones (a page's columns
only), converted alike; a partial record refuses the columns it does not hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from closedloop.domain.issues import ClockKind, HandlingLevel, IssueState, RatingGrade
from closedloop.services.issues.records import (
    CustodyRecord,
    EventRecord,
    IssueRecord,
    custody_from_composites,
    events_from_composites,
    issue_columns,
)
from tests.unit.test_issue_object import record


class FakeRow:
    """What ``_build`` reads of an asyncpg record: names and values in column order."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def keys(self) -> list[str]:
        return list(self.values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values.values())

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):  # by position, as an asyncpg record also reads
            return list(self.values.values())[key]
        return self.values[key]


def database_row(rec: IssueRecord, extra: dict[str, Any] | None = None) -> FakeRow:
    """The row PostgreSQL sends for ``rec``: enums as text, tags as a list, columns in an
    order of their own, other columns beside."""
    values = dataclasses.asdict(rec)
    for name in ("handling_level", "state", "clock_kind", "rating"):
        values[name] = values[name].value if values[name] is not None else None
    values["tags"] = list(values["tags"])
    ordered = dict(reversed(values.items()))
    return FakeRow({"total_count": 9, **ordered, **(extra or {})})


def test_whole_rows_make_equal_records() -> None:
    recs = [record(), record(id=43, rating=None, clock_kind=None, tags=())]
    assert IssueRecord.from_records([database_row(r) for r in recs]) == recs


def test_partial_records_hold_their_columns_converted_and_nothing_else() -> None:
    rec = record()
    assert isinstance(rec.state, IssueState) and isinstance(rec.rating, RatingGrade)
    columns = issue_columns({"state", "tags", "id", "clock_kind", "handling_level", "rating"})
    assert columns == ("id", "tags", "handling_level", "state", "clock_kind", "rating")
    (partial,) = IssueRecord.partial_records([database_row(rec)], columns)
    for name in columns:
        assert getattr(partial, name) == getattr(rec, name), name
    assert isinstance(partial.handling_level, HandlingLevel)
    assert isinstance(partial.clock_kind, ClockKind) and partial.tags == rec.tags
    with pytest.raises(AttributeError):
        _ = partial.content
    # One class per column set, shared between pages.
    (again,) = IssueRecord.partial_records([database_row(rec)], columns)
    assert type(again) is type(partial)


def test_a_single_column_and_unknown_columns() -> None:
    (only_id,) = IssueRecord.partial_records([database_row(record())], issue_columns({"id"}))
    assert only_id.id == 42
    with pytest.raises(KeyError, match="last_id"):
        issue_columns({"id", "last_id"})


def _event_values(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "issue_id": 7,
        "occurred_at": dt.datetime(2026, 12, 1, 8, n, tzinfo=dt.UTC),
        "actor_id": None,
        "actor_name": f"办理人{n}",
        "type": "NOTE",
        "from_state": None,
        "to_state": None,
        "public": True,
        "message": f"第{n}条",
        "payload": {"n": n},
    }


def test_event_rows_in_the_records_order_are_read_by_position() -> None:
    rows = [FakeRow(_event_values(n)) for n in (1, 2)]
    assert events_from_composites(rows) == [EventRecord(**_event_values(n)) for n in (1, 2)]


def test_event_rows_in_another_order_or_with_more_columns_are_read_by_name() -> None:
    """A migration that adds a column (or a table whose columns lie in another order)
    must not shift the record's fields."""
    rows = [FakeRow({"added": "x", **dict(reversed(_event_values(n).items()))}) for n in (1, 2)]
    assert events_from_composites(rows) == [EventRecord(**_event_values(n)) for n in (1, 2)]


def test_custody_rows_in_the_tables_order_are_read_by_the_records_names() -> None:
    """``issue_custody``'s columns are not in ``CustodyRecord``'s order."""
    values = {
        "id": 3,
        "issue_id": 7,
        "region_code": "330521",
        "handling_level": "CENTER",
        "started_at": dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC),
        "ended_at": None,
        "overdue_seconds": 60,
        "board_id": 2,
        "department_id": None,
        "lapsed_limits": 1,
    }
    assert custody_from_composites([FakeRow(values)] * 2) == [CustodyRecord(**values)] * 2
