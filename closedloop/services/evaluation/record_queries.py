"""Reading evaluators' records: external indicator inputs (current and their history) and
red/black list entries, in the caller's scope; the JSON form of an input value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t
from closedloop.domain.periods import Period
from closedloop.domain.scoring import (
    ChecksInput,
    ExternalInput,
    PointsInput,
    RankInput,
    RateInput,
)
from closedloop.services.evaluation.attribution import date_bucket
from closedloop.services.evaluation.targets import (
    ListKind,
    Target,
    TargetKind,
)
from closedloop.tenancy.scope import in_subtree

REASON_MAX = 2000


# --- external input values <-> JSON ---------------------------------------------------------


def encode_value(value: ExternalInput) -> dict[str, Any]:
    """JSON for ``indicator_record.value``; amounts as strings so they stay exact."""
    if isinstance(value, PointsInput):
        return {"kind": "POINTS", "points": str(value.points)}
    if isinstance(value, ChecksInput):
        return {"kind": "CHECKS", "met": dict(value.met)}
    if isinstance(value, RateInput):
        return {
            "kind": "RATE",
            "numerator": str(value.numerator),
            "denominator": None if value.denominator is None else str(value.denominator),
        }
    return {"kind": "RANK", "rank": value.rank}


def _decimal(raw: Any) -> Decimal | None:
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None


def decode_value(data: Mapping[str, Any]) -> ExternalInput | None:
    """The input stored by ``encode_value``; ``None`` for anything unreadable."""
    kind = data.get("kind")
    if kind == "POINTS":
        points = _decimal(data.get("points"))
        return None if points is None else PointsInput(points)
    if kind == "CHECKS" and isinstance(data.get("met"), Mapping):
        return ChecksInput({str(k): bool(v) for k, v in data["met"].items()})
    if kind == "RATE":
        numerator = _decimal(data.get("numerator"))
        raw = data.get("denominator")
        denominator = None if raw is None else _decimal(raw)
        if numerator is None or (raw is not None and denominator is None):
            return None
        return RateInput(numerator, denominator)
    if kind == "RANK" and isinstance(data.get("rank"), int):
        return RankInput(int(data["rank"]))
    return None


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndicatorRecordRow:
    id: int
    scheme: str
    indicator_key: str
    target_kind: TargetKind
    region_code: str
    department_id: int | None
    period_label: str
    period_start: dt.date
    period_end: dt.date  # exclusive
    value: Mapping[str, Any]
    recorded_by: int | None
    recorded_by_name: str | None
    recorded_at: dt.datetime
    superseded_by: int | None


@dataclass(frozen=True, slots=True)
class ListEntryRow:
    id: int
    kind: ListKind
    target_kind: TargetKind
    region_code: str
    department_id: int | None
    reason: str
    issue_id: int | None
    case_id: int | None
    listed_on: dt.date
    added_by: int | None
    added_by_name: str | None
    added_at: dt.datetime


def record_query() -> sa.Select[Any]:
    r = t.indicator_record.c
    return sa.select(
        t.indicator_record, t.account.c.display_name.label("recorded_by_name")
    ).select_from(t.indicator_record.outerjoin(t.account, t.account.c.id == r.recorded_by))


def record_row(m: Mapping[str, Any]) -> IndicatorRecordRow:
    return IndicatorRecordRow(
        id=m["id"],
        scheme=m["scheme"],
        indicator_key=m["indicator_key"],
        target_kind=TargetKind(m["target_kind"]),
        region_code=m["region_code"],
        department_id=m["department_id"],
        period_label=m["period_label"],
        period_start=m["period_start"],
        period_end=m["period_end"],
        value=m["value"],
        recorded_by=m["recorded_by"],
        recorded_by_name=m["recorded_by_name"],
        recorded_at=m["recorded_at"],
        superseded_by=m["superseded_by"],
    )


def entry_query() -> sa.Select[Any]:
    e = t.list_entry.c
    return sa.select(t.list_entry, t.account.c.display_name.label("added_by_name")).select_from(
        t.list_entry.outerjoin(t.account, t.account.c.id == e.added_by)
    )


def entry_row(m: Mapping[str, Any]) -> ListEntryRow:
    return ListEntryRow(
        id=m["id"],
        kind=ListKind(m["kind"]),
        target_kind=TargetKind(m["target_kind"]),
        region_code=m["region_code"],
        department_id=m["department_id"],
        reason=m["reason"],
        issue_id=m["issue_id"],
        case_id=m["case_id"],
        listed_on=m["listed_on"],
        added_by=m["added_by"],
        added_by_name=m["added_by_name"],
        added_at=m["added_at"],
    )


# --- reading ---------------------------------------------------------------------------------


async def indicator_records(
    conn: AsyncConnection,
    scheme: str,
    region: str,
    period: Period,
    *,
    indicator: str | None = None,
    include_superseded: bool = False,
) -> list[IndicatorRecordRow]:
    """Records for targets in ``region``'s subtree and exactly this period, newest first."""
    r = t.indicator_record.c
    q = record_query().where(
        r.scheme == scheme,
        in_subtree(r.region_code, region),
        r.period_start == period.start,
        r.period_end == period.end,
    )
    if indicator is not None:
        q = q.where(r.indicator_key == indicator)
    if not include_superseded:
        q = q.where(r.superseded_by.is_(None))
    rows = await conn.execute(q.order_by(r.id.desc()).limit(1000))
    return [record_row(m) for m in rows.mappings()]


