"""Evaluators' records: external indicator inputs and red/black list entries.

``record_indicator`` and ``add_list_entry`` each run in one transaction in the caller's
scope: every check happens before the first write, any ``EvaluationError`` rolls the
transaction back, so bad input records nothing.

External inputs are kept with who and when. A new input for the same scheme, indicator,
target and period (same first and last day, whatever the spelling: ``2026-Q1`` and
``2026-01-01..2026-03-31`` are one period) supersedes the current one: the old row stays,
pointing at its successor through ``superseded_by``, so the history is queryable. Writers
of the same key are serialised by a transaction-level advisory lock, so two concurrent
records cannot both stay current.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can_on_region
from closedloop.authz.roles import Action, Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.periods import InvalidPeriod, Period, local_date, parse_period
from closedloop.domain.regions import is_valid_code
from closedloop.domain.schemes import (
    ChecksRule,
    Indicator,
    Scheme,
    ScoringError,
    Source,
    load_scheme,
)
from closedloop.domain.scoring import (
    ChecksInput,
    ExternalInput,
    PointsInput,
    RankInput,
    RateInput,
    validate_external_input,
)
from closedloop.services import idempotency
from closedloop.services.evaluation.attribution import date_bucket
from closedloop.services.evaluation.errors import EvaluationError
from closedloop.services.evaluation.errors import EvaluationErrorCode as E
from closedloop.services.evaluation.targets import (
    ListKind,
    Target,
    TargetKind,
    department_target,
    region_record,
    region_target,
)
from closedloop.tenancy.scope import in_subtree, issue_visibility

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


def _record_query() -> sa.Select[Any]:
    r = t.indicator_record.c
    return sa.select(
        t.indicator_record, t.account.c.display_name.label("recorded_by_name")
    ).select_from(t.indicator_record.outerjoin(t.account, t.account.c.id == r.recorded_by))


def _record_row(m: Mapping[str, Any]) -> IndicatorRecordRow:
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


def _entry_query() -> sa.Select[Any]:
    e = t.list_entry.c
    return sa.select(t.list_entry, t.account.c.display_name.label("added_by_name")).select_from(
        t.list_entry.outerjoin(t.account, t.account.c.id == e.added_by)
    )


def _entry_row(m: Mapping[str, Any]) -> ListEntryRow:
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
    q = _record_query().where(
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
    return [_record_row(m) for m in rows.mappings()]


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
    where = [
        in_subtree(e.region_code, region),
        e.listed_on >= period.start,
        e.listed_on < period.end,
    ]
    if kind is not None:
        where.append(e.kind == kind.value)
    rows = await conn.execute(
        _entry_query().where(*where).order_by(e.listed_on.desc(), e.id.desc()).limit(limit)
    )
    entries = [_entry_row(m) for m in rows.mappings()]
    counts = await conn.execute(sa.select(e.kind, sa.func.count()).where(*where).group_by(e.kind))
    return entries, {ListKind(k): int(n) for k, n in counts.all()}


async def entries_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, ListEntryRow]:
    rows = await conn.execute(_entry_query().where(t.list_entry.c.id.in_(list(ids))))
    return {m["id"]: _entry_row(m) for m in rows.mappings()}


async def records_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, IndicatorRecordRow]:
    rows = await conn.execute(_record_query().where(t.indicator_record.c.id.in_(list(ids))))
    return {m["id"]: _record_row(m) for m in rows.mappings()}


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
    rows = await conn.execute(_record_query().where(match).order_by(r.id.desc()))
    out: dict[tuple[str, str, str, str, int | None, dt.date, dt.date], list[IndicatorRecordRow]] = {
        k: [] for k in keys
    }
    for m in rows.mappings():
        row = _record_row(m)
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


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A target as a client names it: a department (decoded id; -1 for a malformed one)
    or a region code."""

    kind: TargetKind
    department_id: int | None = None
    region_code: str | None = None


@dataclass(frozen=True, slots=True)
class RecordIndicator:
    scheme: str
    indicator: str
    target: TargetRef
    period: str
    value: ExternalInput | None  # None: no value, or more than one kind of value, given


@dataclass(frozen=True, slots=True)
class AddListEntry:
    kind: ListKind
    target: TargetRef
    reason: str
    issue_id: int | None = None  # -1: a malformed id
    case_id: int | None = None  # -1: a malformed id
    listed_on: dt.date | None = None


