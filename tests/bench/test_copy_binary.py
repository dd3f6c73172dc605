"""The generator's binary COPY encoder (``bench.generator.copy_binary``) stores what asyncpg's
``copy_records_to_table`` stores for the same rows: every column type the generator writes,
NULLs, empty and non-empty arrays, non-ASCII text and JSON, microseconds, and a row of
which only some values are columns of the table (an older schema)."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import asyncpg
import pytest

from bench.generator.copy_binary import encoder

COLUMNS = (
    ("a_int4", "int4"),
    ("a_int8", "int8"),
    ("a_text", "text"),
    ("a_bool", "bool"),
    ("a_time", "timestamptz"),
    ("a_json", "jsonb"),
    ("a_tags", "_text"),
)
UTC = dt.UTC
ROWS: list[tuple[Any, ...]] = [
    (
        1,
        2**40,
        "德清县企业综合服务中心",
        True,
        dt.datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC),
        '{"channel":"ONLINE_PORTAL","route":{"zh":"信访","en":"petition"}}',
        ["融资", "用地"],
    ),
    (-7, -1, "", False, dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "{}", []),
    (None, None, None, None, None, None, None),
    (
        2**31 - 1,
        0,
        'tab\tnew line\n"quoted" back\\slash',
        True,
        dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        '{"text":"引号\\"与\\\\反斜杠"}',
        ["a,b", '{"x"}', "NULL"],
    ),
]


async def _stored(conn: asyncpg.Connection, table: str) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY n")
    return [tuple(r)[1:] for r in rows]


async def test_what_asyncpg_stores_for_the_same_rows(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            for table in ("by_records", "by_encoder"):
                columns = ", ".join(
                    f"{name} {kind.replace('_text', 'text[]')}" for name, kind in COLUMNS
                )
                await conn.execute(
                    f"CREATE TEMP TABLE {table} (n bigint GENERATED ALWAYS AS IDENTITY, {columns})"
                    " ON COMMIT DROP"
                )
            names = [name for name, _ in COLUMNS]
            await conn.copy_records_to_table("by_records", records=ROWS, columns=names)
            encode = encoder(len(COLUMNS), [(i, kind) for i, (_, kind) in enumerate(COLUMNS)])
            await conn.copy_to_table(
                "by_encoder", source=memoryview(encode(ROWS)), columns=names, format="binary"
            )
            by_records = await _stored(conn, "by_records")
            assert await _stored(conn, "by_encoder") == by_records
            assert len(by_records) == len(ROWS)
            assert by_records[1][6] == [] and by_records[2] == (None,) * len(COLUMNS)
    finally:
        await conn.close()


async def test_only_the_tables_columns_of_a_wider_row(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("CREATE TEMP TABLE narrow (a_text text, a_time timestamptz)")
            encode = encoder(len(COLUMNS), [(2, "text"), (4, "timestamptz")])
            await conn.copy_to_table(
                "narrow",
                source=memoryview(encode(ROWS)),
                columns=["a_text", "a_time"],
                format="binary",
            )
            stored = [tuple(r) for r in await conn.fetch("SELECT * FROM narrow")]
            assert stored == [(r[2], r[4]) for r in ROWS]
    finally:
        await conn.close()


def test_a_type_without_an_encoding_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="numeric"):
        encoder(2, [(0, "int4"), (1, "numeric")])


def test_a_value_out_of_its_columns_range_is_refused() -> None:
    with pytest.raises(struct.error):
        encoder(1, [(0, "int4")])([(2**31,)])
