"""Scoring worked by hand from the scheme rules; the arithmetic is in the comments.

Huzhou rules (closedloop/data/schemes/huzhou_2024.json):
  PROACTIVE_DISCOVERY_RATE   5  proactive/total, rank among peers: 5 − 0.1 × (rank − 1)
  OVERDUE_RESOLUTION_RATE   10  overdue_resolved/handled: 10 − 0.1 × rate
  RESOLUTION_RATE           15  resolved/handled: 15 − 0.1 × (100 − rate)
  RECURRENCE_RATE           10  recurred/resolved: 10 − 0.1 × rate
  SATISFACTION_RATE         10  good_ratings/resolved: 10 − 0.1 × (100 − rate)
  ENTERPRISE_REVIEW         10  external points 0..10
  INVESTMENT_APPROVAL_TIMEL 10  four checks: 10 − 2 × failed
  POLICY_FULFILMENT_RATE    10  paid/budgeted: 10 − 0.1 × (100 − rate)
  PERSONALIZED              20  external rank: 20 − 0.5 × (rank − 1)
  RED_LIST +1 each, BLACK_LIST −1 each; floors at 0; points rounded to 2 decimals half-up.
"""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from typing import Any

import pytest

from closedloop.domain.schemes import (
    BASE_COUNTERS,
    DEFAULT_SCHEME,
    RATING_GRADES,
    ChecksRule,
    DeductPerPointRule,
    Direction,
    ExternalPointsRule,
    InvalidScheme,
    Label,
    RankRule,
    Scheme,
    ScoringError,
    Source,
    UnknownIndicator,
    UnknownScheme,
    available_schemes,
    load_scheme,
    parse_scheme,
)
from closedloop.domain.scoring import (
    ChecksInput,
    Counters,
    InvalidCounters,
    InvalidIndicatorInput,
    PointsInput,
    RankInput,
    RateInput,
    ResultStatus,
    Scoreboard,
    TargetInputs,
    competition_ranks,
    input_kind,
    rate_of,
    round_half_up,
    score_peers,
    validate_external_input,
)

D = Decimal
ALL_CHECKS = ("ON_PLATFORM", "ONLINE_APPLICATION", "SYSTEMS_CONNECTED", "ONLINE_APPROVAL")


def huzhou() -> Scheme:
    return load_scheme("HUZHOU_2024")


def raw_scheme(filename: str) -> dict[str, Any]:
    path = resources.files("closedloop") / "data" / "schemes" / filename
    data: dict[str, Any] = json.loads(path.read_text("utf-8"), parse_float=Decimal)
    return data


def huzhou_variant(**changes: Any) -> Scheme:
    """The Huzhou file with some top-level fields replaced: a new scheme is just data."""
    data = copy.deepcopy(raw_scheme("huzhou_2024.json"))
    data.update(changes)
    data["scheme"] = "HUZHOU_VARIANT"
    return parse_scheme(data, origin="variant")


def all_checks(*failed: str) -> ChecksInput:
    return ChecksInput({key: key not in failed for key in ALL_CHECKS})


# Department A: a decent department with every input recorded.
A_COUNTERS = Counters(
    total=40,
    proactive=10,
    handled=40,
    resolved=36,
    overdue_resolved=3,
    recurred=2,
    responded_on_time=38,
    unrated_resolved=4,
    ratings={"SATISFIED": 20, "FAIRLY_SATISFIED": 6, "BASICALLY_SATISFIED": 4, "UNSATISFIED": 2},
)
A = TargetInputs(
    counters=A_COUNTERS,
    external={
        "ENTERPRISE_REVIEW": PointsInput(D("8.5")),
        "INVESTMENT_APPROVAL_TIMELINESS": all_checks("SYSTEMS_CONNECTED"),
        "POLICY_FULFILMENT_RATE": RateInput(D("450000.00"), D("500000.00")),
        "PERSONALIZED": RankInput(3),
    },
)

# Department B: perfect on the platform, over-paid its policy budget, two red-list entries.
B_COUNTERS = Counters(
    total=50,
    proactive=5,
    handled=50,
    resolved=50,
    responded_on_time=50,
    ratings={"SATISFIED": 50},
)
B = TargetInputs(
    counters=B_COUNTERS,
    external={
        "ENTERPRISE_REVIEW": PointsInput(10),
        "INVESTMENT_APPROVAL_TIMELINESS": all_checks(),
        "POLICY_FULFILMENT_RATE": RateInput(1_000_000, 800_000),
        "PERSONALIZED": RankInput(1),
    },
    adjustments={"RED_LIST": 2},
)

# Department C: weak, no external input recorded yet, three black-list entries.
C = TargetInputs(
    counters=Counters(
        total=20,
        proactive=5,
        handled=20,
        resolved=10,
        overdue_resolved=10,
        recurred=1,
        ratings={"BASICALLY_SATISFIED": 5, "UNSATISFIED": 5},
    ),
    adjustments={"BLACK_LIST": 3},
)


