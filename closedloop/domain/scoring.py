"""Pure scoring of targets (departments, regions) under a scheme of ``schemes``.

Input per target: platform ``Counters`` (computed from issues by the database layer),
external inputs recorded by evaluators (``PointsInput``, ``ChecksInput``, ``RateInput``,
``RankInput``, keyed by indicator) and red/black list entry counts. Output: for every
indicator the rate, points, deduction and rank among peers, the total, and the peers'
ranking by total. No I/O, no clock, no database.

Decisions (the scheme text is silent on them):

* Arithmetic is exact: rates are ``Fraction`` percentages (0..100), points are computed from
  the exact rate and rounded once, to 2 decimals, half-up (13.765 → 13.77). Reported rates
  are rounded the same way. The total is the sum of the rounded points, so it always equals
  what a reader adds up from the table.
* Empty is not perfect. Empty denominator (no issues handled, nothing resolved, no budget):
  the rate is ``None``, the target has no rank for the indicator, the status is ``EMPTY``
  with a ``reason`` naming the empty amount (e.g. 办理问题总数为 0), and the indicator scores
  what the scheme's ``when_empty`` says. Huzhou reads its own text: where full points are
  for something that did not happen ("未发生超时办结问题得满分"), nothing handled earns
  them; where they are for a rate reached ("满意率100%得满分") or a place in a ranking
  ("排名第1位得满分"), a target with nothing to measure has no rate and no place, and earns
  none. Ranks are among the targets that have a rate.
* No negative zero: every amount reported is normalised (``-0`` becomes ``0``).
* External input never recorded: the indicator scores ``when_missing`` (Huzhou: 0) with status
  ``MISSING``, so a dashboard can show it as pending.
* Ties share a rank, standard competition ranking (1, 1, 3), on the exact rate for indicators
  and on the rounded total for targets. Targets with an empty denominator are not ranked.
* Points of every indicator are floored at 0 and capped at its maximum (a policy fulfilment
  above 100 % earns no more than full points). The total is floored at the scheme's
  ``total_floor`` and capped at ``total_cap`` when the scheme has one.
* A platform rate above 100 % (numerator > denominator) means the counters are inconsistent:
  ``InvalidCounters`` rather than a silently clipped score.
* Unrated resolved issues are good ratings: ``good_ratings`` = ratings in the scheme's
  satisfied grades + ``unrated_resolved`` (未作评价的默认为好评).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import floor
from types import MappingProxyType
from typing import TypeVar

from closedloop.domain.indicator_inputs import ChecksInput as ChecksInput
from closedloop.domain.indicator_inputs import ExternalInput as ExternalInput
from closedloop.domain.indicator_inputs import InvalidIndicatorInput as InvalidIndicatorInput
from closedloop.domain.indicator_inputs import PointsInput as PointsInput
from closedloop.domain.indicator_inputs import RankInput as RankInput
from closedloop.domain.indicator_inputs import RateInput as RateInput
from closedloop.domain.indicator_inputs import input_kind as input_kind
from closedloop.domain.indicator_inputs import (
    validate_external_input as validate_external_input,
)
from closedloop.domain.schemes import (
    BASE_COUNTERS,
    COUNTER_LABELS,
    RATING_GRADES,
    ChecksRule,
    DeductPerPointRule,
    Direction,
    EmptyPolicy,
    Gap,
    Indicator,
    Label,
    RankRule,
    Scheme,
    ScoringError,
    Source,
)

POINTS_PLACES = 2
RATE_PLACES = 2
_HUNDRED = Fraction(100)


class InvalidCounters(ScoringError):
    """The platform counters cannot be right (negative, unknown grade, rate above 100 %)."""


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Counters:
    """Per target and period, computed from issues by the database layer.

    ``ratings`` holds the ratings the scheme counts (every rated resolution, or the last one
    of each resolved issue); a resolved issue whose current resolution is unrated counts in
    ``unrated_resolved`` (issues still inside the rating window too: good ratings).
    """

    total: int = 0  # issues attributed to the target (问题总数)
    proactive: int = 0  # of which from a proactive channel (主动发现)
    handled: int = 0  # issues the target handled (办理问题总数)
    resolved: int = 0  # of the handled, resolved (办结)
    overdue_resolved: int = 0  # of the resolved, resolved after the time limit (超时办结)
    recurred: int = 0  # of the resolved, linked to a later recurrence (重发复发)
    responded_on_time: int = 0  # of the total, accepted and assigned within the limit
    unrated_resolved: int = 0  # of the resolved, never rated (counts as good)
    ratings: Mapping[str, int] = field(default_factory=dict)  # grade key → count

    def __post_init__(self) -> None:
        for name in BASE_COUNTERS:
            _check_count(getattr(self, name), name)
        ratings = dict(self.ratings)
        for grade, count in ratings.items():
            if grade not in RATING_GRADES:
                raise InvalidCounters(
                    "UNKNOWN_GRADE",
                    f"未知评价档次：{grade}",
                    f"unknown rating grade: {grade}",
                    field=f"ratings.{grade}",
                )
            _check_count(count, f"ratings.{grade}")
        object.__setattr__(self, "ratings", MappingProxyType(ratings))

    def rated(self) -> int:
        return sum(self.ratings.values())

    def satisfied_ratings(self, satisfied_grades: frozenset[str]) -> int:
        return sum(n for grade, n in self.ratings.items() if grade in satisfied_grades)

    def good_ratings(self, satisfied_grades: frozenset[str]) -> int:
        return self.satisfied_ratings(satisfied_grades) + self.unrated_resolved

    def resolutions(self) -> int:
        """Resolutions counted for satisfaction: every rating counted (one per rated
        resolution, as the scheme counts them) and every resolved issue left unrated."""
        return self.rated() + self.unrated_resolved

    def value(self, name: str, satisfied_grades: frozenset[str]) -> int:
        """A base or derived counter by the name a scheme's ``rate`` uses."""
        if name == "rated":
            return self.rated()
        if name == "satisfied_ratings":
            return self.satisfied_ratings(satisfied_grades)
        if name == "good_ratings":
            return self.good_ratings(satisfied_grades)
        if name == "resolutions":
            return self.resolutions()
        if name in BASE_COUNTERS:
            count: int = getattr(self, name)
            return count
        raise InvalidCounters(
            "UNKNOWN_COUNTER", f"未知计数项：{name}", f"unknown counter: {name}", field=name
        )


