"""Learning from every case (举一反三): merging duplicates, linking recurrences, sharing
model cases, and callback verification. Each handler runs in one unit of work."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa

from closedloop.authz.roles import Action
from closedloop.db import tables as t
from closedloop.domain import sla
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import OPEN_STATES, ClockKind, Command, IssueState
from closedloop.services.issues.commands import required_text
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.time_limits import start_clock
from closedloop.services.issues.unit_of_work import CommandTx, UnitOfWork
from closedloop.services.learning.redaction import redact_text

E = IssueErrorCode


@dataclass(frozen=True)
class Duplicate:
    issue_id: int
    version: int


async def fold_into(
    tx: UnitOfWork, issue: IssueRecord, primary: IssueRecord, reason: str | None
) -> dict[str, object]:
    """One duplicate folded into ``primary``: it ends MERGED, pointing at the primary, and
    its reporter is told. What the primary's MERGED_IN event lists of it."""
    to = tx.next_state(Command.MERGE, issue)
    await tx.update(issue, state=to, merged_into_id=primary.id, closed_at=tx.now, **sla.stopped())
    await tx.event(
        issue,
        "MERGED",
        public=True,
        to_state=to,
        message=f"与问题 {primary.number} 合并办理",
        payload={"primaryId": primary.id, "primary": primary.number, "reason": reason},
    )
    await tx.notify_enterprise(
        issue,
        "ISSUE_MERGED",
        f"您反映的问题（{issue.number}）与同类问题（{primary.number}）合并办理，办结后将告知您。",
    )
    return {
        "id": issue.id,
        "number": issue.number,
        "enterpriseId": issue.enterprise_id,
        "title": issue.title,
    }


async def merge(
    tx: CommandTx,
    primary_id: int,
    primary_version: int,
    duplicates: list[Duplicate],
    reason: str | None,
) -> int:
    """Fold duplicates into a primary held by the caller's own region.

    Each duplicate keeps its own timeline and points at the primary; its reporter is told
    now and again when the primary is resolved; scores count the primary only."""
    if not duplicates:
        raise IssueCommandError(E.REQUIRED, "duplicates")
    if any(d.issue_id == primary_id for d in duplicates):
        raise IssueCommandError(E.MERGE_INTO_ITSELF, "duplicates")
    if len({d.issue_id for d in duplicates}) != len(duplicates):
        raise IssueCommandError(E.INVALID, "duplicates", "listed twice")
    primary = await tx.load_for(Action.ISSUE_MERGE, primary_id, primary_version)
    if primary.state not in OPEN_STATES:
        raise IssueCommandError(E.MERGE_TARGET_INVALID, "primaryId", primary.state.value)
    folded: list[dict[str, object]] = []
    for dup in duplicates:
        try:
            issue = await tx.load_for(Action.ISSUE_MERGE, dup.issue_id, dup.version)
        except IssueCommandError as exc:
            if exc.code is E.PERMISSION_DENIED:
                raise IssueCommandError(E.MERGE_ACROSS_SCOPES, "duplicates") from exc
            raise
        if issue.holding_region_code != primary.holding_region_code:
            raise IssueCommandError(E.MERGE_ACROSS_SCOPES, "duplicates")
        folded.append(await fold_into(tx, issue, primary, reason))
    await tx.update(primary)
    await tx.event(
        primary, "MERGED_IN", public=False, message=reason, payload={"duplicates": folded}
    )
    return primary.id


async def link_recurrence(tx: CommandTx, issue_id: int, version: int, previous_id: int) -> int:
    """Staff confirm that an issue repeats an earlier resolved one (重发复发)."""
    issue = await tx.load_for(Action.ISSUE_TRIAGE, issue_id, version)
    tx.next_state(Command.LINK_RECURRENCE, issue)
    if previous_id == issue.id:
        raise IssueCommandError(E.RECURRENCE_INVALID, "previousId")
    prev_row = (
        (await tx.conn.execute(sa.select(t.issue).where(t.issue.c.id == previous_id)))
        .mappings()
        .first()
    )
    previous = IssueRecord.from_row(prev_row) if prev_row else None
    if previous is None or not tx.sees(previous):
        raise IssueCommandError(E.NOT_FOUND, "previousId")
    if previous.state not in (IssueState.RESOLVED, IssueState.CLOSED) or (
        previous.created_at >= issue.created_at
    ):
        raise IssueCommandError(E.RECURRENCE_INVALID, "previousId")
    await tx.update(issue, recurrence_of_id=previous.id)
    await tx.event(
        issue,
        "RECURRENCE_LINKED",
        public=False,
        payload={"previousId": previous.id, "previous": previous.number},
    )
    await tx.conn.execute(t.issue.update().where(t.issue.c.id == previous.id).values(recurred=True))
    await tx.event(
        previous, "RECURRED", public=False, payload={"issueId": issue.id, "number": issue.number}
    )
    return issue.id


