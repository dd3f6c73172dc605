"""A scheme document (decoded JSON) checked and turned into a ``Scheme``: every rule about
what a valid scheme is lives here, with errors that say where the problem is."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from closedloop.domain.schemes.errors import InvalidScheme, SchemeProblem
from closedloop.domain.schemes.model import (
    Adjustment,
    Check,
    ChecksRule,
    DeductPerPointRule,
    Direction,
    EmptyPolicy,
    ExternalPointsRule,
    Gap,
    Indicator,
    RankRule,
    RateSpec,
    RatingCount,
    Rule,
    RuleKind,
    Scheme,
    Source,
)
from closedloop.domain.schemes.vocabulary import COUNTER_NAMES, RATING_GRADES, Label

T = TypeVar("T")

# At most this many problems are listed (the API's answer has a bounded size).
MAX_PROBLEMS = 50


class _Reader:
    """Typed access to untyped JSON, with errors that say where the problem is."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, zh: str, en: str) -> InvalidScheme:
        problem = SchemeProblem(where, Label(zh, en))
        return InvalidScheme(self.origin, f"{where}：{zh}", f"{where}: {en}", problems=(problem,))

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, "应为对象", "expected an object")
        return value

    def text(
        self, data: Mapping[str, Any], name: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where}.{name}", "应为非空字符串", "expected a non-empty string")
        return value

    def number(
        self, data: Mapping[str, Any], name: str, where: str, *, optional: bool = False
    ) -> Decimal | None:
        value = data.get(name)
        if value is None and optional:
            return None
        # bool is an int subclass; floats never appear because of parse_float=Decimal.
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.fail(f"{where}.{name}", "应为数字", "expected a number")
        number = Decimal(value)
        if not number.is_finite():
            raise self.fail(f"{where}.{name}", "应为有限数字", "expected a finite number")
        return number

    def required_number(self, data: Mapping[str, Any], name: str, where: str) -> Decimal:
        number = self.number(data, name, where)
        assert number is not None  # optional=False never returns None
        return number

    def label(self, data: Mapping[str, Any], where: str, zh: str = "zh", en: str = "en") -> Label:
        return Label(self.text(data, zh, where), self.text(data, en, where))

    def enum(self, kind: type[enum.StrEnum], value: Any, where: str) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise self.fail(where, f"应为 {allowed} 之一", f"expected one of {allowed}") from None


def _parse_rule(r: _Reader, data: Mapping[str, Any], where: str) -> Rule:
    kind: RuleKind = r.enum(RuleKind, data.get("kind"), f"{where}.kind")
    if kind is RuleKind.DEDUCT_PER_POINT:
        target = r.required_number(data, "target", where)
        per_point = r.required_number(data, "per_point", where)
        if not Decimal(0) <= target <= Decimal(100):
            raise r.fail(f"{where}.target", "应在 0..100 之间", "expected a percentage 0..100")
        if per_point < 0:
            raise r.fail(f"{where}.per_point", "不能为负", "must not be negative")
        return DeductPerPointRule(
            target=target,
            direction=r.enum(Direction, data.get("direction"), f"{where}.direction"),
            per_point=per_point,
            gap=r.enum(Gap, data.get("gap", Gap.EXACT.value), f"{where}.gap"),
        )
    if kind is RuleKind.RANK:
        first = r.required_number(data, "first", where)
        step = r.required_number(data, "step", where)
        if first < 0 or step < 0:
            raise r.fail(where, "first/step 不能为负", "first and step must not be negative")
        direction = data.get("direction")
        return RankRule(
            first=first,
            step=step,
            direction=None if direction is None else r.enum(Direction, direction, where),
        )
    if kind is RuleKind.CHECKS:
        raw_checks = data.get("checks")
        if not isinstance(raw_checks, list) or not raw_checks:
            raise r.fail(f"{where}.checks", "应为非空列表", "expected a non-empty list")
        checks: list[Check] = []
        for n, raw_check in enumerate(raw_checks):
            check_where = f"{where}.checks[{n}]"
            check = r.obj(raw_check, check_where)
            checks.append(Check(r.text(check, "key", check_where), r.label(check, check_where)))
        if len({c.key for c in checks}) != len(checks):
            raise r.fail(f"{where}.checks", "检查项重复", "duplicate check keys")
        count = r.number(data, "count", where, optional=True)
        if count is not None and count != len(checks):
            raise r.fail(f"{where}.count", "与检查项数量不符", "does not match the checks listed")
        per_failed = r.required_number(data, "per_failed", where)
        if per_failed < 0:
            raise r.fail(f"{where}.per_failed", "不能为负", "must not be negative")
        return ChecksRule(checks=tuple(checks), per_failed=per_failed)
    return ExternalPointsRule()


