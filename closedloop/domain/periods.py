"""Evaluation periods: a month, a quarter, a year or a date range. Pure: no I/O, no clock.

Accepted spellings (surrounding blanks ignored, ``q`` in either case):

=========================  ======================================
``2026-03``                the month of March 2026
``2026-Q1``                January to March 2026
``2026``                   the year 2026
``2026-01-01..2026-03-31`` a date range, *both* ends inclusive
=========================  ======================================

A ``Period`` keeps its start (inclusive) and end (exclusive) as calendar dates; the
instants are midnights in Beijing time (Asia/Shanghai), which is how the plans count a
month. A range's previous period is the range of the same length just before it, so a
history of ranges compares like with like. Anything else raises ``InvalidPeriod`` with a
stable code and a zh/en message.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")

# Years outside this window are almost certainly typos; the bounds also keep every
# previous-period computation well inside ``datetime``'s range.
MIN_YEAR = 1900
MAX_YEAR = 2999
# A range longer than this is refused: the history of such ranges would reach back
# centuries and no evaluation is run over it.
MAX_RANGE_DAYS = 3660
MAX_HISTORY = 36

# ASCII digits only: ``\d`` would also take full-width and other Unicode digits.
_YEAR = re.compile(r"^(\d{4})$", re.ASCII)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$", re.ASCII)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$", re.ASCII)


class PeriodKind(enum.StrEnum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    YEAR = "YEAR"
    RANGE = "RANGE"


class InvalidPeriod(ValueError):
    """The text is not a period this module understands."""

    code = "INVALID_PERIOD"

    def __init__(self, text: str, zh: str, en: str) -> None:
        super().__init__(f"{text!r}: {en}")
        self.text = text
        self.zh = f"统计周期 {text!r} 无法解析：{zh}"
        self.en = f"period {text!r} cannot be parsed: {en}"


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    kind: PeriodKind
    start: dt.date  # inclusive
    end: dt.date  # exclusive

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def start_at(self) -> dt.datetime:
        """The first instant of the period (midnight in Beijing), as an aware datetime."""
        return midnight(self.start)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period."""
        return midnight(self.end)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day < self.end

    def previous(self) -> Period:
        if self.kind is PeriodKind.MONTH:
            year, month = (
                (self.start.year, self.start.month - 1)
                if self.start.month > 1
                else (
                    self.start.year - 1,
                    12,
                )
            )
            return month_period(year, month)
        if self.kind is PeriodKind.QUARTER:
            quarter = (self.start.month - 1) // 3 + 1
            if quarter == 1:
                return quarter_period(self.start.year - 1, 4)
            return quarter_period(self.start.year, quarter - 1)
        if self.kind is PeriodKind.YEAR:
            return year_period(self.start.year - 1)
        length = dt.timedelta(days=self.days)
        return range_period(self.start - length, self.start - dt.timedelta(days=1))

    def history(self, count: int) -> tuple[Period, ...]:
        """The ``count`` periods ending with this one, oldest first (``count`` ≥ 1)."""
        if not 1 <= count <= MAX_HISTORY:
            raise ValueError(f"history length must be between 1 and {MAX_HISTORY}")
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return tuple(reversed(periods))

    def months(self) -> tuple[Period, ...]:
        """The calendar months the period touches, in order (for monthly trends)."""
        out: list[Period] = []
        year, month = self.start.year, self.start.month
        while dt.date(year, month, 1) < self.end:
            out.append(month_period(year, month))
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
        return tuple(out)


class ComparisonBasis(enum.StrEnum):
    """What a period's figures are compared with (labels in ``closedloop.i18n``)."""

    WHOLE_PERIOD = "WHOLE_PERIOD"  # the period is over: the whole previous period
    SAME_ELAPSED_SPAN = "SAME_ELAPSED_SPAN"  # still running: as much of the previous one


