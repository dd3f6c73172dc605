"""Scoring schemes are data: ``closedloop/data/schemes/*.json`` loaded into typed dataclasses.

A scheme file keeps its transcription (free-text ``formula`` / ``scoring``) for people and
adds machine-readable fields for the code: ``source``, ``rate`` (named counters),
``rule``, ``when_empty`` / ``when_missing`` and the scheme-level ``satisfied_grades``.
The prose is never parsed. Files are keyed by their ``scheme`` field, not their name, and
are validated on load so a broken file fails at start-up, not in the middle of a score.

Only this module does I/O (reading the package data, and the files of the folder named by
``CLOSEDLOOP_SCHEME_DIR``: ``use_scheme_directory``); ``scoring`` is pure.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

DEFAULT_SCHEME = "HUZHOU_2024"


@dataclass(frozen=True, slots=True)
class Label:
    """A Chinese (zh-CN, the default) and an English wording of the same thing."""

    zh: str
    en: str


# The four rating grades of ``catalog.json`` → rating_grades, best first. Mirrored here so
# the scoring layer stays free of I/O; a test checks the two agree.
RATING_GRADES: Mapping[str, Label] = MappingProxyType(
    {
        "SATISFIED": Label("满意", "Satisfied"),
        "FAIRLY_SATISFIED": Label("比较满意", "Fairly satisfied"),
        "BASICALLY_SATISFIED": Label("基本满意", "Basically satisfied"),
        "UNSATISFIED": Label("不满意", "Unsatisfied"),
    }
)

# Counters the database layer supplies per target and period (see ``scoring.Counters``).
BASE_COUNTERS: Mapping[str, Label] = MappingProxyType(
    {
        "total": Label("问题总数", "issues in total"),
        "proactive": Label("主动发现问题数", "proactively discovered issues"),
        "handled": Label("办理问题总数", "issues handled"),
        "resolved": Label("办结问题数", "issues resolved"),
        "overdue_resolved": Label("超时办结问题数", "issues resolved after their time limit"),
        "recurred": Label("问题解决后重发复发数", "resolved issues that recurred"),
        "responded_on_time": Label("按时响应数", "issues accepted and assigned in time"),
        "unrated_resolved": Label("未评价办结数", "resolved issues left unrated"),
    }
)

# Counters derived from the ratings by grade and the scheme's satisfied grades.
DERIVED_COUNTERS: Mapping[str, Label] = MappingProxyType(
    {
        "rated": Label("评价总数", "rated issues"),
        "satisfied_ratings": Label("满意数", "ratings in the satisfied grades"),
        "good_ratings": Label("好评数（含未评价）", "good ratings (satisfied or unrated)"),
        # Every rated resolution and every resolved issue left unrated, each once.
        "resolutions": Label("参评办结数", "resolutions rated or left unrated"),
    }
)

COUNTER_LABELS: Mapping[str, Label] = MappingProxyType({**BASE_COUNTERS, **DERIVED_COUNTERS})
COUNTER_NAMES: frozenset[str] = frozenset(COUNTER_LABELS)


class ScoringError(ValueError):
    """Base of every expected scoring failure: a stable ``code`` and a zh/en message."""

    def __init__(
        self,
        code: str,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        indicator: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.label = Label(zh, en)
        self.field = field
        self.indicator = indicator

    @property
    def zh(self) -> str:
        return self.label.zh

    @property
    def en(self) -> str:
        return self.label.en


class UnknownScheme(ScoringError):
    def __init__(self, key: str) -> None:
        super().__init__(
            "UNKNOWN_SCHEME",
            f"未知的评价方案：{key}",
            f"unknown scoring scheme: {key}",
            field="scheme",
        )
        self.key = key


class UnknownIndicator(ScoringError):
    def __init__(self, scheme: str, key: str) -> None:
        super().__init__(
            "UNKNOWN_INDICATOR",
            f"评价方案 {scheme} 中没有指标 {key}",
            f"scheme {scheme} has no indicator {key}",
            field="indicator",
            indicator=key,
        )


class InvalidScheme(ScoringError):
    def __init__(self, origin: str, detail_zh: str, detail_en: str) -> None:
        super().__init__(
            "INVALID_SCHEME",
            f"评价方案文件 {origin} 无效：{detail_zh}",
            f"invalid scoring scheme {origin}: {detail_en}",
        )
        self.origin = origin


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


# --- parsing -------------------------------------------------------------------------------


class _Reader:
    """Typed access to untyped JSON, with errors that say where the problem is."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, zh: str, en: str) -> InvalidScheme:
        return InvalidScheme(self.origin, f"{where}：{zh}", f"{where}: {en}")

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


