"""A retried recordIndicator or addListEntry with the same key acts once; the same key with
another input is refused."""

from __future__ import annotations

import pytest

from tests.api.evaluation_helpers import (
    clean_evaluation,  # noqa: F401  (fixture)
    list_entry,
    record,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues", "clean_evaluation")

ENTRIES = '{ listEntries(region: "3305", period: "2026-Q1") { id } }'


async def test_a_retried_list_entry_is_added_once(api: Api) -> None:
    entry = {
        "kind": "RED",
        "targetKind": "REGION",
        "regionCode": "330521",
        "reason": "一地突破，全市推广",
        "listedOn": "2026-02-02",
        "idempotencyKey": "k-1",
    }
    first = await list_entry(api, "huzhou.evaluator", **entry)
    again = await list_entry(api, "huzhou.evaluator", **entry)
    assert first["errors"] == again["errors"] == []
    assert first["entry"]["id"] == again["entry"]["id"]
    listed = await api.gql(ENTRIES, as_="huzhou.evaluator")
    assert len(listed["listEntries"]) == 1
    other = await list_entry(api, "huzhou.evaluator", **{**entry, "reason": "别的理由"})
    assert other["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len((await api.gql(ENTRIES, as_="huzhou.evaluator"))["listEntries"]) == 1


async def test_a_retried_indicator_record_is_recorded_once(api: Api) -> None:
    entry = {
        "indicator": "ENTERPRISE_REVIEW",
        "targetKind": "REGION",
        "regionCode": "330521",
        "period": "2026-Q1",
        "value": {"points": "8"},
        "idempotencyKey": "k-2",
    }
    first = await record(api, "huzhou.evaluator", **entry)
    again = await record(api, "huzhou.evaluator", **entry)
    assert first["errors"] == again["errors"] == []
    assert first["record"]["id"] == again["record"]["id"]
    other = await record(api, "huzhou.evaluator", **{**entry, "value": {"points": "9"}})
    assert other["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