@dataclass(frozen=True, slots=True)
class Comparison:
    """A period counted up to ``until`` against its previous period counted up to
    ``previous_until``: like with like."""

    period: Period
    previous: Period
    until: dt.datetime  # the period's end, or the moment of counting while it runs
    previous_until: dt.datetime

    @property
    def basis(self) -> ComparisonBasis:
        if self.until < self.period.end_at:
            return ComparisonBasis.SAME_ELAPSED_SPAN
        return ComparisonBasis.WHOLE_PERIOD

    @property
    def partial(self) -> bool:
        return self.basis is ComparisonBasis.SAME_ELAPSED_SPAN


def comparison(period: Period, now: dt.datetime) -> Comparison:
    """What ``period``'s figures at ``now`` are compared with. A period that is over is
    compared with the whole previous period. One still running is compared with the same
    elapsed span of the previous one: a quarter nine days and two hours in, with the
    previous quarter's first nine days and two hours (never longer than that quarter), so
    a week into a quarter does not read as a fall against a whole quarter. A period not
    yet begun has nothing elapsed on either side."""
    previous = period.previous()
    if now >= period.end_at:
        return Comparison(period, previous, period.end_at, previous.end_at)
    elapsed = max(now - period.start_at, dt.timedelta(0))
    return Comparison(
        period,
        previous,
        period.start_at + elapsed,
        min(previous.start_at + elapsed, previous.end_at),
    )


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CHINA)


def local_date(instant: dt.datetime) -> dt.date:
    """The calendar date in Beijing of an aware instant."""
    return instant.astimezone(CHINA).date()


def _check_year(text: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidPeriod(
            text, f"年份应在 {MIN_YEAR}–{MAX_YEAR} 之间", f"year must be {MIN_YEAR}..{MAX_YEAR}"
        )


def month_period(year: int, month: int) -> Period:
    start = dt.date(year, month, 1)
    end = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return Period(f"{year:04d}-{month:02d}", PeriodKind.MONTH, start, end)


def quarter_period(year: int, quarter: int) -> Period:
    start = dt.date(year, 3 * (quarter - 1) + 1, 1)
    end = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return Period(f"{year:04d}-Q{quarter}", PeriodKind.QUARTER, start, end)


def year_period(year: int) -> Period:
    return Period(f"{year:04d}", PeriodKind.YEAR, dt.date(year, 1, 1), dt.date(year + 1, 1, 1))


def range_period(first: dt.date, last: dt.date) -> Period:
    """Both ends inclusive, as written; the stored end is the day after ``last``."""
    return Period(
        f"{first.isoformat()}..{last.isoformat()}",
        PeriodKind.RANGE,
        first,
        last + dt.timedelta(days=1),
    )


def _date(text: str, value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidPeriod(text, f"{value} 不是有效日期", f"{value} is not a valid date") from None
    _check_year(text, day.year)
    return day


def parse_period(text: str) -> Period:
    """Parse one of the spellings in the module docstring; ``InvalidPeriod`` otherwise."""
    if not isinstance(text, str):
        raise InvalidPeriod(str(text), "应为文本", "expected text")
    value = text.strip()
    if m := _YEAR.match(value):
        year = int(m.group(1))
        _check_year(text, year)
        return year_period(year)
    if m := _MONTH.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        _check_year(text, year)
        if not 1 <= month <= 12:
            raise InvalidPeriod(text, "月份应为 01–12", "month must be 01..12")
        return month_period(year, month)
    if m := _QUARTER.match(value):
        year = int(m.group(1))
        _check_year(text, year)
        return quarter_period(year, int(m.group(2)))
    if m := _RANGE.match(value):
        first, last = _date(text, m.group(1)), _date(text, m.group(2))
        if last < first:
            raise InvalidPeriod(text, "结束日期早于开始日期", "the range ends before it starts")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise InvalidPeriod(
                text,
                f"区间不能超过 {MAX_RANGE_DAYS} 天",
                f"a range spans at most {MAX_RANGE_DAYS} days",
            )
        return range_period(first, last)
    raise InvalidPeriod(
        text,
        "应为 2026-03、2026-Q1、2026 或 2026-01-01..2026-03-31",
        "expected 2026-03, 2026-Q1, 2026 or 2026-01-01..2026-03-31",
    )