def board() -> Scoreboard:
    return score_peers(huzhou(), {"A": A, "B": B, "C": C})


# --- schemes -------------------------------------------------------------------------------


def test_available_and_default_schemes() -> None:
    assert available_schemes() == ("HOTLINE_12345", "HUZHOU_2024")
    assert DEFAULT_SCHEME == "HUZHOU_2024"
    assert load_scheme() is load_scheme("HUZHOU_2024")  # cached, loaded once


def test_unknown_scheme_is_a_typed_error() -> None:
    with pytest.raises(UnknownScheme) as caught:
        load_scheme("SHANGHAI_2030")
    assert caught.value.code == "UNKNOWN_SCHEME"
    assert caught.value.key == "SHANGHAI_2030"
    assert "SHANGHAI_2030" in caught.value.zh
    assert "SHANGHAI_2030" in caught.value.en
    with pytest.raises(UnknownIndicator):
        huzhou().indicator("NOPE")


def test_huzhou_keeps_every_transcribed_fact() -> None:
    scheme = huzhou()
    table = [
        (i.key, i.label.zh, i.group.zh, int(i.points), i.source, i.rule.kind.value)
        for i in scheme.indicators
    ]
    assert table == [
        ("PROACTIVE_DISCOVERY_RATE", "主动发现率", "问题发现", 5, Source.PLATFORM, "rank"),
        ("OVERDUE_RESOLUTION_RATE", "超时办结率", "高效处置", 10, Source.PLATFORM,
         "deduct_per_point"),
        ("RESOLUTION_RATE", "问题办结率", "高效处置", 15, Source.PLATFORM, "deduct_per_point"),
        ("RECURRENCE_RATE", "重发复发率", "举一反三", 10, Source.PLATFORM, "deduct_per_point"),
        ("SATISFACTION_RATE", "企业满意率", "满意度评价", 10, Source.PLATFORM,
         "deduct_per_point"),
        ("ENTERPRISE_REVIEW", "万家民企评部门（基层评价、第三方评价）", "满意度评价", 10,
         Source.EXTERNAL, "external_points"),
        ("INVESTMENT_APPROVAL_TIMELINESS", "投资项目审批时效度", "满意度评价", 10,
         Source.EXTERNAL, "checks"),
        ("POLICY_FULFILMENT_RATE", "政策兑现率", "满意度评价", 10, Source.EXTERNAL,
         "deduct_per_point"),
        ("PERSONALIZED", "个性指标", "个性指标", 20, Source.EXTERNAL, "rank"),
    ]  # fmt: skip
    assert scheme.max_total == 100 == sum(i.points for i in scheme.indicators)
    for indicator in scheme.indicators:
        assert indicator.label.en and indicator.group.en and indicator.provider is not None
        assert indicator.formula and indicator.scoring  # the prose stays, unparsed
    rates = {i.key: (i.rate.numerator, i.rate.denominator) for i in scheme.indicators if i.rate}
    assert rates == {
        "PROACTIVE_DISCOVERY_RATE": ("proactive", "total"),
        "OVERDUE_RESOLUTION_RATE": ("overdue_resolved", "handled"),
        "RESOLUTION_RATE": ("resolved", "handled"),
        "RECURRENCE_RATE": ("recurred", "resolved"),
        "SATISFACTION_RATE": ("good_ratings", "resolutions"),
        "POLICY_FULFILMENT_RATE": ("policy_funds_paid", "policy_funds_budgeted"),
    }
    proactive = scheme.indicator("PROACTIVE_DISCOVERY_RATE").rule
    assert proactive == RankRule(D(5), D("0.1"), Direction.HIGHER_IS_BETTER)
    assert scheme.indicator("PERSONALIZED").rule == RankRule(D(20), D("0.5"), None)
    overdue = scheme.indicator("OVERDUE_RESOLUTION_RATE").rule
    assert isinstance(overdue, DeductPerPointRule)
    assert (overdue.target, overdue.direction, overdue.per_point) == (
        D(0),
        Direction.LOWER_IS_BETTER,
        D("0.1"),  # exactly 0.1: numbers are read as Decimal
    )
    checks = scheme.indicator("INVESTMENT_APPROVAL_TIMELINESS").rule
    assert isinstance(checks, ChecksRule)
    assert checks.check_keys() == ALL_CHECKS and checks.per_failed == 2
    assert [c.label.zh for c in checks.checks] == [
        "100%应用平台", "100%网上申报", "100%系统打通", "100%网上审批",
    ]  # fmt: skip
    assert isinstance(scheme.indicator("ENTERPRISE_REVIEW").rule, ExternalPointsRule)
    adjustments = {a.key: (a.label.zh, int(a.points_each)) for a in scheme.adjustments}
    assert adjustments == {"RED_LIST": ("红榜", 1), "BLACK_LIST": ("黑榜", -1)}
    assert scheme.total_floor == 0 and scheme.total_cap is None

    raw = raw_scheme("huzhou_2024.json")
    assert raw["seed_figures"]["huzhou_issue_library"] == 8552
    assert raw["seed_figures"]["quzhou_satisfaction"] == D("99.2")
    sources = [i["source_text"] for i in raw["indicators"]]
    assert sources[:5] == ["platform"] * 5
    assert sources[5] == "external input (市直机关工委等)"
    assert "满意、基本满意2档" in raw["indicators"][4]["formula"]