def _parse_indicator(r: _Reader, data: Mapping[str, Any], where: str) -> Indicator:
    key = r.text(data, "key", where)
    where = f"indicators[{key}]"
    points = r.required_number(data, "points", where)
    if points <= 0:
        raise r.fail(f"{where}.points", "应大于 0", "must be positive")
    source: Source = r.enum(Source, data.get("source"), f"{where}.source")
    rule = _parse_rule(r, r.obj(data.get("rule"), f"{where}.rule"), f"{where}.rule")
    rate: RateSpec | None = None
    if data.get("rate") is not None:
        raw_rate = r.obj(data["rate"], f"{where}.rate")
        rate = RateSpec(
            r.text(raw_rate, "numerator", f"{where}.rate"),
            r.text(raw_rate, "denominator", f"{where}.rate"),
        )
        if source is Source.PLATFORM:
            for name in (rate.numerator, rate.denominator):
                if name not in COUNTER_NAMES:
                    raise r.fail(
                        f"{where}.rate",
                        f"未知计数项 {name}",
                        f"unknown counter {name} (known: {', '.join(sorted(COUNTER_NAMES))})",
                    )

    # Which rules make sense with which source and rate: checked here so scoring never has
    # to guess.
    if isinstance(rule, DeductPerPointRule) and rate is None:
        raise r.fail(where, "按百分点扣分需要 rate", "deduct_per_point needs a rate")
    if isinstance(rule, RankRule):
        if source is Source.PLATFORM and (rate is None or rule.direction is None):
            raise r.fail(
                where,
                "平台排名指标需要 rate 和 direction",
                "a platform rank rule needs a rate and a direction",
            )
        if source is Source.EXTERNAL and rate is not None:
            raise r.fail(where, "外部排名指标不应有 rate", "an external rank rule takes no rate")
        if rule.first > points:
            raise r.fail(f"{where}.rule.first", "超过指标分值", "exceeds the indicator's points")
    if isinstance(rule, ChecksRule | ExternalPointsRule) and (
        source is not Source.EXTERNAL or rate is not None
    ):
        raise r.fail(
            where,
            "该规则仅用于无 rate 的外部指标",
            f"{rule.kind.value} is for external indicators without a rate",
        )
    if source is Source.PLATFORM and not isinstance(rule, DeductPerPointRule | RankRule):
        raise r.fail(where, "平台指标须由比率计算", "a platform indicator must be rate-based")

    provider = data.get("provider")
    return Indicator(
        key=key,
        label=r.label(data, where),
        group=Label(r.text(data, "group", where), r.text(data, "group_en", where)),
        points=points,
        source=source,
        rule=rule,
        rate=rate,
        when_empty=r.enum(EmptyPolicy, data.get("when_empty", "full_points"), where),
        when_missing=r.enum(EmptyPolicy, data.get("when_missing", "zero_points"), where),
        provider=None if provider is None else r.label(r.obj(provider, where), f"{where}.provider"),
        formula=str(data.get("formula", "")),
        scoring=str(data.get("scoring", "")),
    )


class _Problems:
    """Every problem of a document, each part that can be checked on its own checked: an
    indicator (up to its first problem), the total, the grades, each adjustment..."""

    def __init__(self) -> None:
        self.found: list[SchemeProblem] = []

    def attempt(self, part: Callable[[], T]) -> T | None:
        try:
            return part()
        except InvalidScheme as exc:
            self.found.extend(exc.problems)
            return None


def _grades(r: _Reader, data: Mapping[str, Any]) -> frozenset[str]:
    grades = data.get("satisfied_grades")
    if not isinstance(grades, list) or not grades:
        raise r.fail("satisfied_grades", "应为非空列表", "expected a non-empty list")
    for grade in grades:
        if grade not in RATING_GRADES:
            raise r.fail(
                "satisfied_grades",
                f"未知评价档次 {grade}",
                f"unknown rating grade {grade} (known: {', '.join(RATING_GRADES)})",
            )
    return frozenset(grades)


def _adjustment(r: _Reader, adj_key: str, raw: Any) -> Adjustment:
    where = f"adjustments.{adj_key}"
    adj = r.obj(raw, where)
    return Adjustment(
        key=adj_key,
        label=r.label(adj, where),
        points_each=r.required_number(adj, "points_each", where),
        what=Label(str(adj.get("what_zh", adj.get("what", ""))), str(adj.get("what", ""))),
    )


