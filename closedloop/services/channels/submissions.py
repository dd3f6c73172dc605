"""A channel system pushes a batch of its records in, through the CSV import's own load:
``bulk_submit.submit_many`` (the rules of ``commands.submit`` applied set-wise: validation,
the enterprise in scope or registered on the spot, the channel's own record id as the
issue's external id, taken ones refused), a few statements for the whole batch, in one
transaction. Every command names the account's bound channel.

Each record answers on its own: CREATED, ALREADY_SUBMITTED (its record id was taken in
before: idempotent on the channel's record id, as the import is) or REJECTED with typed
errors, and then nothing of that record is written. A batch retried after a lost answer
therefore adds nothing and answers every record ALREADY_SUBMITTED with its issue.

A batch that meets a conflict with a concurrent writer (the same record id or the same new
enterprise, taken in meanwhile) goes record by record through ``commands.submit`` instead,
a savepoint each, in the order of the region each issue is numbered in (the per-region
number counters stay locked to commit: concurrent batches take them in one order); a batch
that loses a deadlock anyway runs again (nothing of it was written)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop import i18n
from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.credit_code import InvalidCreditCode, normalize_credit_code
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import Category, Channel
from closedloop.identity.channel_clients import channel_of
from closedloop.services.event_bus import publish
from closedloop.services.issues import bulk_submit, commands
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.settings import Settings
from closedloop.tenancy.scope import issue_visibility

# Command error fields -> the record's fields.
FIELDS = {"externalId": "recordId"}
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
DEADLOCK_ATTEMPTS = 3


class RecordOutcome(enum.StrEnum):
    CREATED = "CREATED"
    ALREADY_SUBMITTED = "ALREADY_SUBMITTED"
    REJECTED = "REJECTED"


i18n.register(
    "ChannelRecordOutcome",
    {
        "CREATED": ("已受理入库", "Taken in"),
        "ALREADY_SUBMITTED": ("此前已推送（未重复入库）", "Taken in before (nothing added)"),
        "REJECTED": ("未入库（见错误）", "Refused (see errors)"),
    },
)


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    record_id: str
    credit_code: str
    title: str
    content: str
    category: Category | None = None
    tags: Sequence[str] = ()
    enterprise_name: str | None = None
    enterprise_region: str | None = None


@dataclass(slots=True)
class RecordResult:
    record_id: str
    outcome: RecordOutcome
    issue_id: int | None = None
    errors: list[IssueCommandError] = field(default_factory=list)


@dataclass(slots=True)
class BatchResult:
    results: list[RecordResult]
    errors: list[IssueCommandError] = field(default_factory=list)


async def submit_records(
    db: Database,
    clock: Clock,
    settings: Settings,
    principal: Principal,
    records: Sequence[ChannelRecord],
) -> BatchResult:
    """Take in ``records`` as the channel system ``principal`` (the API caps a batch at
    ``LIST_MAX`` records)."""
    if principal.role is not Role.CHANNEL or principal.account_id is None:
        return BatchResult([], [IssueCommandError(IssueErrorCode.PERMISSION_DENIED)])
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return await _batch(db, clock, settings, principal, records)
        except DBAPIError as exc:
            # A concurrent writer locked in another order (a staff command, another
            # system's batch): nothing was written; the whole batch runs again.
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def _batch(
    db: Database,
    clock: Clock,
    settings: Settings,
    principal: Principal,
    records: Sequence[ChannelRecord],
) -> BatchResult:
    assert principal.account_id is not None
    async with db.transaction(principal) as conn:
        channel = await channel_of(conn, principal.account_id)
        if channel is None:
            return BatchResult([], [IssueCommandError(IssueErrorCode.PERMISSION_DENIED)])
        tx = CommandTx(conn, principal, clock.now(), settings)
        results: dict[int, RecordResult] = {}
        first_index: dict[str, int] = {}
        for index, record in enumerate(records):
            key = record.record_id.strip()
            if key and key in first_index:
                repeated = IssueCommandError(
                    IssueErrorCode.DUPLICATE_EXTERNAL_ID,
                    "recordId",
                    f"repeats record {first_index[key]} of this batch",
                )
                results[index] = RecordResult(
                    record.record_id, RecordOutcome.REJECTED, None, [repeated]
                )
            else:
                first_index[key] = index
        wanted = list(first_index.values())
        touched = set(tx.touched)
        try:
            # The import's set-wise load: a few statements for the whole batch.
            async with conn.begin_nested():
                outcomes = await bulk_submit.submit_many(
                    tx,
                    [bulk_submit.Submission(_command(records[i], channel), tx.now) for i in wanted],
                )
            for index, outcome in zip(wanted, outcomes, strict=True):
                results[index] = _result(records[index], outcome)
        except IntegrityError:
            # A conflict with a concurrent writer (the same record id, the same new
            # enterprise): record by record instead, each in its own savepoint.
            tx.touched = touched
            for index in await _lock_order(conn, records, wanted):
                results[index] = await _submit_one(tx, records[index], channel)
        ordered = [results[i] for i in range(len(records))]
        await _find_existing(conn, principal, channel, ordered)
        await publish(conn, tx.touched)
        await conn.commit()
    return BatchResult(ordered)


async def _lock_order(
    conn: AsyncConnection, records: Sequence[ChannelRecord], indexes: Iterable[int]
) -> list[int]:
    """The records by the region their issue will be numbered in (the enterprise's), so
    that concurrent batches take the per-region number counters (held to commit) in one
    order and never wait on each other in a cycle."""
    codes: dict[int, str] = {}
    for index in indexes:
        try:
            codes[index] = normalize_credit_code(records[index].credit_code)
        except InvalidCreditCode:
            codes[index] = ""
    known = await conn.execute(
        sa.select(t.enterprise.c.credit_code, t.enterprise.c.region_code).where(
            t.enterprise.c.credit_code
            == sa.any_(sa.literal(sorted(set(codes.values())), ARRAY(sa.Text)))
        )
    )
    region_of: dict[str, str] = {code: region for code, region in known}

    # An enterprise a record of this batch registers: the region that record names.
    for index in sorted(codes):
        named = records[index].enterprise_region
        if named and codes[index]:
            region_of.setdefault(codes[index], named)

    def region(index: int) -> str:
        return region_of.get(codes[index], "")

    return sorted(codes, key=lambda index: (region(index), index))


def _command(record: ChannelRecord, channel: str) -> commands.SubmitIssue:
    return commands.SubmitIssue(
        title=record.title,
        content=record.content,
        channel=Channel(channel),
        category=record.category,
        tags=list(record.tags),
        credit_code=record.credit_code,
        enterprise_name=record.enterprise_name,
        enterprise_region=record.enterprise_region,
        external_id=record.record_id,
    )


def _result(record: ChannelRecord, outcome: int | IssueCommandError) -> RecordResult:
    if not isinstance(outcome, IssueCommandError):
        return RecordResult(record.record_id, RecordOutcome.CREATED, outcome)
    if outcome.code is IssueErrorCode.DUPLICATE_EXTERNAL_ID:
        return RecordResult(record.record_id, RecordOutcome.ALREADY_SUBMITTED)
    field = FIELDS.get(outcome.field or "", outcome.field)
    error = IssueCommandError(outcome.code, field, outcome.detail)
    return RecordResult(record.record_id, RecordOutcome.REJECTED, None, [error])


async def _submit_one(tx: CommandTx, record: ChannelRecord, channel: str) -> RecordResult:
    touched = set(tx.touched)
    try:
        async with tx.conn.begin_nested():  # a failing record leaves nothing behind
            issue_id = await commands.submit(tx, _command(record, channel))
    except IssueCommandError as exc:
        tx.touched = touched
        return _result(record, exc)
    except IntegrityError as exc:
        tx.touched = touched
        # Taken in meanwhile by a concurrent batch, or earlier outside this account's sight
        # (a CSV import of the same channel): the unique (channel, external id) decides.
        if "uq_issue_channel_external_id" in str(exc):
            return RecordResult(record.record_id, RecordOutcome.ALREADY_SUBMITTED)
        raise
    return _result(record, issue_id)


async def _find_existing(
    conn: AsyncConnection, principal: Principal, channel: str, results: list[RecordResult]
) -> None:
    """The issues of the records taken in before, where this account sees them (its own)."""
    wanted = {
        r.record_id.strip(): r for r in results if r.outcome is RecordOutcome.ALREADY_SUBMITTED
    }
    if not wanted:
        return
    c = t.issue.c
    rows = await conn.execute(
        sa.select(c.external_id, c.id).where(
            issue_visibility(principal),
            c.channel == channel,
            c.external_id.in_(sorted(wanted)),
        )
    )
    for external_id, issue_id in rows:
        wanted[external_id].issue_id = int(issue_id)