async def current_inputs(
    conn: AsyncConnection,
    scheme: str,
    kind: TargetKind,
    region: str,
    targets: Sequence[Target],
    periods: Sequence[Period],
) -> list[dict[str, dict[str, ExternalInput]]]:
    """For each period, the current external inputs by target key and indicator key."""
    out: list[dict[str, dict[str, ExternalInput]]] = [{} for _ in periods]
    if not targets:
        return out
    r = t.indicator_record.c
    q = sa.select(
        r.indicator_key, r.region_code, r.department_id, r.period_start, r.period_end, r.value
    ).where(
        r.scheme == scheme,
        r.superseded_by.is_(None),
        r.target_kind == kind.value,
        r.period_start.in_([p.start for p in periods]),
    )
    if kind is TargetKind.REGION:
        key_of: dict[Any, str] = {x.region_code: x.key for x in targets}
        q = q.where(r.region_code.in_(list(key_of)))
        target_column = "region_code"
    else:
        key_of = {x.department_id: x.key for x in targets}
        q = q.where(r.region_code == region, r.department_id.in_(list(key_of)))
        target_column = "department_id"
    index = {(p.start, p.end): n for n, p in enumerate(periods)}
    for m in (await conn.execute(q)).mappings():
        n = index.get((m["period_start"], m["period_end"]))
        value = decode_value(m["value"])
        key = key_of.get(m[target_column])
        if n is not None and value is not None and key is not None:
            out[n].setdefault(key, {})[m["indicator_key"]] = value
    return out


async def list_entries(
    conn: AsyncConnection,
    region: str,
    period: Period,
    kind: ListKind | None = None,
    limit: int = 100,
) -> tuple[list[ListEntryRow], dict[ListKind, int]]:
    """Entries for targets in ``region``'s subtree listed in the period (newest first), and
    the count of each kind."""
    e = t.list_entry.c
    where = _listed(region, period)
    if kind is not None:
        where.append(e.kind == kind.value)
    rows = await conn.execute(
        entry_query().where(*where).order_by(e.listed_on.desc(), e.id.desc()).limit(limit)
    )
    entries = [entry_row(m) for m in rows.mappings()]
    counts = await conn.execute(sa.select(e.kind, sa.func.count()).where(*where).group_by(e.kind))
    return entries, {ListKind(k): int(n) for k, n in counts.all()}


def _listed(region: str, period: Period) -> list[sa.ColumnElement[bool]]:
    """Entries for targets in ``region``'s subtree listed in the period."""
    e = t.list_entry.c
    return [
        in_subtree(e.region_code, region),
        e.listed_on >= period.start,
        e.listed_on < period.end,
    ]


