"""The numbers of an analysis report (``ReportData``): what ``gathering`` reads and the
wording, charts and renderers lay out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from closedloop.db.replicas import PRIMARY, Freshness
from closedloop.domain.periods import Comparison, Period
from closedloop.domain.regions import RegionLevel

# --- the numbers -------------------------------------------------------------------------


class ReportNotFound(LookupError):
    """No such region, or not in the caller's scope: the two answer alike (DESIGN §3)."""

    def __init__(self, region_code: str) -> None:
        super().__init__(f"region not found: {region_code!r}")
        self.region_code = region_code


def ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


@dataclass(frozen=True, slots=True)
class Counts:
    total: int = 0  # 受理问题总数
    proactive: int = 0  # from a proactive channel (主动发现)
    handled: int = 0  # 办理问题总数: not rejected, not routed out
    rejected: int = 0
    routed_out: int = 0  # guided to a dedicated route (投诉、举报、办事)
    resolved: int = 0  # 办结
    # Satisfaction as the scheme counts ratings (every rating on record under HUZHOU_2024,
    # so an unsatisfied rating stays counted after the issue is resolved again):
    unrated_resolved: int = 0  # resolved, the current resolution not rated (a good rating)
    rating_satisfied: int = 0  # ratings counted, by grade
    rating_fairly_satisfied: int = 0
    rating_basically_satisfied: int = 0
    rating_unsatisfied: int = 0
    good: int = 0  # ratings in the satisfied grades, and unrated resolutions (好评数)
    rated: int = 0  # ratings counted
    resolutions: int = 0  # rated resolutions and unrated ones (the rate's denominator)
    reopened: int = 0  # reopened at least once (an unsatisfied rating or a request)
    overdue_resolved: int = 0  # 超时办结
    overdue_open: int = 0  # still open and past the running limit (超期未办结)
    recurred: int = 0  # resolved, then repeated by a later issue (重发复发)
    open: int = 0  # still in hand

    @property
    def resolution_rate(self) -> Fraction | None:
        return ratio(self.resolved, self.handled)

    @property
    def satisfaction_rate(self) -> Fraction | None:
        return ratio(self.good, self.resolutions)

    @property
    def overdue_rate(self) -> Fraction | None:
        return ratio(self.overdue_resolved, self.handled)

    @property
    def recurrence_rate(self) -> Fraction | None:
        return ratio(self.recurred, self.resolved)

    @property
    def proactive_rate(self) -> Fraction | None:
        return ratio(self.proactive, self.total)


@dataclass(frozen=True, slots=True)
class Share:
    """One bar or slice: a channel, a category or a tag, and its issue count."""

    key: str | None
    label: str
    count: int
    proactive: bool = False


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: dt.date  # the first day of the month
    received: int
    resolved: int  # of those received that month, resolved by now


@dataclass(frozen=True, slots=True)
class RegionCounts:
    code: str
    name: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class IssueLine:
    number: str
    title: str
    place: str  # where the enterprise is (origin region)
    unit: str  # who holds or held it
    state: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    late_days: int = 0  # overdue list: whole days past the limit (started days count)
    repeated_by: str | None = None  # recurring list: the later issue that repeats it


@dataclass(frozen=True, slots=True)
class ListLine:
    kind: str  # RED or BLACK
    target: str
    reason: str
    listed_on: dt.date
    issue_number: str | None


@dataclass(frozen=True, slots=True)
class ReportData:
    region_code: str
    region_name: str
    region_level: RegionLevel
    center_name: str
    period: Period
    generated_at: dt.datetime
    counts: Counts
    previous: Counts  # the previous period of the same kind, as far as ``comparison`` says
    comparison: Comparison  # a running period against the same elapsed span before it
    by_channel: tuple[Share, ...]  # largest first
    by_category: tuple[Share, ...]  # largest first, unclassified last
    by_month: tuple[MonthCount, ...]  # every month of the period, also empty ones
    by_region: tuple[RegionCounts, ...]  # child regions in code order (empty for a town)
    top_tags: tuple[Share, ...]
    overdue: tuple[IssueLine, ...]  # the most overdue first, at most ``list_limit``
    recurring: tuple[IssueLine, ...]
    red_list: tuple[ListLine, ...]
    black_list: tuple[ListLine, ...]
    list_limit: int
    # Where the numbers were read (reports tolerate lag: a replica in rotation serves them).
    freshness: Freshness = PRIMARY

    @property
    def as_of(self) -> dt.datetime:
        """数据截至: a replica's last replayed commit, else the moment of the report."""
        return self.freshness.data_as_of(self.generated_at)
