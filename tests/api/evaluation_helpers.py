"""Shared data builders and queries for the evaluation tests (scores, dashboards, exports).

Issues are inserted as the database owner when a test needs many of them with exact
counters; attribution tests drive the real mutations instead.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.periods import Period
from closedloop.domain.regions import RegionLevel
from closedloop.domain.schemes import RatingCount
from closedloop.services.evaluation.attribution import group_counters
from closedloop.services.evaluation.targets import PeerGroup
from closedloop.services.tenancy import RegionRecord
from tests.conftest import Api

CHINA = ZoneInfo("Asia/Shanghai")

# 德清, and an evaluator of it: the service-level scores tests' county and caller.
DEQING = RegionRecord("330521", "德清县", RegionLevel.COUNTY, "3305")
DEQING_EVALUATOR = Principal(
    account_id=1, username="e", display_name="e", role=Role.EVALUATOR, region_code="330521"
)
_numbers = itertools.count(1)


async def counted_ratings(
    db: Database, group: PeerGroup, periods: Sequence[Period]
) -> dict[tuple[int, str], Counter[str]]:
    """The ratings each unit of ``group`` is credited with per period (every rated
    resolution), as 德清's evaluator reads them: ``(period index, unit key) -> grades``,
    units without any left out."""
    async with db.read(DEQING_EVALUATOR) as conn:
        counted = await group_counters(
            conn, DEQING_EVALUATOR, group, periods, RatingCount.EVERY_RESOLUTION
        )
    return {
        (n, key): Counter(counters.ratings)
        for n, board in enumerate(counted)
        for key, counters in board.items()
        if counters.ratings
    }


def bj(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """An instant given in Beijing time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA)


@pytest.fixture
async def clean_evaluation(db: Database) -> AsyncIterator[None]:
    """No external inputs or list entries left from another test."""
    async with db.admin.begin() as conn:
        await conn.execute(sa.text("TRUNCATE indicator_record, list_entry RESTART IDENTITY"))
    yield


async def enterprise_id(db: Database) -> int:
    async with db.admin.connect() as conn:
        found = await conn.execute(sa.select(sa.func.min(t.enterprise.c.id)))
        return int(found.scalar_one())


async def unit(db: Database, table: sa.Table, region: str, key: str) -> int:
    async with db.admin.connect() as conn:
        found = await conn.execute(
            sa.select(table.c.id).where(table.c.region_code == region, table.c.key == key)
        )
        return int(found.scalar_one())


async def insert_issues(db: Database, rows: list[dict[str, Any]]) -> list[int]:
    """Insert issues with sensible defaults; ``overdue_at`` adds a custody row with a lapsed
    limit at that region (the holder charged with it); otherwise an ``overdue`` issue's
    holder is charged."""
    ent = await enterprise_id(db)
    ids: list[int] = []
    async with db.admin.begin() as conn:
        for spec in rows:
            data = dict(spec)
            custody_late = data.pop("overdue_at", None)
            created = data.setdefault("created_at", bj(2026, 2, 10))
            origin = data.setdefault("origin_region_code", "330521")
            data.setdefault("holding_region_code", origin)
            data.setdefault("number", f"T-{next(_numbers):08d}")
            data.setdefault("title", "测试问题")
            data.setdefault("content", "测试内容")
            data.setdefault("enterprise_id", ent)
            data.setdefault("channel", "ONLINE_PORTAL")
            data.setdefault("proactive", False)
            data.setdefault("handling_level", "CENTER")
            data.setdefault("state", "SUBMITTED")
            data.setdefault("updated_at", created)
            if data["state"] in ("RESOLVED", "CLOSED"):
                data.setdefault("resolved_at", created + dt.timedelta(days=3))
            new_id = (
                await conn.execute(t.issue.insert().values(**data).returning(t.issue.c.id))
            ).scalar_one()
            ids.append(int(new_id))
            # The holder now; an overdue issue of a unit lapsed a limit while it held it.
            late_here = bool(data.get("overdue")) and custody_late is None
            await conn.execute(
                t.issue_custody.insert().values(
                    issue_id=new_id,
                    region_code=data["holding_region_code"],
                    handling_level=data["handling_level"],
                    board_id=data.get("board_id"),
                    department_id=data.get("department_id"),
                    started_at=created,
                    overdue_seconds=86_400 if late_here else 0,
                    lapsed_limits=1 if late_here else 0,
                )
            )
            if data.get("rating") is not None:
                await conn.execute(
                    t.issue_rating.insert().values(
                        issue_id=new_id,
                        resolution=1,
                        resolved_at=data["resolved_at"],
                        region_code=data["holding_region_code"],
                        board_id=data.get("board_id"),
                        department_id=data.get("department_id"),
                        grade=data["rating"],
                        rated_at=data.get("rated_at") or data["resolved_at"],
                    )
                )
            if custody_late is not None:
                await conn.execute(
                    t.issue_custody.insert().values(
                        issue_id=new_id,
                        region_code=custody_late,
                        handling_level="CENTER",
                        started_at=created,
                        ended_at=created + dt.timedelta(days=5),
                        overdue_seconds=86_400,
                        lapsed_limits=1,
                    )
                )
    return ids


