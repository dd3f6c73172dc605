"""Pushing issues to a tier's 七张问题清单 application and tracking what it reports back.

The rules (who may push what, which states follow which) live in
``closedloop.domain.problem_lists``; this module writes them down:

* ``push`` (a command, one unit of work): a leader of the tier that holds the issue pushes
  it with a reason; a ``problem_list_push`` row in ``PENDING`` and an outbox row of channel
  ``PROBLEM_LIST`` are written together with the issue's timeline entry;
* the outbox relay sends the row to the tier's configured endpoint, signed, with
  ``documents``; the application answers with its receipt and ``delivered`` records it
  (``failed`` when the relay gives up);
* ``apply_report``: the application's signed callback reports a state; it is recorded on
  the push and on the issue's timeline, and the tier's center is told when the application
  has finished with it (resolved or rejected), so the loop carries on with the issue.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop import i18n
from closedloop.authz.roles import Action
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.errors import IssueCommandError
from closedloop.domain.errors import IssueErrorCode as E
from closedloop.domain.issues import Command, IssueState
from closedloop.domain.problem_lists import (
    FINISHED,
    REASON_MAX,
    PushDecision,
    PushState,
    Report,
    ReportErrorCode,
    ReportOutcome,
    push_decision,
    report_outcome,
    valid_reference,
)
from closedloop.services.event_bus import publish
from closedloop.services.issues.commands import required_text
from closedloop.services.issues.records import lock_issue
from closedloop.services.issues.sweeper import SYSTEM
from closedloop.services.issues.unit_of_work import CommandTx
from closedloop.settings import Settings

CHANNEL = "PROBLEM_LIST"
TOPIC = "PROBLEM_LIST_PUSH"
ERROR_MAX = 300


async def push(tx: CommandTx, issue_id: int, version: int, reason: str | None) -> int:
    """A leader pushes the issue its tier holds to the tier's application (本级七张问题清单);
    the push's id. Nothing is written when it fails."""
    text = required_text(reason, "reason", REASON_MAX)
    issue = await tx.load_for(Action.ISSUE_PUSH_PROBLEM_LIST, issue_id, version)
    tx.next_state(Command.PUSH_PROBLEM_LIST, issue)
    tier = issue.holding_region_code
    if tier not in tx.settings.problem_list_endpoints:
        raise IssueCommandError(E.NO_PROBLEM_LIST_APP, None, tier)
    c = t.problem_list_push.c
    existing = (
        await tx.conn.execute(
            sa.select(c.id, c.state).where(c.issue_id == issue.id, c.region_code == tier)
        )
    ).first()
    decision = push_decision(PushState(existing.state) if existing else None)
    if decision is PushDecision.REFUSED:
        raise IssueCommandError(E.ALREADY_PUSHED)
    fields = {
        "reason": text,
        "pushed_by": tx.principal.account_id,
        "pushed_at": tx.now,
        "state": PushState.PENDING.value,
        "last_error": None,
        "updated_at": tx.now,
    }
    if existing is None:
        push_id = (
            await tx.conn.execute(
                t.problem_list_push.insert()
                .values(issue_id=issue.id, region_code=tier, **fields)
                .returning(c.id)
            )
        ).scalar_one()
    else:  # the last one was never delivered: queue it again
        push_id = existing.id
        await tx.conn.execute(t.problem_list_push.update().where(c.id == push_id).values(**fields))
    await tx.conn.execute(
        t.outbox.insert().values(
            created_at=tx.now,
            channel=CHANNEL,
            recipient=tier,
            topic=TOPIC,
            issue_id=issue.id,
            payload={"pushId": push_id},
            next_attempt_at=tx.now,
        )
    )
    await tx.update(issue)
    await tx.event(
        issue,
        "PROBLEM_LIST_PUSHED",
        public=False,
        message=text,
        payload={"region": tier, "pushId": push_id, "again": decision is PushDecision.AGAIN},
    )
    return int(push_id)


# --- the relay's side ----------------------------------------------------------------------