def parse_scheme(data: Mapping[str, Any], *, origin: str = "<data>") -> Scheme:
    """Validate one decoded scheme document (numbers as ``int`` or ``Decimal``)."""
    r = _Reader(origin)
    data = r.obj(data, "scheme")
    key = r.text(data, "scheme", "scheme")
    label = r.label(data, "scheme")

    raw_indicators = data.get("indicators")
    if not isinstance(raw_indicators, list) or not raw_indicators:
        raise r.fail("indicators", "应为非空列表", "expected a non-empty list")
    indicators = tuple(
        _parse_indicator(r, r.obj(item, f"indicators[{n}]"), f"indicators[{n}]")
        for n, item in enumerate(raw_indicators)
    )
    keys = [i.key for i in indicators]
    if len(set(keys)) != len(keys):
        raise r.fail("indicators", "指标键重复", "duplicate indicator keys")

    max_total = r.required_number(data, "max_total", "scheme")
    if sum((i.points for i in indicators), Decimal(0)) != max_total:
        raise r.fail(
            "max_total", "与各指标分值之和不符", "does not equal the sum of the indicator points"
        )

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

    rating_count: RatingCount = r.enum(RatingCount, data.get("rating_count"), "rating_count")

    raw_adjustments = r.obj(data.get("adjustments", {}), "adjustments")
    adjustments = tuple(
        Adjustment(
            key=adj_key,
            label=r.label(r.obj(adj, f"adjustments.{adj_key}"), f"adjustments.{adj_key}"),
            points_each=r.required_number(adj, "points_each", f"adjustments.{adj_key}"),
            what=Label(str(adj.get("what_zh", adj.get("what", ""))), str(adj.get("what", ""))),
        )
        for adj_key, adj in raw_adjustments.items()
    )

    total_floor = r.number(data, "total_floor", "scheme", optional=True)
    total_cap = r.number(data, "total_cap", "scheme", optional=True)
    floor = Decimal(0) if total_floor is None else total_floor
    if total_cap is not None and total_cap < floor:
        raise r.fail("total_cap", "低于 total_floor", "is below total_floor")

    return Scheme(
        key=key,
        label=label,
        max_total=max_total,
        satisfied_grades=frozenset(grades),
        rating_count=rating_count,
        indicators=indicators,
        adjustments=adjustments,
        total_floor=floor,
        total_cap=total_cap,
    )


def _decode(text: str) -> Any:
    # Decimal for every non-integer so 0.1 stays exactly 0.1.
    return json.loads(text, parse_float=Decimal)


# Folders of further scheme files (the operator's ``CLOSEDLOOP_SCHEME_DIR``), set at start.
_FOLDERS: list[Path] = []


def use_scheme_directory(folder: Path | None) -> tuple[str, ...]:
    """Serve the shipped schemes and those of ``folder`` (its ``*.json`` files), every file
    parsed now: a broken one raises ``InvalidScheme`` naming it, so start-up stops."""
    _FOLDERS[:] = [] if folder is None else [folder]
    _registry.cache_clear()
    if folder is not None and not folder.is_dir():
        raise InvalidScheme(str(folder), "目录不存在", "no such directory")
    return available_schemes()


@cache
def _registry() -> Mapping[str, Scheme]:
    schemes: dict[str, Scheme] = {}
    for folder in (resources.files("closedloop") / "data" / "schemes", *_FOLDERS):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".json") or not entry.is_file():
                continue
            origin = entry.name if folder not in _FOLDERS else str(entry)
            scheme = scheme_from_json(entry.read_text("utf-8"), origin=origin)
            if scheme.key in schemes:
                raise InvalidScheme(
                    origin, f"方案键 {scheme.key} 重复", f"duplicate key {scheme.key}"
                )
            schemes[scheme.key] = scheme
    return MappingProxyType(schemes)


def scheme_from_json(text: str, *, origin: str = "<data>") -> Scheme:
    """A scheme document as JSON text, validated (``InvalidScheme`` when it is not one)."""
    try:
        document = _decode(text)
    except ValueError as exc:
        raise InvalidScheme(origin, f"不是 JSON：{exc}", f"not JSON: {exc}") from exc
    return parse_scheme(document, origin=origin)


def available_schemes() -> tuple[str, ...]:
    """Keys of every shipped scheme, sorted."""
    return tuple(sorted(_registry()))


def load_scheme(key: str = DEFAULT_SCHEME) -> Scheme:
    """The shipped scheme with this ``scheme`` key; ``UnknownScheme`` otherwise."""
    try:
        return _registry()[key]
    except KeyError:
        raise UnknownScheme(key) from None