def _scheme(key: str) -> Scheme:
    try:
        return load_scheme(key)
    except ScoringError as exc:
        raise EvaluationError.from_scoring(exc, "scheme") from exc


def _indicator(scheme: Scheme, key: str) -> Indicator:
    try:
        indicator = scheme.indicator(key)
    except ScoringError as exc:
        raise EvaluationError.from_scoring(exc, "indicator") from exc
    if indicator.source is not Source.EXTERNAL:
        raise EvaluationError(
            E.NOT_EXTERNAL,
            "indicator",
            detail_zh=indicator.label.zh,
            detail_en=indicator.label.en,
        )
    return indicator


def _value_field(indicator: Indicator, name: str | None) -> str:
    """The input field at fault, named as the API's ``value`` input names it."""
    if name in ("points", "rank"):
        return f"value.{name}"
    if indicator.rate is not None and name == indicator.rate.numerator:
        return "value.numerator"
    if indicator.rate is not None and name == indicator.rate.denominator:
        return "value.denominator"
    if isinstance(indicator.rule, ChecksRule):
        return "value.checks"
    return "value"


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except InvalidPeriod as exc:
        raise EvaluationError.from_period(exc) from exc


async def _target(
    conn: AsyncConnection, principal: Principal, ref: TargetRef, action: Action
) -> Target:
    """The target, if it exists and the caller may act on its region. A target outside the
    caller's scope answers exactly like one that does not exist."""
    if ref.kind is TargetKind.DEPARTMENT:
        if ref.department_id is None or ref.region_code is not None:
            raise EvaluationError(E.INVALID_TARGET, "departmentId")
        found = await department_target(conn, ref.department_id)
        field = "departmentId"
    else:
        if ref.region_code is None or ref.department_id is not None:
            raise EvaluationError(E.INVALID_TARGET, "regionCode")
        field = "regionCode"
        rec = await region_record(conn, ref.region_code) if is_valid_code(ref.region_code) else None
        found = region_target(rec) if rec is not None else None
    if found is None:
        raise EvaluationError(E.TARGET_NOT_FOUND, field)
    if not can_on_region(principal, action, found.region_code):
        if can_on_region(principal, Action.SCORE_READ, found.region_code):
            raise EvaluationError(E.PERMISSION_DENIED, field)
        raise EvaluationError(E.TARGET_NOT_FOUND, field)
    return found


async def _replayed(
    conn: AsyncConnection,
    principal: Principal,
    key: str | None,
    operation: str,
    cmd: Any,
    now: dt.datetime,
    answer: sa.Select[Any],
) -> tuple[int, Mapping[str, Any] | None] | None:
    """On a retry with the same key: the first result's id and the row it answered with
    (read with ``answer``'s columns); None to go ahead."""
    if key is None or principal.account_id is None:
        return None
    payload = {"cmd": repr(cmd)}
    replay = await idempotency.claim(conn, principal.account_id, key, operation, payload, now)
    if replay is None:
        return None
    if replay.reused or replay.result_id is None:
        raise EvaluationError(E.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    first: Mapping[str, Any] | None = None
    if replay.first is not None:
        first = await idempotency.first_row(conn, answer, replay.first)
    return replay.result_id, first


async def record_indicator(
    db: Database,
    clock: Clock,
    principal: Principal,
    cmd: RecordIndicator,
    idempotency_key: str | None = None,
) -> tuple[int, IndicatorRecordRow | None]:
    """Validate everything, then store the input and supersede the current one."""
    scheme = _scheme(cmd.scheme)
    indicator = _indicator(scheme, cmd.indicator)
    period = _period(cmd.period)
    async with db.transaction(principal) as conn:
        first = await _replayed(
            conn, principal, idempotency_key, "recordIndicator", cmd, clock.now(), _record_query()
        )
        if first is not None:
            return first[0], _record_row(first[1]) if first[1] is not None else None
        target = await _target(conn, principal, cmd.target, Action.INDICATOR_RECORD)
        if cmd.value is None:
            raise EvaluationError(
                E.WRONG_INPUT_KIND,
                "value",
                detail_zh="须且只能给出一种数值",
                detail_en="give exactly one kind of value",
            )
        try:
            validate_external_input(indicator, cmd.value)
        except ScoringError as exc:
            raise EvaluationError.from_scoring(exc, _value_field(indicator, exc.field)) from exc
        r = t.indicator_record.c
        same = [
            r.scheme == scheme.key,
            r.indicator_key == indicator.key,
            r.target_kind == target.kind.value,
            r.region_code == target.region_code,
            r.department_id.is_(None)
            if target.department_id is None
            else r.department_id == target.department_id,
            r.period_start == period.start,
            r.period_end == period.end,
        ]
        lock_key = "|".join(
            (
                "indicator_record",
                scheme.key,
                indicator.key,
                target.kind.value,
                target.region_code,
                str(target.department_id or ""),
                period.start.isoformat(),
                period.end.isoformat(),
            )
        )
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": lock_key}
        )
        new_id = (
            await conn.execute(
                t.indicator_record.insert()
                .values(
                    scheme=scheme.key,
                    indicator_key=indicator.key,
                    target_kind=target.kind.value,
                    region_code=target.region_code,
                    department_id=target.department_id,
                    period_label=period.label,
                    period_start=period.start,
                    period_end=period.end,
                    value=encode_value(cmd.value),
                    recorded_by=principal.account_id,
                    recorded_at=clock.now(),
                )
                .returning(r.id)
            )
        ).scalar_one()
        await conn.execute(
            t.indicator_record.update()
            .where(*same, r.superseded_by.is_(None), r.id != new_id)
            .values(superseded_by=new_id)
        )
        if idempotency_key and principal.account_id is not None:
            answer = _record_query().where(t.indicator_record.c.id == new_id)
            await idempotency.record_result(
                conn, principal.account_id, idempotency_key, new_id, answer
            )
        await conn.commit()
    return int(new_id), None


