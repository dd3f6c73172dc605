"""The compiled executor writes UTC datetimes with orjson instead of ``isoformat()``
(``schema/execution/plans.py``): the two texts must be the same for every UTC datetime."""

from __future__ import annotations

import datetime as dt
import random

import orjson

UTC = dt.UTC


def _text(value: dt.datetime) -> str:
    return orjson.dumps(value)[1:-1].decode()


def test_orjson_writes_isoformat_text_for_utc() -> None:
    edges = [
        dt.datetime.min.replace(tzinfo=UTC),
        dt.datetime.max.replace(tzinfo=UTC),
        dt.datetime(2026, 12, 7, 6, 1, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 7, 6, 1, 0, 1, tzinfo=UTC),
        dt.datetime(2026, 12, 7, 6, 1, 0, 100000, tzinfo=UTC),
        dt.datetime(999, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2026, 3, 29, 1, 30, fold=1, tzinfo=UTC),
    ]
    rng = random.Random(18)
    span = (dt.datetime.max - dt.datetime.min).total_seconds()
    drawn = [
        dt.datetime.min.replace(tzinfo=UTC) + dt.timedelta(seconds=rng.random() * span)
        for _ in range(20000)
    ]
    whole = [d.replace(microsecond=0) for d in drawn[:5000]]
    for value in edges + drawn + whole:
        assert _text(value) == value.isoformat(), value