def test_rating_grades_mirror_the_catalog() -> None:
    path = resources.files("closedloop") / "data" / "catalog.json"
    catalog = json.loads(path.read_text("utf-8"))
    assert [(g["key"], g["zh"]) for g in catalog["rating_grades"]] == [
        (key, label.zh) for key, label in RATING_GRADES.items()
    ]


def test_counter_names_match_the_counters_dataclass() -> None:
    int_fields = {f.name for f in fields(Counters) if f.name != "ratings"}
    assert int_fields == set(BASE_COUNTERS)


def test_default_satisfied_grades_are_all_but_unsatisfied() -> None:
    # The literal text names 满意 and 基本满意 but not 比较满意, which sits between them;
    # the default counts the whole range. The literal set stays documented in the file.
    assert huzhou().satisfied_grades == {"SATISFIED", "FAIRLY_SATISFIED", "BASICALLY_SATISFIED"}
    note = raw_scheme("huzhou_2024.json")["satisfied_grades_note"]
    assert note["literal_reading"] == ["SATISFIED", "BASICALLY_SATISFIED"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"satisfied_grades": ["SATISFIED", "DELIGHTED"]}, "DELIGHTED"),
        ({"satisfied_grades": []}, "satisfied_grades"),
        ({"max_total": 90}, "max_total"),
        ({"total_cap": -5}, "total_cap"),
    ],
)
def test_invalid_scheme_documents(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidScheme) as caught:
        huzhou_variant(**change)
    assert caught.value.code == "INVALID_SCHEME"
    assert fragment in caught.value.en and fragment in caught.value.zh


@pytest.mark.parametrize(
    ("index", "path", "value", "fragment"),
    [
        (0, ("rate", "numerator"), "complaints", "unknown counter complaints"),
        (0, ("rule", "kind"), "lottery", "expected one of"),
        (0, ("rule", "direction"), None, "needs a rate and a direction"),
        (2, ("rule", "per_point"), -1, "must not be negative"),
        (2, ("rule", "target"), 120, "0..100"),
        (5, ("source",), "PLATFORM", "for external indicators"),
        (6, ("rule", "count"), 5, "does not match"),
        (8, ("rule", "first"), 25, "exceeds"),
    ],
)
def test_invalid_indicator_definitions(
    index: int, path: tuple[str, ...], value: Any, fragment: str
) -> None:
    data = copy.deepcopy(raw_scheme("huzhou_2024.json"))
    node = data["indicators"][index]
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(InvalidScheme) as caught:
        parse_scheme(data, origin="broken.json")
    assert fragment in caught.value.en
    assert "broken.json" in caught.value.en and "broken.json" in caught.value.zh


# --- helpers -------------------------------------------------------------------------------


def test_competition_ranking_shares_ties() -> None:
    values = {"a": Fraction(25), "b": Fraction(10), "c": Fraction(25), "d": Fraction(5)}
    assert competition_ranks(values) == {"a": 1, "c": 1, "b": 3, "d": 4}
    assert competition_ranks(values, higher_is_better=False) == {"d": 1, "b": 2, "a": 3, "c": 3}
    # 1/3 and 2/6 are the same rate exactly, so they tie.
    same = {"x": rate_of(1, 3), "y": rate_of(2, 6)}
    assert competition_ranks({k: v for k, v in same.items() if v is not None}) == {"x": 1, "y": 1}


def test_rounding_is_half_up_to_two_decimals() -> None:
    assert round_half_up(Fraction(13765, 1000)) == D("13.77")  # banker's rounding gives 13.76
    assert round_half_up(Fraction(1, 3)) == D("0.33")
    assert round_half_up(Fraction(2, 3)) == D("0.67")
    assert round_half_up(Fraction(-1, 200)) == D("-0.01")  # half away from zero
    assert str(round_half_up(0)) == "0.00"
    assert rate_of(0, 0) is None
    assert rate_of(1, 3) == Fraction(100, 3)


# --- the Huzhou worked example -------------------------------------------------------------