def _bounds(r: _Reader, data: Mapping[str, Any]) -> tuple[Decimal, Decimal | None]:
    total_floor = r.number(data, "total_floor", "scheme", optional=True)
    total_cap = r.number(data, "total_cap", "scheme", optional=True)
    floor = Decimal(0) if total_floor is None else total_floor
    if total_cap is not None and total_cap < floor:
        raise r.fail("total_cap", "低于 total_floor", "is below total_floor")
    return floor, total_cap


def _indicators(
    r: _Reader, data: Mapping[str, Any], problems: _Problems
) -> tuple[Indicator, ...] | None:
    """The indicators, each checked; None when any is wrong (its problem is recorded)."""
    raw_indicators = data.get("indicators")
    if not isinstance(raw_indicators, list) or not raw_indicators:
        raise r.fail("indicators", "应为非空列表", "expected a non-empty list")
    parsed = [
        problems.attempt(
            lambda n=n, item=item: _parse_indicator(  # type: ignore[misc]
                r, r.obj(item, f"indicators[{n}]"), f"indicators[{n}]"
            )
        )
        for n, item in enumerate(raw_indicators)
    ]
    indicators = tuple(i for i in parsed if i is not None)
    if len(indicators) != len(parsed):
        return None
    keys = [i.key for i in indicators]
    if len(set(keys)) != len(keys):
        raise r.fail("indicators", "指标键重复", "duplicate indicator keys")
    return indicators


def _max_total(
    r: _Reader, data: Mapping[str, Any], indicators: tuple[Indicator, ...] | None
) -> Decimal:
    max_total = r.required_number(data, "max_total", "scheme")
    if indicators is not None and sum((i.points for i in indicators), Decimal(0)) != max_total:
        raise r.fail(
            "max_total", "与各指标分值之和不符", "does not equal the sum of the indicator points"
        )
    return max_total


def parse_scheme(data: Mapping[str, Any], *, origin: str = "<data>") -> Scheme:
    """Validate one decoded scheme document (numbers as ``int`` or ``Decimal``). When it is
    not valid, ``InvalidScheme`` names the first problem and lists them all."""
    r = _Reader(origin)
    data = r.obj(data, "scheme")
    problems = _Problems()
    key = problems.attempt(lambda: r.text(data, "scheme", "scheme"))
    label = problems.attempt(lambda: r.label(data, "scheme"))
    indicators = problems.attempt(lambda: _indicators(r, data, problems))
    max_total = problems.attempt(lambda: _max_total(r, data, indicators))
    grades = problems.attempt(lambda: _grades(r, data))
    rating_count: RatingCount | None = problems.attempt(
        lambda: r.enum(RatingCount, data.get("rating_count"), "rating_count")
    )
    raw_adjustments = problems.attempt(lambda: r.obj(data.get("adjustments", {}), "adjustments"))
    adjustments = tuple(
        problems.attempt(lambda k=k, v=v: _adjustment(r, k, v))  # type: ignore[misc]
        for k, v in (raw_adjustments or {}).items()
    )
    bounds = problems.attempt(lambda: _bounds(r, data))

    if problems.found:
        first = problems.found[0]
        where = first.path or "scheme"
        raise InvalidScheme(
            origin,
            f"{where}：{first.label.zh}",
            f"{where}: {first.label.en}",
            problems=tuple(problems.found[:MAX_PROBLEMS]),
        )
    assert key is not None and label is not None and indicators is not None
    assert max_total is not None and grades is not None and rating_count is not None
    assert bounds is not None
    return Scheme(
        key=key,
        label=label,
        max_total=max_total,
        satisfied_grades=grades,
        rating_count=rating_count,
        indicators=indicators,
        adjustments=tuple(a for a in adjustments if a is not None),
        total_floor=bounds[0],
        total_cap=bounds[1],
    )


def _decode(text: str) -> Any:
    # Decimal for every non-integer so 0.1 stays exactly 0.1.
    return json.loads(text, parse_float=Decimal)


def scheme_from_json(text: str, *, origin: str = "<data>") -> Scheme:
    """A scheme document as JSON text, validated (``InvalidScheme`` when it is not one)."""
    try:
        document = _decode(text)
    except ValueError as exc:
        raise InvalidScheme(origin, f"不是 JSON：{exc}", f"not JSON: {exc}") from exc
    return parse_scheme(document, origin=origin)
