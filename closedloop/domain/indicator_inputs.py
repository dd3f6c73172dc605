"""External indicator inputs an evaluator records, and their validation against a scheme.

Part of the pure scoring layer (``closedloop.domain.scoring`` re-exports every name here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypeAlias

from closedloop.domain.schemes import (
    ChecksRule,
    ExternalPointsRule,
    Indicator,
    RankRule,
    ScoringError,
    Source,
)


class InvalidIndicatorInput(ScoringError):
    """An external input or list adjustment an evaluator recorded is not acceptable."""


@dataclass(frozen=True, slots=True)
class PointsInput:
    """Points given by an external result (``external_points`` rule), 0..max."""

    points: Decimal | int


@dataclass(frozen=True, slots=True)
class ChecksInput:
    """Whether each check of a ``checks`` rule is met, by check key (all keys required)."""

    met: Mapping[str, bool]


@dataclass(frozen=True, slots=True)
class RateInput:
    """The two amounts of an external rate, e.g. policy funds paid / budgeted."""

    numerator: Decimal | int
    denominator: Decimal | int | None = None  # None: no budget recorded


@dataclass(frozen=True, slots=True)
class RankInput:
    """A rank given by an external ranking (1 = best)."""

    rank: int


ExternalInput: TypeAlias = PointsInput | ChecksInput | RateInput | RankInput


# --- validation of external inputs ---------------------------------------------------------


def _input_error(indicator: Indicator, code: str, zh: str, en: str, fld: str) -> ScoringError:
    return InvalidIndicatorInput(
        code,
        f"{indicator.label.zh}：{zh}",
        f"{indicator.label.en}: {en}",
        field=fld,
        indicator=indicator.key,
    )


def _amount(indicator: Indicator, value: object, fld: str) -> Fraction:
    # Floats are refused: an amount must be exact (Decimal or int), as recorded.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _input_error(indicator, "NOT_A_NUMBER", "应为数字", "must be a number", fld)
    if isinstance(value, Decimal) and not value.is_finite():
        raise _input_error(indicator, "NOT_A_NUMBER", "应为有限数字", "must be finite", fld)
    if value < 0:
        raise _input_error(indicator, "NEGATIVE_VALUE", "不能为负数", "must not be negative", fld)
    return Fraction(value)


def input_kind(indicator: Indicator) -> type[ExternalInput] | None:
    """The input an evaluator records for this indicator; ``None`` for platform indicators."""
    if indicator.source is Source.PLATFORM:
        return None
    rule = indicator.rule
    if isinstance(rule, ExternalPointsRule):
        return PointsInput
    if isinstance(rule, ChecksRule):
        return ChecksInput
    if isinstance(rule, RankRule):
        return RankInput
    return RateInput


def validate_external_input(indicator: Indicator, value: ExternalInput) -> None:
    """Raise ``InvalidIndicatorInput`` unless ``value`` is acceptable for ``indicator``.

    Called by ``score_peers`` and meant for the API too, before an input is stored.
    """
    expected = input_kind(indicator)
    if expected is None:
        raise _input_error(
            indicator,
            "NOT_EXTERNAL",
            "由平台计算，不可录入",
            "is computed by the platform and cannot be recorded",
            "indicator",
        )
    if not isinstance(value, expected):
        raise _input_error(
            indicator,
            "WRONG_INPUT_KIND",
            f"应录入 {expected.__name__}",
            f"expects a {expected.__name__}",
            "input",
        )
    maximum = Fraction(indicator.points)
    if isinstance(value, PointsInput):
        if _amount(indicator, value.points, "points") > maximum:
            raise _input_error(
                indicator,
                "ABOVE_MAXIMUM",
                f"得分超过满分 {indicator.points}",
                f"points above the maximum {indicator.points}",
                "points",
            )
    elif isinstance(value, ChecksInput):
        assert isinstance(indicator.rule, ChecksRule)
        known = set(indicator.rule.check_keys())
        for key, met in value.met.items():
            if key not in known:
                raise _input_error(
                    indicator, "UNKNOWN_CHECK", f"未知检查项 {key}", f"unknown check {key}", key
                )
            if not isinstance(met, bool):
                raise _input_error(
                    indicator, "NOT_A_BOOLEAN", "应为是/否", "must be true or false", key
                )
        for key in indicator.rule.check_keys():
            if key not in value.met:
                raise _input_error(
                    indicator, "MISSING_CHECK", f"缺少检查项 {key}", f"check {key} missing", key
                )
    elif isinstance(value, RateInput):
        assert indicator.rate is not None
        numerator = _amount(indicator, value.numerator, indicator.rate.numerator)
        denominator = (
            Fraction(0)
            if value.denominator is None
            else _amount(indicator, value.denominator, indicator.rate.denominator)
        )
        if numerator > 0 and denominator == 0:
            raise _input_error(
                indicator,
                "NUMERATOR_WITHOUT_DENOMINATOR",
                f"{indicator.rate.numerator} 大于 0，但 {indicator.rate.denominator} 为 0 或未录入",
                f"{indicator.rate.numerator} is positive but "
                f"{indicator.rate.denominator} is 0 or missing",
                indicator.rate.denominator,
            )
    else:  # RankInput
        if isinstance(value.rank, bool) or not isinstance(value.rank, int):
            raise _input_error(
                indicator, "NOT_A_NUMBER", "名次应为整数", "rank must be an integer", "rank"
            )
        if value.rank < 1:
            raise _input_error(
                indicator, "RANK_BELOW_ONE", "名次应不小于 1", "rank must be 1 or more", "rank"
            )
