"""Scheme versions' pure rules: which version is in force for a period, from which periods a
version may take effect, every problem of a document listed with its path, and the served
bounds a document is held to."""

from __future__ import annotations

import copy
import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest

from closedloop.domain.periods import parse_period
from closedloop.domain.schemes import (
    MAX_PROBLEMS,
    ActiveVersion,
    InvalidScheme,
    SchemeErrorCode,
    SchemeVersionError,
    check_document,
    check_effective_from,
    in_force,
    load_scheme,
    served_bounds,
)

NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def shipped() -> dict[str, Any]:
    text = (resources.files("closedloop") / "data" / "schemes" / "huzhou_2024.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def version(n: int, start: str) -> ActiveVersion:
    p = parse_period(start)
    return ActiveVersion(n, f"v{n}", p.start, p.label, load_scheme())


def test_the_latest_version_on_or_before_the_period_is_in_force() -> None:
    versions = [version(1, "2026-Q1"), version(2, "2027-Q1"), version(3, "2027-07")]
    chosen = {
        label: (found.id if (found := in_force(versions, parse_period(label))) else None)
        for label in ("2025", "2025-12", "2026-Q1", "2026-12", "2027-Q1", "2027-06", "2027-Q3")
    }
    assert chosen == {
        "2025": None,  # before any version: the files' scheme
        "2025-12": None,
        "2026-Q1": 1,
        "2026-12": 1,
        "2027-Q1": 2,
        "2027-06": 2,
        "2027-Q3": 3,
    }


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-Q1", None),  # the quarter under way
        ("2026-03", None),
        ("2026", None),
        ("2027-Q1", None),
        ("2026-02", SchemeErrorCode.PERIOD_ENDED),
        ("2025-Q4", SchemeErrorCode.PERIOD_ENDED),
        ("2026-03-01..2026-03-31", SchemeErrorCode.PERIOD_KIND_NOT_ALLOWED),
    ],
)
def test_a_version_takes_effect_from_a_period_not_yet_ended(
    text: str, code: SchemeErrorCode | None
) -> None:
    if code is None:
        assert check_effective_from(parse_period(text), NOW).label == text
        return
    with pytest.raises(SchemeVersionError) as refused:
        check_effective_from(parse_period(text), NOW)
    assert (refused.value.code, refused.value.field) == (code, "effectiveFrom")


def test_every_problem_is_listed_with_its_path() -> None:
    document = shipped()
    document["indicators"][1]["rule"]["kind"] = "nope"
    document["satisfied_grades"] = ["HAPPY"]
    del document["zh"]
    with pytest.raises(InvalidScheme) as invalid:
        check_document(json.dumps(document))
    key = document["indicators"][1]["key"]
    assert [p.path for p in invalid.value.problems] == [
        "scheme.zh",
        f"indicators[{key}].rule.kind",
        "satisfied_grades",
    ]
    # The message still names the first (what start-up reports for a broken file).
    assert "scheme.zh" in invalid.value.en


def test_problems_are_listed_up_to_a_bound() -> None:
    document = shipped()
    document["indicators"] = [
        {**copy.deepcopy(document["indicators"][0]), "key": f"K{n}", "points": -1}
        for n in range(MAX_PROBLEMS + 10)
    ]
    with pytest.raises(InvalidScheme) as invalid:
        check_document(json.dumps(document))
    assert len(invalid.value.problems) == MAX_PROBLEMS


def test_a_document_longer_than_the_api_serves_is_refused() -> None:
    document = shipped()
    extra = copy.deepcopy(document["indicators"][0])
    for n in range(served_bounds().indicators):
        document["indicators"].append({**extra, "key": f"EXTRA_{n}"})
    document["max_total"] = sum(i["points"] for i in document["indicators"])
    with pytest.raises(InvalidScheme) as invalid:
        check_document(json.dumps(document))
    assert [p.path for p in invalid.value.problems] == ["indicators"]
    assert "at most" in invalid.value.problems[0].label.en