@dataclass(frozen=True)
class ShareCase:
    title: str | None
    problem: str | None
    solution: str | None
    tags: list[str] | None


async def share_case(tx: CommandTx, issue_id: int, version: int, cmd: ShareCase) -> int:
    """A resolved issue becomes a model case for the whole province (一地突破、全域共享)."""
    issue = await tx.load_for(Action.CASE_SHARE, issue_id, version)
    if issue.state not in (IssueState.RESOLVED, IssueState.CLOSED):
        raise IssueCommandError(E.NOT_RESOLVED)
    taken = await tx.conn.execute(
        sa.select(t.model_case.c.id).where(t.model_case.c.issue_id == issue.id)
    )
    if taken.first() is not None:
        raise IssueCommandError(E.ALREADY_SHARED)
    ent = (
        await tx.conn.execute(
            sa.select(t.enterprise.c.name, t.enterprise.c.credit_code).where(
                t.enterprise.c.id == issue.enterprise_id
            )
        )
    ).one()
    names = [ent.name, ent.name.removesuffix("有限公司")]
    texts = [
        required_text(cmd.title or issue.title, "title", 200),
        required_text(cmd.problem or issue.content, "problem"),
        required_text(cmd.solution or issue.reply, "solution"),
    ]
    # The tagger is CPU work (~1 ms a character at worst): off the event loop.
    title, problem, solution = await asyncio.to_thread(
        lambda: [redact_text(text, names) for text in texts]
    )
    await tx.conn.execute(
        t.model_case.insert().values(
            issue_id=issue.id,
            province_code=issue.origin_region_code[:2],
            region_code=issue.origin_region_code,
            title=title,
            problem=problem,
            solution=solution,
            tags=list(cmd.tags if cmd.tags is not None else issue.tags),
            shared_by=tx.principal.account_id,
            shared_at=tx.now,
        )
    )
    tx.next_state(Command.SHARE, issue)
    await tx.update(issue)
    await tx.event(issue, "SHARED_AS_CASE", public=False, payload={"title": title})
    return issue.id


class Outcome:
    CONFIRMED = "CONFIRMED"
    NOT_RESOLVED = "NOT_RESOLVED"
    UNREACHABLE = "UNREACHABLE"


async def verify(tx: CommandTx, issue_id: int, version: int, outcome: str, note: str | None) -> int:
    """Record a callback (回访) on a sampled issue; "not actually resolved" reopens it."""
    issue = await tx.load_for(Action.ISSUE_VERIFY, issue_id, version)
    tx.next_state(Command.VERIFY, issue)
    item = (
        await tx.conn.execute(
            sa.select(t.callback_item.c.sample_id)
            .join(t.callback_sample, t.callback_sample.c.id == t.callback_item.c.sample_id)
            .where(
                t.callback_item.c.issue_id == issue.id,
                t.callback_sample.c.region_code == issue.holding_region_code,
            )
            .order_by(t.callback_item.c.sample_id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if item is None:
        raise IssueCommandError(E.NOT_IN_SAMPLE)
    await tx.conn.execute(
        t.callback_item.update()
        .where(t.callback_item.c.sample_id == item, t.callback_item.c.issue_id == issue.id)
        .values(outcome=outcome, note=note, verified_by=tx.principal.account_id, verified_at=tx.now)
    )
    payload = {"outcome": outcome, "sampleId": item}
    if outcome == Outcome.NOT_RESOLVED:
        to = tx.next_state(Command.REOPEN, issue)
        clock = await start_clock(tx, issue, ClockKind.ASSIGN)
        await tx.update(
            issue,
            state=to,
            reopen_count=issue.reopen_count + 1,
            closed_at=None,
            reason=note,
            **clock,
        )
        await tx.event(issue, "VERIFIED", public=True, to_state=to, message=note, payload=payload)
        await tx.notify(
            issue,
            "OA",
            f"center:{issue.holding_region_code}",
            "ISSUE_REOPENED",
            f"回访发现问题（{issue.number}）未实际解决，已重新办理。",
        )
    else:
        await tx.update(issue)
        await tx.event(issue, "VERIFIED", public=False, message=note, payload=payload)
    return issue.id
