"""Global ids: each node type's integer key width matches its table's id column, and keys
that could not exist (beyond the column, not ASCII digits) decode to nothing."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from closedloop.db import tables as t
from closedloop.domain.bounds import int_key
from closedloop.schema.relay import KEY_BITS, from_global_id, to_global_id

TABLE_OF = {
    "Account": t.account,
    "AuditEntry": t.audit_log,
    "TimeLimitRule": t.time_limit_rule,
    "WebhookEndpoint": t.webhook_endpoint,
    "Board": t.board,
    "Case": t.model_case,
    "Center": t.center,
    "Department": t.department,
    "Enterprise": t.enterprise,
    "Tag": t.tag,
    "Issue": t.issue,
    "IndicatorRecord": t.indicator_record,
    "ListEntry": t.list_entry,
    "ProblemListPush": t.problem_list_push,
}


def test_key_widths_follow_the_tables() -> None:
    assert set(KEY_BITS) == set(TABLE_OF)
    for type_name, table in TABLE_OF.items():
        column_type = table.c.id.type
        expected = 64 if isinstance(column_type, sa.BigInteger) else 32
        assert isinstance(column_type, sa.Integer)
        assert KEY_BITS[type_name] == expected, type_name


def test_keys_beyond_their_column_decode_to_nothing() -> None:
    assert from_global_id(to_global_id("Board", 2**31 - 1)) == ("Board", str(2**31 - 1))
    assert from_global_id(to_global_id("Board", 2**31)) is None
    assert from_global_id(to_global_id("Issue", 2**63 - 1)) == ("Issue", str(2**63 - 1))
    assert from_global_id(to_global_id("Issue", 2**63)) is None
    assert from_global_id(to_global_id("Issue", "١٢")) is None
    assert from_global_id(to_global_id("Issue", "-1")) is None
    assert from_global_id(to_global_id("Region", "33\x00")) is None
    assert from_global_id(to_global_id("Region", "330521")) == ("Region", "330521")


def test_int_key_takes_ascii_digits_only() -> None:
    assert int_key("12") == 12
    assert int_key("１２") is None
    assert int_key("12\n") is None
    assert int_key(str(2**31), 32) is None
    assert int_key("9" * 40) is None


def test_global_ids_are_urlsafe_base64_without_padding() -> None:
    for type_name in ("Issue", "Enterprise", "区划"):
        for key in [0, 1, 42, 9_007_199_254_740_993, "330521", "a/b+c", "德清", ""]:
            raw = f"{type_name}:{key}".encode()
            want = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            assert to_global_id(type_name, key) == want
