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
enterprise, taken in meanwhile) goes record by record, and a batch that loses a deadlock
runs again: ``bulk_submit.submit_batch`` and ``run_batch``, as for the CSV import."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop import i18n
from closedloop.authz.roles import Principal, Role
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import Category, Channel
from closedloop.identity.channel_clients import channel_of
from closedloop.services.issues import bulk_submit, commands
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.settings import Settings
from closedloop.tenancy.scope import issue_visibility

# Command error fields -> the record's fields.
FIELDS = {"externalId": "recordId"}


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
    account_id = principal.account_id

    async def work(tx: CommandTx) -> BatchResult:
        channel = await channel_of(tx.conn, account_id)
        if channel is None:
            return BatchResult([], [IssueCommandError(IssueErrorCode.PERMISSION_DENIED)])
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
        items = [bulk_submit.Submission(_command(records[i], channel), tx.now) for i in wanted]
        outcomes = await bulk_submit.submit_batch(tx, items)
        for index, outcome in zip(wanted, outcomes, strict=True):
            results[index] = _result(records[index], outcome)
        ordered = [results[i] for i in range(len(records))]
        await _find_existing(tx.conn, principal, channel, ordered)
        return BatchResult(ordered)

    return await bulk_submit.run_batch(db, principal, settings, clock.now(), work)


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