def test_department_a_every_indicator() -> None:
    a = board()["A"]
    got = {r.key: (r.rate, r.points, r.deduction, r.rank, r.status) for r in a.indicators}
    s = ResultStatus.SCORED
    assert got == {
        # 10/40 = 25 %, ties with C (5/20 = 25 %) for rank 1: 5 − 0.1 × 0 = 5
        "PROACTIVE_DISCOVERY_RATE": (D("25.00"), D("5.00"), D("0.00"), 1, s),
        # 3/40 = 7.5 %: 10 − 0.1 × 7.5 = 9.25; ranks (lower is better): B 0 %, A, C 50 %
        "OVERDUE_RESOLUTION_RATE": (D("7.50"), D("9.25"), D("0.75"), 2, s),
        # 36/40 = 90 %: 15 − 0.1 × 10 = 14
        "RESOLUTION_RATE": (D("90.00"), D("14.00"), D("1.00"), 2, s),
        # 2/36 = 5.555…%: 10 − 0.5555… = 9.4444… → 9.44
        "RECURRENCE_RATE": (D("5.56"), D("9.44"), D("0.56"), 2, s),
        # good = 20 + 6 + 4 satisfied grades + 4 unrated = 34; 34/36 = 94.444…%
        # 10 − 0.1 × 5.555… = 9.4444… → 9.44
        "SATISFACTION_RATE": (D("94.44"), D("9.44"), D("0.56"), 2, s),
        # recorded 8.5 of 10
        "ENTERPRISE_REVIEW": (None, D("8.50"), D("1.50"), None, s),
        # one check of four not met: 10 − 2 × 1 = 8
        "INVESTMENT_APPROVAL_TIMELINESS": (None, D("8.00"), D("2.00"), None, s),
        # 450,000 / 500,000 = 90 %: 10 − 0.1 × 10 = 9
        "POLICY_FULFILMENT_RATE": (D("90.00"), D("9.00"), D("1.00"), 2, s),
        # rank 3: 20 − 0.5 × 2 = 19
        "PERSONALIZED": (None, D("19.00"), D("1.00"), 3, s),
    }
    # 5 + 9.25 + 14 + 9.44 + 9.44 + 8.5 + 8 + 9 + 19 = 91.63, no list entries
    assert a.subtotal == D("91.63")
    assert a.total == D("91.63")
    assert [(x.key, x.count, x.points) for x in a.adjustments] == [
        ("RED_LIST", 0, D(0)),
        ("BLACK_LIST", 0, D(0)),
    ]
    satisfaction = a.indicator("SATISFACTION_RATE")
    assert (satisfaction.numerator, satisfaction.denominator) == (D(34), D(36))


def test_department_b_full_marks_and_red_list() -> None:
    b = board()["B"]
    points = {r.key: r.points for r in b.indicators}
    # 5/50 = 10 % is third behind the two 25 % (competition ranking 1, 1, 3): 5 − 0.1 × 2
    assert b.indicator("PROACTIVE_DISCOVERY_RATE").rank == 3
    assert points["PROACTIVE_DISCOVERY_RATE"] == D("4.80")
    # 1,000,000 / 800,000 = 125 %: above the target earns no more than the 10 points
    policy = b.indicator("POLICY_FULFILMENT_RATE")
    assert (policy.rate, policy.points, policy.deduction) == (D("125.00"), D("10.00"), D(0))
    for key in (
        "OVERDUE_RESOLUTION_RATE",
        "RESOLUTION_RATE",
        "RECURRENCE_RATE",
        "SATISFACTION_RATE",
        "ENTERPRISE_REVIEW",
        "INVESTMENT_APPROVAL_TIMELINESS",
        "PERSONALIZED",
    ):
        assert points[key] == huzhou().indicator(key).points  # full marks
    # 4.8 + 10 + 15 + 10 + 10 + 10 + 10 + 10 + 20 = 99.8; red list 2 × (+1) = 101.8
    assert b.subtotal == D("99.80")
    assert b.adjustment("RED_LIST").points == 2
    assert b.total == D("101.80")  # Huzhou has no total_cap: the bonus may pass 100


def test_department_c_missing_inputs_and_black_list() -> None:
    c = board()["C"]
    got = {r.key: (r.rate, r.points, r.status) for r in c.indicators}
    missing = ResultStatus.MISSING
    assert got == {
        "PROACTIVE_DISCOVERY_RATE": (D("25.00"), D("5.00"), ResultStatus.SCORED),  # rank 1 (tie)
        # 10/20 = 50 %: 10 − 5 = 5
        "OVERDUE_RESOLUTION_RATE": (D("50.00"), D("5.00"), ResultStatus.SCORED),
        # 10/20 = 50 %: 15 − 0.1 × 50 = 10
        "RESOLUTION_RATE": (D("50.00"), D("10.00"), ResultStatus.SCORED),
        # 1/10 = 10 %: 10 − 1 = 9
        "RECURRENCE_RATE": (D("10.00"), D("9.00"), ResultStatus.SCORED),
        # good = 5 basically satisfied; 5/10 = 50 %: 10 − 5 = 5
        "SATISFACTION_RATE": (D("50.00"), D("5.00"), ResultStatus.SCORED),
        # nothing recorded: the scheme's when_missing is zero_points
        "ENTERPRISE_REVIEW": (None, D(0), missing),
        "INVESTMENT_APPROVAL_TIMELINESS": (None, D(0), missing),
        "POLICY_FULFILMENT_RATE": (None, D(0), missing),
        "PERSONALIZED": (None, D(0), missing),
    }
    assert c.indicator("PERSONALIZED").deduction == 20
    # 5 + 5 + 10 + 9 + 5 = 34; black list 3 × (−1) = −3 → 31
    assert (c.subtotal, c.adjustment("BLACK_LIST").points, c.total) == (D(34), D(-3), D(31))


