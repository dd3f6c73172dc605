"""A scoring scheme as typed, frozen data: its indicators, their rules and rates, the
adjustments (red and black lists) and the total's floor and cap."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, TypeAlias

from closedloop.domain.schemes.errors import UnknownIndicator
from closedloop.domain.schemes.vocabulary import Label


class Source(enum.StrEnum):
    PLATFORM = "PLATFORM"  # computed from issues
    EXTERNAL = "EXTERNAL"  # recorded through the API by an evaluator


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class EmptyPolicy(enum.StrEnum):
    """What an indicator scores when there is nothing to measure."""

    FULL_POINTS = "full_points"
    ZERO_POINTS = "zero_points"


class RatingCount(enum.StrEnum):
    """Which ratings a scheme counts when an issue was resolved more than once."""

    # Every rated resolution: an unsatisfied rating that reopened the issue stays counted
    # after the issue is resolved again (一事一评: each resolution is rated).
    EVERY_RESOLUTION = "every_resolution"
    # Only the last rating of each resolved issue (a work order's final return visit).
    LAST_PER_ISSUE = "last_per_issue"


class Gap(enum.StrEnum):
    """How the distance to the target is counted by ``deduct_per_point``.

    EXACT deducts pro rata (12.5 points away costs 12.5 × per_point); WHOLE counts
    completed percentage points only (12.5 → 12). The plans say "每降低1个百分点扣0.1分",
    which both readings satisfy; the Huzhou file chooses EXACT.
    """

    EXACT = "exact"
    WHOLE = "whole"


class RuleKind(enum.StrEnum):
    DEDUCT_PER_POINT = "deduct_per_point"
    RANK = "rank"
    CHECKS = "checks"
    EXTERNAL_POINTS = "external_points"


@dataclass(frozen=True, slots=True)
class DeductPerPointRule:
    """Full points at ``target`` (a percentage); lose ``per_point`` per point away from it."""

    target: Decimal
    direction: Direction
    per_point: Decimal
    gap: Gap = Gap.EXACT
    kind: ClassVar[RuleKind] = RuleKind.DEDUCT_PER_POINT


@dataclass(frozen=True, slots=True)
class RankRule:
    """Rank 1 gets ``first``; every rank lower loses ``step``.

    With a platform rate the rank is computed among peers in ``direction``; an external
    rank rule (no rate, no direction) takes the rank recorded by the evaluator.
    """

    first: Decimal
    step: Decimal
    direction: Direction | None = None
    kind: ClassVar[RuleKind] = RuleKind.RANK


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    label: Label


@dataclass(frozen=True, slots=True)
class ChecksRule:
    """Full points when every check is met; lose ``per_failed`` for each check not met."""

    checks: tuple[Check, ...]
    per_failed: Decimal
    kind: ClassVar[RuleKind] = RuleKind.CHECKS

    def check_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.checks)


@dataclass(frozen=True, slots=True)
class ExternalPointsRule:
    """The points are an external result, 0..points."""

    kind: ClassVar[RuleKind] = RuleKind.EXTERNAL_POINTS


Rule: TypeAlias = DeductPerPointRule | RankRule | ChecksRule | ExternalPointsRule


@dataclass(frozen=True, slots=True)
class RateSpec:
    """Names the numerator and denominator of a rate.

    For a platform indicator they are counter names (``COUNTER_NAMES``); for an external
    one they only name the two amounts of the recorded input (e.g. funds paid / budgeted).
    """

    numerator: str
    denominator: str


@dataclass(frozen=True, slots=True)
class Indicator:
    key: str
    label: Label
    group: Label
    points: Decimal  # the indicator's maximum
    source: Source
    rule: Rule
    rate: RateSpec | None
    when_empty: EmptyPolicy  # the rate's denominator is 0
    when_missing: EmptyPolicy  # an external input was never recorded
    provider: Label | None = None
    formula: str = ""  # transcription, for people only
    scoring: str = ""  # transcription, for people only


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A bonus or malus per list entry (red list +1, black list −1)."""

    key: str
    label: Label
    points_each: Decimal
    what: Label


@dataclass(frozen=True, slots=True)
class Scheme:
    key: str
    label: Label
    max_total: Decimal  # the sum of the indicator maxima
    satisfied_grades: frozenset[str]
    rating_count: RatingCount
    indicators: tuple[Indicator, ...]
    adjustments: tuple[Adjustment, ...] = ()
    total_floor: Decimal = Decimal(0)
    total_cap: Decimal | None = None

    def indicator(self, key: str) -> Indicator:
        for indicator in self.indicators:
            if indicator.key == key:
                return indicator
        raise UnknownIndicator(self.key, key)

    def indicator_keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.indicators)

    def adjustment(self, key: str) -> Adjustment | None:
        return next((a for a in self.adjustments if a.key == key), None)