async def documents(conn: AsyncConnection, push_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the application receives for each push (read when it is sent, so a retry
    carries the issue as it is then)."""
    if not push_ids:
        return {}
    p, i, e, a = t.problem_list_push.c, t.issue.c, t.enterprise.c, t.account.c
    rows = await conn.execute(
        sa.select(
            p.id,
            p.region_code,
            p.reason,
            p.pushed_at,
            a.display_name.label("pushed_by"),
            i.id.label("issue_id"),
            i.number,
            i.title,
            i.content,
            i.category,
            i.state.label("issue_state"),
            i.origin_region_code,
            i.created_at,
            e.name.label("enterprise_name"),
            e.credit_code,
        )
        .select_from(
            t.problem_list_push.join(t.issue, i.id == p.issue_id)
            .join(t.enterprise, e.id == i.enterprise_id)
            .outerjoin(t.account, a.id == p.pushed_by)
        )
        .where(p.id.in_(list(push_ids)))
    )
    return {
        r.id: {
            "pushId": r.id,
            "region": r.region_code,
            "reason": r.reason,
            "pushedAt": r.pushed_at.isoformat(),
            "pushedBy": r.pushed_by,
            "issue": {
                "id": r.issue_id,
                "number": r.number,
                "title": r.title,
                "content": r.content,
                "category": r.category,
                "state": r.issue_state,
                "originRegion": r.origin_region_code,
                "submittedAt": r.created_at.isoformat(),
                "enterprise": {"name": r.enterprise_name, "creditCode": r.credit_code},
            },
        }
        for r in rows
    }


def receipt(body: bytes) -> str | None:
    """The application's reference in its answer to a push (``{"reference": "…"}``)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    reference = document.get("reference") if isinstance(document, dict) else None
    return reference if valid_reference(reference) else None


async def delivered(
    conn: AsyncConnection, settings: Settings, push_id: int, reference: str, now: dt.datetime
) -> None:
    """The application took the push and gave its receipt (the relay's transaction)."""
    c = t.problem_list_push.c
    row = (
        await conn.execute(
            t.problem_list_push.update()
            .where(c.id == push_id, c.state.in_([PushState.PENDING, PushState.FAILED]))
            .values(
                state=PushState.DELIVERED.value,
                reference=reference,
                delivered_at=now,
                last_error=None,
                updated_at=now,
            )
            .returning(c.issue_id, c.region_code)
        )
    ).first()
    if row is None:  # already delivered (a second relay, a crash before the commit)
        return
    await _timeline(
        conn,
        settings,
        now,
        row.issue_id,
        "PROBLEM_LIST_DELIVERED",
        None,
        {"region": row.region_code, "reference": reference},
    )


async def failed(
    conn: AsyncConnection, push_id: int, error: str, now: dt.datetime, final: bool
) -> None:
    """A delivery attempt failed; ``final``: the relay gives up (a leader may push again)."""
    c = t.problem_list_push.c
    values: dict[str, Any] = {"last_error": error[:ERROR_MAX], "updated_at": now}
    if final:
        values["state"] = PushState.FAILED.value
    await conn.execute(
        t.problem_list_push.update()
        .where(c.id == push_id, c.state == PushState.PENDING.value)
        .values(**values)
    )


async def _timeline(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    issue_id: int,
    type_: str,
    message: str | None,
    payload: dict[str, Any],
) -> CommandTx:
    """An internal timeline entry by the system (the issue's state does not change)."""
    tx = CommandTx(conn, SYSTEM, now, settings)
    state = (
        await conn.execute(sa.select(t.issue.c.state).where(t.issue.c.id == issue_id))
    ).scalar_one()
    await tx.append_event(
        issue_id,
        type_,
        from_state=IssueState(state),
        to_state=IssueState(state),
        public=False,
        message=message,
        payload=payload,
    )
    await publish(conn, tx.touched)
    return tx


# --- the application's reports ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportResult:
    error: ReportErrorCode | None
    state: PushState | None = None  # the push's state after the report
    changed: bool = False


async def apply_report(
    db: Database, clock: Clock, settings: Settings, report: Report
) -> ReportResult:
    """Record one state report of the tier's application, in one transaction as the system.
    A reference unknown in that tier (another tier's included) writes nothing."""
    now = clock.now()
    c = t.problem_list_push.c
    async with db.system_transaction() as conn:
        row = (
            await conn.execute(
                sa.select(t.problem_list_push)
                .where(c.region_code == report.region_code, c.reference == report.reference)
                .with_for_update()
            )
        ).first()
        if row is None:
            return ReportResult(ReportErrorCode.UNKNOWN_REFERENCE)
        current = PushState(row.state)
        outcome = report_outcome(
            current, report.state, same_message=row.report_message == report.message
        )
        if outcome is ReportOutcome.STALE:
            return ReportResult(ReportErrorCode.STALE_REPORT, current)
        if outcome is ReportOutcome.UNCHANGED:
            return ReportResult(None, current)
        await conn.execute(
            t.problem_list_push.update()
            .where(c.id == row.id)
            .values(
                state=report.state.value,
                reported_at=now,
                report_message=report.message,
                updated_at=now,
            )
        )
        tx = await _timeline(
            conn,
            settings,
            now,
            row.issue_id,
            "PROBLEM_LIST_REPORTED",
            report.message,
            {"region": row.region_code, "reference": row.reference, "state": report.state.value},
        )
        if report.state in FINISHED:
            issue = await lock_issue(conn, row.issue_id)
            assert issue is not None
            label = i18n.label(report.state, i18n.ZH, "ProblemListPushState")
            await tx.notify_about(
                issue.id,
                issue.number,
                issue.title,
                "OA",
                f"center:{issue.holding_region_code}",
                f"PROBLEM_LIST_{report.state.value}",
                f"问题（{issue.number}）七张问题清单回传：{label}"
                + (f"，{report.message}" if report.message else ""),
            )
        await conn.commit()
    return ReportResult(None, report.state, changed=True)