def test_peers_ranked_by_total() -> None:
    result = board()
    assert result.scheme == "HUZHOU_2024"
    assert [(s.target, s.total, s.rank) for s in result.scores] == [
        ("B", D("101.80"), 1),
        ("A", D("91.63"), 2),
        ("C", D("31.00"), 3),
    ]
    assert len(result) == 3


def test_equal_totals_share_a_rank() -> None:
    result = score_peers(huzhou(), {"A": A, "A2": A, "C": C, "C2": C, "B": B})
    assert [(s.target, s.rank) for s in result.scores] == [
        ("B", 1),
        ("A", 2),
        ("A2", 2),
        ("C", 4),
        ("C2", 4),
    ]


def test_satisfied_grade_set_is_scheme_data() -> None:
    literal = huzhou_variant(satisfied_grades=["SATISFIED", "BASICALLY_SATISFIED"])
    a = score_peers(literal, {"A": A}).scores[0].indicator("SATISFACTION_RATE")
    # 比较满意 no longer counts: good = 20 + 4 + 4 unrated = 28; 28/36 = 77.777…%
    # 10 − 0.1 × 22.222… = 7.7777… → 7.78
    assert (a.numerator, a.rate, a.points) == (D(28), D("77.78"), D("7.78"))
    strict = huzhou_variant(satisfied_grades=["SATISFIED"])
    a = score_peers(strict, {"A": A}).scores[0].indicator("SATISFACTION_RATE")
    # good = 20 + 4 unrated = 24; 24/36 = 66.666…%: 10 − 3.333… = 6.666… → 6.67
    assert (a.numerator, a.rate, a.points) == (D(24), D("66.67"), D("6.67"))


def test_unrated_resolved_issues_count_as_good() -> None:
    counters = Counters(total=10, handled=10, resolved=10, unrated_resolved=10)
    result = score_peers(huzhou(), {"X": TargetInputs(counters=counters)}).scores[0]
    satisfaction = result.indicator("SATISFACTION_RATE")
    # 0 ratings + 10 unrated = 10 good of 10 resolved = 100 %: full 10
    assert (satisfaction.numerator, satisfaction.rate, satisfaction.points) == (
        D(10),
        D("100.00"),
        D("10.00"),
    )
    # one unsatisfied rating among them: 9/10 = 90 % → 10 − 1 = 9
    counters = Counters(
        total=10, handled=10, resolved=10, unrated_resolved=9, ratings={"UNSATISFIED": 1}
    )
    result = score_peers(huzhou(), {"X": TargetInputs(counters=counters)}).scores[0]
    assert result.indicator("SATISFACTION_RATE").points == 9


# --- empty denominators, floors, caps, rounding --------------------------------------------


def test_empty_is_not_perfect_unranked_and_scored_as_the_scheme_says() -> None:
    idle = TargetInputs(
        counters=Counters(),
        external={"POLICY_FULFILMENT_RATE": RateInput(0, None)},  # no budget, nothing paid
    )
    result = score_peers(huzhou(), {"A": A, "IDLE": idle})
    e = result["IDLE"]
    # Full points where the plan gives them for something that did not happen, none where
    # it gives them for a rate reached or a place in a ranking.
    expected = {
        "PROACTIVE_DISCOVERY_RATE": (D(0), "问题总数为 0，无可计算数据"),  # 排名第1位得满分
        "OVERDUE_RESOLUTION_RATE": (D(10), "办理问题总数为 0，无可计算数据"),  # 未发生…得满分
        "RESOLUTION_RATE": (D(0), "办理问题总数为 0，无可计算数据"),  # 问题100%解决得满分
        "RECURRENCE_RATE": (D(10), "办结问题数为 0，无可计算数据"),  # 未发生…得满分
        "SATISFACTION_RATE": (
            D(0),
            "参评办结数为 0，无可计算数据",
        ),
        "POLICY_FULFILMENT_RATE": (
            D(0),
            "policy_funds_budgeted 为 0 或未录入，无可计算数据",
        ),
    }
    for key, (points, reason_zh) in expected.items():
        r = e.indicator(key)
        assert r.status is ResultStatus.EMPTY
        assert r.rate is None and r.rank is None
        assert r.points == points and r.deduction == r.max_points - points
        assert r.reason is not None and r.reason.zh == reason_zh
        assert str(r.points)[0] != "-" and str(r.deduction)[0] != "-"
    assert e.indicator("RESOLUTION_RATE").reason == Label(
        "办理问题总数为 0，无可计算数据", "no issues handled: nothing to measure"
    )
    assert e.indicator("ENTERPRISE_REVIEW").reason is not None  # MISSING says why too
    assert result["A"].indicator("SATISFACTION_RATE").reason is None
    # A is alone among the ranked peers now: rank 1
    assert result["A"].indicator("PROACTIVE_DISCOVERY_RATE").rank == 1
    # 10 + 10 (nothing went wrong); the three other externals missing = 0
    assert e.total == 20
    assert result["A"].total > e.total
    zero_budget = score_peers(
        huzhou(),
        {"Z": TargetInputs(external={"POLICY_FULFILMENT_RATE": RateInput(0, 0)})},
    ).scores[0]
    assert zero_budget.indicator("POLICY_FULFILMENT_RATE").status is ResultStatus.EMPTY


