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

The reading side (rows, history, list entries) is ``record_queries``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
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
)
from closedloop.domain.scoring import (
    ExternalInput,
    validate_external_input,
)
from closedloop.services import idempotency
from closedloop.services.evaluation.errors import EvaluationError
from closedloop.services.evaluation.errors import EvaluationErrorCode as E
from closedloop.services.evaluation.record_queries import (
    IndicatorRecordRow,
    ListEntryRow,
    encode_value,
    entry_query,
    entry_row,
    record_query,
    record_row,
)
from closedloop.services.evaluation.targets import (
    ListKind,
    Target,
    TargetKind,
    department_target,
    region_record,
    region_target,
)
from closedloop.services.schemes.catalog import SchemeCatalog
from closedloop.tenancy.scope import issue_visibility

REASON_MAX = 2000


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


async def _scheme(schemes: SchemeCatalog, key: str, period: Period) -> Scheme:
    """The scheme in force for the period the input is recorded for."""
    try:
        return await schemes.scheme(key, period)
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
    schemes: SchemeCatalog | None = None,
) -> tuple[int, IndicatorRecordRow | None]:
    """Validate everything, then store the input and supersede the current one.
    ``schemes``: the process's versions in force (read afresh without one)."""
    period = _period(cmd.period)
    scheme = await _scheme(schemes or SchemeCatalog(db), cmd.scheme, period)
    indicator = _indicator(scheme, cmd.indicator)
    async with db.transaction(principal) as conn:
        first = await _replayed(
            conn, principal, idempotency_key, "recordIndicator", cmd, clock.now(), record_query()
        )
        if first is not None:
            return first[0], record_row(first[1]) if first[1] is not None else None
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
            answer = record_query().where(t.indicator_record.c.id == new_id)
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
            conn, principal, idempotency_key, "addListEntry", cmd, now, entry_query()
        )
        if first is not None:
            return first[0], entry_row(first[1]) if first[1] is not None else None
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
            answer = entry_query().where(t.list_entry.c.id == new_id)
            await idempotency.record_result(
                conn, principal.account_id, idempotency_key, new_id, answer
            )
        await conn.commit()
    return int(new_id), None