async def insert_list_entries(
    db: Database, kind: str, region: str, count: int, listed_on: dt.date
) -> None:
    async with db.admin.begin() as conn:
        await conn.execute(
            t.list_entry.insert(),
            [
                {
                    "kind": kind,
                    "target_kind": "REGION",
                    "region_code": region,
                    "reason": f"批量录入 {n}",
                    "listed_on": listed_on,
                    "added_at": bj(2026, 3, 1),
                }
                for n in range(count)
            ],
        )


def many(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [dict(fields) for _ in range(count)]


def d(value: str) -> Decimal:
    return Decimal(value)


INDICATOR = """key status rate numerator denominator rank points deduction maxPoints
input { kind points rank numerator denominator checks { key met } }"""

SCORES = f"""query($kind: EvaluationTargetKind!, $region: String!, $period: String!,
  $scheme: String! = "HUZHOU_2024") {{
  scores(targetKind: $kind, region: $region, period: $period, scheme: $scheme) {{
    targetKind region {{ code }} period {{ label start end lastDay }}
    scheme {{ key maxTotal }}
    entries {{ rank subtotal total
      target {{ kind key name regionCode isKey department {{ key }} }}
      adjustments {{ key count points }}
      counters {{ total proactive handled resolved overdueResolved recurred unratedResolved
        goodRatings ratings {{ grade count }} }}
      indicators {{ {INDICATOR} }} }} }} }}"""

RECORD = """mutation($input: RecordIndicatorInput!) { recordIndicator(input: $input) {
  record { id scheme indicatorKey current recordedByName recordedAt
    period { label start end } target { kind key regionCode }
    value { kind points rank numerator denominator checks { key met } } }
  errors { code message field } } }"""

LIST_ENTRY = """mutation($input: AddListEntryInput!) { addListEntry(input: $input) {
  entry { id kind kindLabel reason listedOn addedByName target { kind key regionCode name }
    issue { id } caseId }
  errors { code message field } } }"""


async def record(api: Api, as_: str, **input_: Any) -> dict[str, Any]:
    data = await api.gql(RECORD, {"input": input_}, as_=as_)
    result: dict[str, Any] = data["recordIndicator"]
    return result


async def record_ok(api: Api, as_: str, **input_: Any) -> dict[str, Any]:
    result = await record(api, as_, **input_)
    assert result["errors"] == [], result["errors"]
    found: dict[str, Any] = result["record"]
    return found


async def list_entry(api: Api, as_: str, **input_: Any) -> dict[str, Any]:
    data = await api.gql(LIST_ENTRY, {"input": input_}, as_=as_)
    result: dict[str, Any] = data["addListEntry"]
    return result


async def scores(
    api: Api, as_: str, kind: str, region: str, period: str, **extra: Any
) -> dict[str, Any] | None:
    data = await api.gql(
        SCORES, {"kind": kind, "region": region, "period": period, **extra}, as_=as_
    )
    found: dict[str, Any] | None = data["scores"]
    return found


def by_key(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["target"]["key"]: e for e in board["entries"]}


def indicator(entry: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in entry["indicators"] if i["key"] == key)
    return found