async def add_list_entry(
    db: Database,
    clock: Clock,
    principal: Principal,
    cmd: AddListEntry,
    idempotency_key: str | None = None,
) -> tuple[int, ListEntryRow | None]:
    reason = (cmd.reason or "").strip()
    if not reason:
        raise EvaluationError(E.REQUIRED, "reason")
    if len(reason) > REASON_MAX:
        raise EvaluationError(
            E.TOO_LONG, "reason", detail_zh=f"≤ {REASON_MAX}", detail_en=f"≤ {REASON_MAX}"
        )
    now = clock.now()
    today = local_date(now)
    listed_on = cmd.listed_on or today
    if listed_on > today:
        raise EvaluationError(
            E.INVALID_DATE, "listedOn", detail_zh="不能晚于今天", detail_en="not after today"
        )
    async with db.transaction(principal) as conn:
        first = await _replayed(
            conn, principal, idempotency_key, "addListEntry", cmd, now, _entry_query()
        )
        if first is not None:
            return first[0], _entry_row(first[1]) if first[1] is not None else None
        target = await _target(conn, principal, cmd.target, Action.LIST_ENTRY_ADD)
        if cmd.issue_id is not None:
            # Only an issue the caller can see: RLS and the application's predicate agree.
            seen = await conn.execute(
                sa.select(t.issue.c.id).where(
                    t.issue.c.id == cmd.issue_id, issue_visibility(principal)
                )
            )
            if seen.first() is None:
                raise EvaluationError(E.ISSUE_NOT_FOUND, "issueId")
        if cmd.case_id is not None:
            # The case library is shared province-wide (一地突破、全域共享).
            province = (principal.region_code or "")[:2]
            case = await conn.execute(
                sa.select(t.model_case.c.id).where(
                    t.model_case.c.id == cmd.case_id, t.model_case.c.province_code == province
                )
            )
            if case.first() is None:
                raise EvaluationError(E.CASE_NOT_FOUND, "caseId")
        new_id = (
            await conn.execute(
                t.list_entry.insert()
                .values(
                    kind=cmd.kind.value,
                    target_kind=target.kind.value,
                    region_code=target.region_code,
                    department_id=target.department_id,
                    reason=reason,
                    issue_id=cmd.issue_id,
                    case_id=cmd.case_id,
                    listed_on=listed_on,
                    added_by=principal.account_id,
                    added_at=now,
                )
                .returning(t.list_entry.c.id)
            )
        ).scalar_one()
        if idempotency_key and principal.account_id is not None:
            answer = _entry_query().where(t.list_entry.c.id == new_id)
            await idempotency.record_result(
                conn, principal.account_id, idempotency_key, new_id, answer
            )
        await conn.commit()
    return int(new_id), None


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