def test_no_negative_zero_anywhere() -> None:
    """A black-list adjustment of zero entries is 0, not -0 (points_each is -1)."""
    result = score_peers(huzhou(), {"A": A, "IDLE": TargetInputs()})
    for score in result.scores:
        amounts = [score.subtotal, score.total]
        amounts += [a.points for a in score.adjustments]
        for r in score.indicators:
            amounts += [r.points, r.deduction]
            amounts += [x for x in (r.rate, r.numerator, r.denominator) if x is not None]
        for amount in amounts:
            assert not amount.is_signed() or amount < 0, (score.target, amount)
            assert not str(amount).startswith("-0"), (score.target, amount)
    black = result["IDLE"].adjustment("BLACK_LIST")
    assert (black.count, str(black.points)) == (0, "0")


def test_terrible_overdue_rate_floors_at_zero() -> None:
    counters = Counters(total=8, handled=8, resolved=8, overdue_resolved=8, unrated_resolved=8)
    r = score_peers(huzhou(), {"X": TargetInputs(counters=counters)}).scores[0]
    overdue = r.indicator("OVERDUE_RESOLUTION_RATE")
    # 8/8 = 100 %: 10 − 0.1 × 100 = 0
    assert (overdue.rate, overdue.points, overdue.deduction) == (D("100.00"), D(0), D(10))
    # a harsher variant (1 point per percentage point) would go to 10 − 100 = −90 → floor 0
    data = copy.deepcopy(raw_scheme("huzhou_2024.json"))
    data["indicators"][1]["rule"]["per_point"] = 1
    harsh = parse_scheme(data)
    counters = Counters(total=8, handled=8, resolved=8, overdue_resolved=2, unrated_resolved=8)
    r = score_peers(harsh, {"X": TargetInputs(counters=counters)}).scores[0]
    # 2/8 = 25 %: 10 − 25 = −15 → 0
    assert r.indicator("OVERDUE_RESOLUTION_RATE").points == 0


def test_resolution_rate_rounds_half_up() -> None:
    counters = Counters(total=2000, handled=2000, resolved=1753, unrated_resolved=1753)
    r = score_peers(huzhou(), {"X": TargetInputs(counters=counters)}).scores[0]
    resolution = r.indicator("RESOLUTION_RATE")
    # 1753/2000 = 87.65 %: 15 − 0.1 × 12.35 = 13.765 → 13.77 (half-up)
    assert (resolution.rate, resolution.points, resolution.deduction) == (
        D("87.65"),
        D("13.77"),
        D("1.23"),
    )
    # 0 % resolved: 15 − 0.1 × 100 = 5 (the rule can never reach 0 on its own)
    counters = Counters(total=3, handled=3)
    r = score_peers(huzhou(), {"X": TargetInputs(counters=counters)}).scores[0]
    assert r.indicator("RESOLUTION_RATE").points == 5


def test_whole_point_gap_variant() -> None:
    data = copy.deepcopy(raw_scheme("huzhou_2024.json"))
    data["indicators"][1]["rule"]["gap"] = "whole"
    whole = parse_scheme(data)
    r = score_peers(whole, {"A": A}).scores[0]
    # 7.5 % overdue counts 7 whole points: 10 − 0.7 = 9.3 (the default "exact" gives 9.25)
    assert r.indicator("OVERDUE_RESOLUTION_RATE").points == D("9.30")


def test_proactive_rank_floors_at_zero_with_many_peers() -> None:
    # 60 peers, target Tn has n proactive issues of 100: T60 is rank 1, Tn is rank 61 − n.
    peers = {f"T{n}": TargetInputs(counters=Counters(total=100, proactive=n)) for n in range(1, 61)}
    result = score_peers(huzhou(), peers)

    def proactive(target: str) -> tuple[int | None, Decimal]:
        r = result[target].indicator("PROACTIVE_DISCOVERY_RATE")
        return r.rank, r.points

    assert proactive("T60") == (1, D("5.00"))
    assert proactive("T59") == (2, D("4.90"))  # 5 − 0.1 × 1
    assert proactive("T11") == (50, D("0.10"))  # 5 − 0.1 × 49
    assert proactive("T10") == (51, D("0.00"))  # 5 − 0.1 × 50 = 0
    assert proactive("T1") == (60, D("0.00"))  # 5 − 0.1 × 59 = −0.9 → 0