def _check_count(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCounters(
            "NOT_A_COUNT", f"{name} 应为整数", f"{name} must be an integer", field=name
        )
    if value < 0:
        raise InvalidCounters(
            "NEGATIVE_COUNTER", f"{name} 不能为负数", f"{name} must not be negative", field=name
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetInputs:
    counters: Counters = field(default_factory=Counters)
    external: Mapping[str, ExternalInput] = field(default_factory=dict)  # by indicator key
    adjustments: Mapping[str, int] = field(default_factory=dict)  # entries by adjustment key


# --- results -------------------------------------------------------------------------------


class ResultStatus(enum.StrEnum):
    SCORED = "SCORED"
    EMPTY = "EMPTY"  # the rate's denominator is 0
    MISSING = "MISSING"  # the external input was never recorded


RESULT_STATUS_LABELS: Mapping[ResultStatus, Label] = MappingProxyType(
    {
        ResultStatus.SCORED: Label("已计分", "scored"),
        ResultStatus.EMPTY: Label("无可计算数据", "nothing to measure"),
        ResultStatus.MISSING: Label("待录入", "input not recorded"),
    }
)


def empty_reason(name: str) -> Label:
    """Why an indicator has nothing to measure: its denominator ``name`` is zero."""
    counter = COUNTER_LABELS.get(name)
    if counter is None:  # an external amount, named by the scheme
        return Label(f"{name} 为 0 或未录入，无可计算数据", f"{name} is 0 or not recorded")
    return Label(f"{counter.zh}为 0，无可计算数据", f"no {counter.en}: nothing to measure")


MISSING_REASON = Label("外部结果尚未录入", "the external result has not been recorded")


def no_negative_zero(value: Decimal) -> Decimal:
    """``value`` with a negative zero (``Decimal('-0')``) turned into zero."""
    return value.copy_abs() if value.is_zero() else value


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    key: str
    label: Label
    max_points: Decimal
    status: ResultStatus
    rate: Decimal | None  # percentage, 2 decimals; None when not a rate or denominator 0
    numerator: Decimal | None
    denominator: Decimal | None
    rank: int | None  # among peers by rate, or the external rank; None otherwise
    points: Decimal
    deduction: Decimal  # max_points − points
    reason: Label | None = None  # why the status is EMPTY or MISSING


@dataclass(frozen=True, slots=True)
class AdjustmentResult:
    key: str
    label: Label
    count: int
    points: Decimal


@dataclass(frozen=True, slots=True)
class TargetScore:
    target: str
    indicators: tuple[IndicatorResult, ...]
    adjustments: tuple[AdjustmentResult, ...]
    subtotal: Decimal  # sum of the indicator points
    total: Decimal  # subtotal + adjustments, floored and capped
    rank: int

    def indicator(self, key: str) -> IndicatorResult:
        for result in self.indicators:
            if result.key == key:
                return result
        raise KeyError(key)

    def adjustment(self, key: str) -> AdjustmentResult:
        for result in self.adjustments:
            if result.key == key:
                return result
        raise KeyError(key)


@dataclass(frozen=True, slots=True)
class Scoreboard:
    scheme: str
    scores: tuple[TargetScore, ...]  # by rank, then target

    def __getitem__(self, target: str) -> TargetScore:
        for score in self.scores:
            if score.target == target:
                return score
        raise KeyError(target)

    def __len__(self) -> int:
        return len(self.scores)


# --- arithmetic helpers --------------------------------------------------------------------


def round_half_up(value: Fraction | Decimal | int, places: int = POINTS_PLACES) -> Decimal:
    """Round exactly, half away from zero (the school rule: 13.765 → 13.77)."""
    exact = Fraction(value)
    magnitude = floor(abs(exact) * 10**places + Fraction(1, 2))
    signed = -magnitude if exact < 0 else magnitude
    return (Decimal(signed) / Decimal(10) ** places).quantize(Decimal(1).scaleb(-places))


def rate_of(numerator: Fraction | int, denominator: Fraction | int) -> Fraction | None:
    """``numerator / denominator * 100`` exactly, or ``None`` for a zero denominator."""
    if denominator == 0:
        return None
    return Fraction(numerator) / Fraction(denominator) * _HUNDRED


_V = TypeVar("_V", Fraction, Decimal)


def competition_ranks(values: Mapping[str, _V], *, higher_is_better: bool = True) -> dict[str, int]:
    """Standard competition ranking: equal values share a rank, the next rank skips (1, 1, 3)."""
    ordered = sorted(values.values(), reverse=higher_is_better)
    first_position: dict[_V, int] = {}
    for position, value in enumerate(ordered, start=1):
        first_position.setdefault(value, position)
    return {key: first_position[value] for key, value in values.items()}


def _clamp(value: Fraction, maximum: Fraction) -> Fraction:
    return min(max(value, Fraction(0)), maximum)


def _validate_target(scheme: Scheme, inputs: TargetInputs) -> None:
    keys = set(scheme.indicator_keys())
    for key, value in inputs.external.items():
        if key not in keys:
            raise InvalidIndicatorInput(
                "UNKNOWN_INDICATOR",
                f"评价方案 {scheme.key} 中没有指标 {key}",
                f"scheme {scheme.key} has no indicator {key}",
                field="indicator",
                indicator=key,
            )
        validate_external_input(scheme.indicator(key), value)
    for key, count in inputs.adjustments.items():
        adjustment = scheme.adjustment(key)
        if adjustment is None:
            raise InvalidIndicatorInput(
                "UNKNOWN_ADJUSTMENT",
                f"评价方案 {scheme.key} 中没有加减分项 {key}",
                f"scheme {scheme.key} has no adjustment {key}",
                field=f"adjustments.{key}",
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidIndicatorInput(
                "NEGATIVE_VALUE",
                f"{adjustment.label.zh}次数应为非负整数",
                f"{adjustment.label.en} entries must be a non-negative integer",
                field=f"adjustments.{key}",
            )


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Measure:
    status: ResultStatus
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    rate: Fraction | None = None
    value: ExternalInput | None = None

    def reason(self, indicator: Indicator) -> Label | None:
        if self.status is ResultStatus.MISSING:
            return MISSING_REASON
        if self.status is ResultStatus.EMPTY:
            assert indicator.rate is not None
            return empty_reason(indicator.rate.denominator)
        return None


def _measure(scheme: Scheme, indicator: Indicator, inputs: TargetInputs) -> _Measure:
    spec = indicator.rate
    if indicator.source is Source.PLATFORM:
        assert spec is not None  # schemes guarantees platform indicators are rates
        num = inputs.counters.value(spec.numerator, scheme.satisfied_grades)
        den = inputs.counters.value(spec.denominator, scheme.satisfied_grades)
        if num > den:
            raise InvalidCounters(
                "RATE_ABOVE_100",
                f"{indicator.label.zh}：{spec.numerator}（{num}）大于 {spec.denominator}（{den}）",
                f"{indicator.label.en}: {spec.numerator} ({num}) exceeds "
                f"{spec.denominator} ({den})",
                field=spec.numerator,
                indicator=indicator.key,
            )
        rate = rate_of(num, den)
        status = ResultStatus.EMPTY if rate is None else ResultStatus.SCORED
        return _Measure(status, Decimal(num), Decimal(den), rate)

    value = inputs.external.get(indicator.key)
    if value is None:
        return _Measure(ResultStatus.MISSING)
    if isinstance(value, RateInput):
        num_d = Decimal(value.numerator)
        den_d = Decimal(0 if value.denominator is None else value.denominator)
        rate = rate_of(Fraction(num_d), Fraction(den_d))
        status = ResultStatus.EMPTY if rate is None else ResultStatus.SCORED
        return _Measure(status, num_d, den_d, rate, value)
    return _Measure(ResultStatus.SCORED, value=value)


def _direction(indicator: Indicator) -> Direction | None:
    rule = indicator.rule
    if isinstance(rule, DeductPerPointRule | RankRule) and indicator.rate is not None:
        return rule.direction
    return None


def _ranks(indicator: Indicator, measures: Mapping[str, _Measure]) -> dict[str, int]:
    direction = _direction(indicator)
    if direction is not None:
        rates = {t: m.rate for t, m in measures.items() if m.rate is not None}
        return competition_ranks(rates, higher_is_better=direction is Direction.HIGHER_IS_BETTER)
    return {t: m.value.rank for t, m in measures.items() if isinstance(m.value, RankInput)}


def _exact_points(indicator: Indicator, measure: _Measure, rank: int | None) -> Fraction:
    maximum = Fraction(indicator.points)
    if measure.status is not ResultStatus.SCORED:
        policy = (
            indicator.when_empty if measure.status is ResultStatus.EMPTY else indicator.when_missing
        )
        return maximum if policy is EmptyPolicy.FULL_POINTS else Fraction(0)

    rule = indicator.rule
    if isinstance(rule, DeductPerPointRule):
        assert measure.rate is not None
        target = Fraction(rule.target)
        gap = (
            target - measure.rate
            if rule.direction is Direction.HIGHER_IS_BETTER
            else measure.rate - target
        )
        gap = max(gap, Fraction(0))  # beating the target earns no more than full points
        if rule.gap is Gap.WHOLE:
            gap = Fraction(floor(gap))
        raw = maximum - Fraction(rule.per_point) * gap
    elif isinstance(rule, RankRule):
        assert rank is not None
        raw = Fraction(rule.first) - Fraction(rule.step) * (rank - 1)
    elif isinstance(rule, ChecksRule):
        assert isinstance(measure.value, ChecksInput)
        failed = sum(1 for key in rule.check_keys() if not measure.value.met[key])
        raw = maximum - Fraction(rule.per_failed) * failed
    else:
        assert isinstance(measure.value, PointsInput)
        raw = Fraction(measure.value.points)
    return _clamp(raw, maximum)


def score_peers(scheme: Scheme, peers: Mapping[str, TargetInputs]) -> Scoreboard:
    """Score every target of one peer group (e.g. the departments of a region) for a period.

    Rank-based platform indicators and the final ranking need the whole group, which is why
    the unit of scoring is the group, not the target.
    """
    for inputs in peers.values():
        _validate_target(scheme, inputs)

    results: dict[str, list[IndicatorResult]] = {target: [] for target in peers}
    for indicator in scheme.indicators:
        measures = {t: _measure(scheme, indicator, inputs) for t, inputs in peers.items()}
        ranks = _ranks(indicator, measures)
        for target, measure in measures.items():
            rank = ranks.get(target)
            points = round_half_up(_exact_points(indicator, measure, rank))
            results[target].append(
                IndicatorResult(
                    key=indicator.key,
                    label=indicator.label,
                    max_points=indicator.points,
                    status=measure.status,
                    rate=None
                    if measure.rate is None
                    else no_negative_zero(round_half_up(measure.rate, RATE_PLACES)),
                    numerator=measure.numerator,
                    denominator=measure.denominator,
                    rank=rank,
                    points=no_negative_zero(points),
                    deduction=no_negative_zero(indicator.points - points),
                    reason=measure.reason(indicator),
                )
            )

    partial: dict[str, tuple[tuple[AdjustmentResult, ...], Decimal, Decimal]] = {}
    for target, inputs in peers.items():
        adjustments = tuple(
            AdjustmentResult(
                key=a.key,
                label=a.label,
                count=inputs.adjustments.get(a.key, 0),
                points=no_negative_zero(a.points_each * inputs.adjustments.get(a.key, 0)),
            )
            for a in scheme.adjustments
        )
        subtotal = sum((r.points for r in results[target]), Decimal(0))
        total = max(subtotal + sum((a.points for a in adjustments), Decimal(0)), scheme.total_floor)
        if scheme.total_cap is not None:
            total = min(total, scheme.total_cap)
        partial[target] = (adjustments, no_negative_zero(subtotal), no_negative_zero(total))

    ranks = competition_ranks({t: p[2] for t, p in partial.items()}, higher_is_better=True)
    scores = [
        TargetScore(
            target=target,
            indicators=tuple(results[target]),
            adjustments=adjustments,
            subtotal=subtotal,
            total=total,
            rank=ranks[target],
        )
        for target, (adjustments, subtotal, total) in partial.items()
    ]
    scores.sort(key=lambda s: (s.rank, s.target))
    return Scoreboard(scheme=scheme.key, scores=tuple(scores))