async def list_heads(
    conn: AsyncConnection, region: str, period: Period, kinds: Sequence[ListKind], limit: int
) -> dict[ListKind, tuple[list[ListEntryRow], int]]:
    """For each kind, as ``list_entries`` answers it (its newest ``limit`` entries and how
    many there are), in one statement."""
    e = t.list_entry.c
    ranked = (
        entry_query()
        .add_columns(
            sa.func.row_number()
            .over(partition_by=e.kind, order_by=(e.listed_on.desc(), e.id.desc()))
            .label("place"),
            sa.func.count().over(partition_by=e.kind).label("of_kind"),
        )
        .where(*_listed(region, period), e.kind.in_([k.value for k in kinds]))
        .subquery("ranked")
    )
    r = ranked.c
    rows = await conn.execute(sa.select(ranked).where(r.place <= limit).order_by(r.kind, r.place))
    heads: dict[ListKind, tuple[list[ListEntryRow], int]] = {k: ([], 0) for k in kinds}
    for m in rows.mappings():
        kind = ListKind(m["kind"])
        entries, _ = heads[kind]
        entries.append(entry_row(dict(m)))
        heads[kind] = (entries, int(m["of_kind"]))
    return heads


async def entries_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, ListEntryRow]:
    rows = await conn.execute(entry_query().where(t.list_entry.c.id.in_(list(ids))))
    return {m["id"]: entry_row(m) for m in rows.mappings()}


async def records_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, IndicatorRecordRow]:
    rows = await conn.execute(record_query().where(t.indicator_record.c.id.in_(list(ids))))
    return {m["id"]: record_row(m) for m in rows.mappings()}


async def record_history(
    conn: AsyncConnection, keys: Sequence[tuple[str, str, str, str, int | None, dt.date, dt.date]]
) -> dict[tuple[str, str, str, str, int | None, dt.date, dt.date], list[IndicatorRecordRow]]:
    """Every record (current and superseded, newest first) for each key
    ``(scheme, indicator, target kind, region, department, start, end)``, in one statement."""
    if not keys:
        return {}
    r = t.indicator_record.c
    match = sa.or_(
        *(
            sa.and_(
                r.scheme == scheme,
                r.indicator_key == indicator,
                r.target_kind == kind,
                r.region_code == region,
                r.department_id.is_(None) if department is None else r.department_id == department,
                r.period_start == start,
                r.period_end == end,
            )
            for scheme, indicator, kind, region, department, start, end in set(keys)
        )
    )
    rows = await conn.execute(record_query().where(match).order_by(r.id.desc()))
    out: dict[tuple[str, str, str, str, int | None, dt.date, dt.date], list[IndicatorRecordRow]] = {
        k: [] for k in keys
    }
    for m in rows.mappings():
        row = record_row(m)
        out.setdefault(history_key(row), []).append(row)
    return out


def history_key(row: IndicatorRecordRow) -> tuple[str, str, str, str, int | None, dt.date, dt.date]:
    return (
        row.scheme,
        row.indicator_key,
        row.target_kind.value,
        row.region_code,
        row.department_id,
        row.period_start,
        row.period_end,
    )


async def adjustment_counts(
    conn: AsyncConnection,
    kind: TargetKind,
    region: str,
    targets: Sequence[Target],
    periods: Sequence[Period],
    adjustment_of: Mapping[ListKind, str],
) -> list[dict[str, dict[str, int]]]:
    """For each period, red/black entries by target key and the scheme's adjustment key."""
    out: list[dict[str, dict[str, int]]] = [{} for _ in periods]
    if not targets or not adjustment_of:
        return out
    e = t.list_entry.c
    bucket = date_bucket(e.listed_on, periods)
    if kind is TargetKind.REGION:
        key_of: dict[Any, str] = {x.region_code: x.key for x in targets}
        target_column: Any = e.region_code
        where: list[sa.ColumnElement[bool]] = [e.region_code.in_(list(key_of))]
    else:
        key_of = {x.department_id: x.key for x in targets}
        target_column = e.department_id
        where = [e.region_code == region, e.department_id.in_(list(key_of))]
    rows = await conn.execute(
        sa.select(bucket.label("bucket"), target_column.label("target"), e.kind, sa.func.count())
        .where(
            *where,
            e.target_kind == kind.value,
            e.kind.in_([k.value for k in adjustment_of]),
            e.listed_on >= periods[0].start,
            e.listed_on < periods[-1].end,
        )
        .group_by(sa.text("1, 2, 3"))
    )
    for bucket_no, target, list_kind, count in rows.all():
        key = key_of.get(target)
        if key is not None and 1 <= bucket_no <= len(periods):
            adjustment = adjustment_of[ListKind(list_kind)]
            out[bucket_no - 1].setdefault(key, {})[adjustment] = int(count)
    return out