def test_personalized_rank_floors_at_zero() -> None:
    deep = TargetInputs(external={"PERSONALIZED": RankInput(45)})
    r = score_peers(huzhou(), {"X": deep}).scores[0].indicator("PERSONALIZED")
    # 20 − 0.5 × 44 = −2 → 0
    assert (r.rank, r.points, r.deduction) == (45, D(0), D(20))
    tied = {
        "X": TargetInputs(external={"PERSONALIZED": RankInput(2)}),
        "Y": TargetInputs(external={"PERSONALIZED": RankInput(2)}),
    }
    result = score_peers(huzhou(), tied)
    # the province's ranking decides; a shared rank 2 gives both 20 − 0.5 = 19.5
    assert {s.target: s.indicator("PERSONALIZED").points for s in result.scores} == {
        "X": D("19.50"),
        "Y": D("19.50"),
    }


def test_investment_checks_every_count() -> None:
    points = []
    for failed in range(5):
        inputs = TargetInputs(
            external={"INVESTMENT_APPROVAL_TIMELINESS": all_checks(*ALL_CHECKS[:failed])}
        )
        r = score_peers(huzhou(), {"X": inputs}).scores[0]
        points.append(r.indicator("INVESTMENT_APPROVAL_TIMELINESS").points)
    # 10 − 2 × failed for 0..4 failed checks
    assert points == [10, 8, 6, 4, 2]


def test_black_list_floors_the_total_at_zero() -> None:
    c = TargetInputs(counters=C.counters, adjustments={"BLACK_LIST": 50, "RED_LIST": 1})
    r = score_peers(huzhou(), {"C": c}).scores[0]
    # 34 + 1 − 50 = −15 → 0
    assert (r.subtotal, r.total) == (D(34), D(0))


def test_total_cap_when_the_scheme_has_one() -> None:
    capped = huzhou_variant(total_cap=100)
    result = score_peers(capped, {"A": A, "B": B})
    # B's proactive 10 % is rank 2 behind A's 25 %: 4.9; 4.9 + 95 = 99.9, + 2 red = 101.9 → 100
    assert (result["B"].subtotal, result["B"].total) == (D("99.90"), D(100))
    assert result["A"].total == D("91.63")


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("ENTERPRISE_REVIEW", PointsInput(D("10.5")), "ABOVE_MAXIMUM"),
        ("ENTERPRISE_REVIEW", PointsInput(-1), "NEGATIVE_VALUE"),
        ("ENTERPRISE_REVIEW", PointsInput(8.5), "NOT_A_NUMBER"),  # type: ignore[arg-type]
        ("ENTERPRISE_REVIEW", PointsInput(D("NaN")), "NOT_A_NUMBER"),
        ("ENTERPRISE_REVIEW", RankInput(1), "WRONG_INPUT_KIND"),
        ("POLICY_FULFILMENT_RATE", RateInput(D("100.00"), D(0)), "NUMERATOR_WITHOUT_DENOMINATOR"),
        ("POLICY_FULFILMENT_RATE", RateInput(D("100.00"), None), "NUMERATOR_WITHOUT_DENOMINATOR"),
        ("POLICY_FULFILMENT_RATE", RateInput(-5, 100), "NEGATIVE_VALUE"),
        ("POLICY_FULFILMENT_RATE", RateInput(5, -100), "NEGATIVE_VALUE"),
        ("PERSONALIZED", RankInput(0), "RANK_BELOW_ONE"),
        ("PERSONALIZED", RankInput(-3), "RANK_BELOW_ONE"),
        ("INVESTMENT_APPROVAL_TIMELINESS", ChecksInput({"ON_PLATFORM": True}), "MISSING_CHECK"),
        (
            "INVESTMENT_APPROVAL_TIMELINESS",
            ChecksInput({**all_checks().met, "FAX_MACHINE": True}),
            "UNKNOWN_CHECK",
        ),
        ("RESOLUTION_RATE", RateInput(1, 1), "NOT_EXTERNAL"),
    ],
)
def test_invalid_external_inputs(key: str, value: Any, code: str) -> None:
    indicator = huzhou().indicator(key)
    with pytest.raises(InvalidIndicatorInput) as caught:
        validate_external_input(indicator, value)
    error = caught.value
    assert error.code == code
    assert error.indicator == key
    assert error.zh.startswith(indicator.label.zh) and error.en.startswith(indicator.label.en)
    # score_peers refuses the same input
    with pytest.raises(InvalidIndicatorInput):
        score_peers(huzhou(), {"X": TargetInputs(external={key: value})})


def test_valid_inputs_at_the_limits() -> None:
    scheme = huzhou()
    validate_external_input(scheme.indicator("ENTERPRISE_REVIEW"), PointsInput(10))
    validate_external_input(scheme.indicator("ENTERPRISE_REVIEW"), PointsInput(0))
    validate_external_input(scheme.indicator("PERSONALIZED"), RankInput(1))
    validate_external_input(scheme.indicator("POLICY_FULFILMENT_RATE"), RateInput(0, None))
    assert input_kind(scheme.indicator("ENTERPRISE_REVIEW")) is PointsInput
    assert input_kind(scheme.indicator("INVESTMENT_APPROVAL_TIMELINESS")) is ChecksInput
    assert input_kind(scheme.indicator("POLICY_FULFILMENT_RATE")) is RateInput
    assert input_kind(scheme.indicator("PERSONALIZED")) is RankInput
    assert input_kind(scheme.indicator("RESOLUTION_RATE")) is None


