"""Evaluation periods: parsing, bounds in Beijing time, previous periods and history."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closedloop.domain.periods import (
    CHINA,
    MAX_RANGE_DAYS,
    ComparisonBasis,
    InvalidPeriod,
    PeriodKind,
    comparison,
    local_date,
    parse_period,
)

D = dt.date


@pytest.mark.parametrize(
    ("text", "kind", "label", "start", "end"),
    [
        ("2026-03", PeriodKind.MONTH, "2026-03", D(2026, 3, 1), D(2026, 4, 1)),
        ("2026-12", PeriodKind.MONTH, "2026-12", D(2026, 12, 1), D(2027, 1, 1)),
        ("2024-02", PeriodKind.MONTH, "2024-02", D(2024, 2, 1), D(2024, 3, 1)),
        ("2026-Q1", PeriodKind.QUARTER, "2026-Q1", D(2026, 1, 1), D(2026, 4, 1)),
        (" 2026-q4 ", PeriodKind.QUARTER, "2026-Q4", D(2026, 10, 1), D(2027, 1, 1)),
        ("2026", PeriodKind.YEAR, "2026", D(2026, 1, 1), D(2027, 1, 1)),
        (
            "2026-01-01..2026-03-31",
            PeriodKind.RANGE,
            "2026-01-01..2026-03-31",
            D(2026, 1, 1),
            D(2026, 4, 1),
        ),
        (
            "2026-02-10..2026-02-10",
            PeriodKind.RANGE,
            "2026-02-10..2026-02-10",
            D(2026, 2, 10),
            D(2026, 2, 11),
        ),
    ],
)
def test_parse(text: str, kind: PeriodKind, label: str, start: D, end: D) -> None:
    p = parse_period(text)
    assert (p.kind, p.label, p.start, p.end) == (kind, label, start, end)
    assert p.last_day == end - dt.timedelta(days=1)
    assert p.contains(start) and not p.contains(end)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-13",
        "2026-00",
        "2026-Q0",
        "2026-Q5",
        "26-03",
        "2026-3",
        "Q1-2026",
        "2026/03",
        "1899",
        "3000",
        "2026-02-30..2026-03-01",
        "2026-03-31..2026-01-01",
        "2026-01-01..",
        "2026-01-01...2026-01-31",
        "last month",
        "２０２６",  # full-width digits are not a year
    ],
)
def test_bad_periods_raise_a_typed_error(text: str) -> None:
    with pytest.raises(InvalidPeriod) as caught:
        parse_period(text)
    assert caught.value.code == "INVALID_PERIOD"
    assert "无法解析" in caught.value.zh and "cannot be parsed" in caught.value.en


def test_ranges_have_a_maximum_length() -> None:
    start = D(2000, 1, 1)
    ok = start + dt.timedelta(days=MAX_RANGE_DAYS - 1)
    assert parse_period(f"{start}..{ok}").days == MAX_RANGE_DAYS
    with pytest.raises(InvalidPeriod):
        parse_period(f"{start}..{ok + dt.timedelta(days=1)}")


def test_bounds_are_midnights_in_beijing() -> None:
    p = parse_period("2026-Q1")
    assert p.start_at == dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert p.end_at == dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)
    assert p.start_at.tzinfo == CHINA
    # 23:59 on 31 March in Beijing is 15:59 UTC: inside Q1.
    assert local_date(dt.datetime(2026, 3, 31, 15, 59, tzinfo=dt.UTC)) == D(2026, 3, 31)
    assert local_date(dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)) == D(2026, 4, 1)


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2026-01", "2025-12"),
        ("2026-03", "2026-02"),
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
        ("2026", "2025"),
        ("2026-01-01..2026-03-31", "2025-10-03..2025-12-31"),  # 90 days before
        ("2026-03-01..2026-03-01", "2026-02-28..2026-02-28"),
    ],
)
def test_previous(text: str, previous: str) -> None:
    p = parse_period(text)
    assert p.previous().label == previous
    assert p.previous().end == p.start
    assert p.previous().days == p.days or p.kind is not PeriodKind.RANGE


def test_history_is_oldest_first_and_contiguous() -> None:
    history = parse_period("2026-02").history(4)
    assert [p.label for p in history] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    for before, after in itertools.pairwise(history):
        assert before.end == after.start
    assert parse_period("2026").history(1) == (parse_period("2026"),)
    with pytest.raises(ValueError):
        parse_period("2026").history(0)
    with pytest.raises(ValueError):
        parse_period("2026").history(37)


def test_months_of_a_period() -> None:
    assert [m.label for m in parse_period("2026-Q2").months()] == ["2026-04", "2026-05", "2026-06"]
    assert [m.label for m in parse_period("2026-01-31..2026-03-01").months()] == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert len(parse_period("2026").months()) == 12


@given(st.dates(min_value=D(1950, 1, 1), max_value=D(2900, 12, 31)))
def test_every_day_is_in_exactly_its_month_quarter_and_year(day: D) -> None:
    month = parse_period(f"{day.year:04d}-{day.month:02d}")
    quarter = parse_period(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")
    year = parse_period(f"{day.year:04d}")
    for p in (month, quarter, year):
        assert p.contains(day)
        assert not p.previous().contains(day)
    assert parse_period(f"{day}..{day}").days == 1


SAME, WHOLE = "SAME_ELAPSED_SPAN", "WHOLE_PERIOD"


def bj(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHINA)


@pytest.mark.parametrize(
    ("period", "now", "until", "previous_until", "basis"),
    [
        # over: the whole previous period
        ("2026-Q1", bj(2026, 4, 10, 10), bj(2026, 4, 1), bj(2026, 1, 1), WHOLE),
        ("2026-Q1", bj(2026, 4, 1), bj(2026, 4, 1), bj(2026, 1, 1), WHOLE),
        # nine days and ten hours into Q2: Q1's first nine days and ten hours
        ("2026-Q2", bj(2026, 4, 10, 10), bj(2026, 4, 10, 10), bj(2026, 1, 10, 10), SAME),
        # a week into a quarter (issue #17's "下降26.1%" a week in)
        ("2026-Q3", bj(2026, 7, 8), bj(2026, 7, 8), bj(2026, 4, 8), SAME),
        # the 31st of March against February: never longer than the previous period
        ("2026-03", bj(2026, 3, 31, 12), bj(2026, 3, 31, 12), bj(2026, 3, 1), SAME),
        ("2026-03", bj(2026, 3, 15), bj(2026, 3, 15), bj(2026, 2, 15), SAME),
        # January against December, across the year end
        ("2026-01", bj(2026, 1, 3, 8), bj(2026, 1, 3, 8), bj(2025, 12, 3, 8), SAME),
        ("2026", bj(2026, 2, 1), bj(2026, 2, 1), bj(2025, 2, 1), SAME),
        # a range: the range of the same length before it
        ("2026-01-11..2026-01-20", bj(2026, 1, 13), bj(2026, 1, 13), bj(2026, 1, 3), SAME),
        # not begun: nothing elapsed on either side
        ("2026-Q4", bj(2026, 4, 10), bj(2026, 10, 1), bj(2026, 7, 1), SAME),
    ],
)  # fmt: skip
def test_comparison_is_like_with_like(
    period: str, now: dt.datetime, until: dt.datetime, previous_until: dt.datetime, basis: str
) -> None:
    found = comparison(parse_period(period), now)
    assert (found.until, found.previous_until) == (until, previous_until)
    assert found.basis is ComparisonBasis(basis)
    assert found.previous == parse_period(period).previous()
    assert found.partial is (basis == SAME)