@pytest.mark.parametrize(
    ("inputs", "code"),
    [
        (TargetInputs(external={"HAPPINESS": PointsInput(1)}), "UNKNOWN_INDICATOR"),
        (TargetInputs(adjustments={"GOLD_STAR": 1}), "UNKNOWN_ADJUSTMENT"),
        (TargetInputs(adjustments={"BLACK_LIST": -1}), "NEGATIVE_VALUE"),
    ],
)
def test_invalid_target_inputs(inputs: TargetInputs, code: str) -> None:
    with pytest.raises(InvalidIndicatorInput) as caught:
        score_peers(huzhou(), {"X": inputs})
    assert caught.value.code == code
    assert caught.value.zh and caught.value.en


def test_invalid_counters() -> None:
    with pytest.raises(InvalidCounters) as caught:
        Counters(total=-1)
    assert (caught.value.code, caught.value.field) == ("NEGATIVE_COUNTER", "total")
    with pytest.raises(InvalidCounters) as caught:
        Counters(ratings={"DELIGHTED": 1})
    assert caught.value.code == "UNKNOWN_GRADE"
    with pytest.raises(InvalidCounters) as caught:
        Counters(ratings={"SATISFIED": -2})
    assert caught.value.code == "NEGATIVE_COUNTER"
    # more proactive issues than issues: the counters are inconsistent, not a 150 % rate
    with pytest.raises(InvalidCounters) as caught:
        score_peers(huzhou(), {"X": TargetInputs(counters=Counters(total=2, proactive=3))})
    assert caught.value.code == "RATE_ABOVE_100"
    assert caught.value.indicator == "PROACTIVE_DISCOVERY_RATE"
    assert isinstance(caught.value, ScoringError) and isinstance(caught.value, ValueError)


def test_counters_are_immutable() -> None:
    ratings = {"SATISFIED": 1}
    counters = Counters(resolved=1, ratings=ratings)
    ratings["SATISFIED"] = 99  # the caller's dict is copied
    assert counters.ratings["SATISFIED"] == 1
    with pytest.raises(TypeError):
        counters.ratings["SATISFIED"] = 2  # type: ignore[index]


def test_no_peers_no_scores() -> None:
    assert score_peers(huzhou(), {}).scores == ()


# --- the 12345 three-rate scheme -----------------------------------------------------------


def test_hotline_scheme_from_the_same_counters() -> None:
    scheme = load_scheme("HOTLINE_12345")
    assert [(i.key, i.label.zh, int(i.points)) for i in scheme.indicators] == [
        ("RESPONSE_RATE", "响应率", 30),
        ("RESOLUTION_RATE", "解决率", 40),
        ("SATISFACTION_RATE", "满意率", 30),
    ]
    assert scheme.adjustments == () and scheme.total_cap == 100
    result = score_peers(
        scheme, {"A": TargetInputs(counters=A_COUNTERS), "B": TargetInputs(counters=B_COUNTERS)}
    )
    a = result["A"]
    got = {r.key: (r.numerator, r.denominator, r.rate, r.points) for r in a.indicators}
    assert got == {
        # 38/40 = 95 %: 30 − 0.5 × 5 = 27.5
        "RESPONSE_RATE": (D(38), D(40), D("95.00"), D("27.50")),
        # 36/40 = 90 %: 40 − 0.5 × 10 = 35
        "RESOLUTION_RATE": (D(36), D(40), D("90.00"), D("35.00")),
        # satisfied 20 + 6 + 4 = 30 of 32 rated (unrated excluded) = 93.75 %
        # 30 − 0.5 × 6.25 = 26.875 → 26.88
        "SATISFACTION_RATE": (D(30), D(32), D("93.75"), D("26.88")),
    }
    # 27.5 + 35 + 26.88 = 89.38
    assert (a.total, a.rank) == (D("89.38"), 2)
    assert (result["B"].total, result["B"].rank) == (D(100), 1)


def test_hotline_satisfaction_ignores_unrated() -> None:
    scheme = load_scheme("HOTLINE_12345")
    counters = Counters(
        total=10, handled=10, resolved=10, responded_on_time=10, unrated_resolved=10
    )
    r = score_peers(scheme, {"X": TargetInputs(counters=counters)}).scores[0]
    satisfaction = r.indicator("SATISFACTION_RATE")
    # nothing rated: 0/0 → empty → no rate reached, 0 of 30; in Huzhou the same counters
    # give 10/10 good
    assert (satisfaction.status, satisfaction.rate, satisfaction.points) == (
        ResultStatus.EMPTY,
        None,
        D(0),
    )
    assert r.total == 70
