"""Moving an issue between tiers and up the ladder inside one (DESIGN §3, §4).

- ``escalate``: to the holding region's *direct parent* only (town → county → city →
  province); at the province, to the provincial task force. The parent's center gets it
  in its pool with a fresh time limit.
- ``delegate``: down into the holding region's own subtree, with a deadline inside the
  holder's own; the receiver may ``return_delegated`` it with a reason (counted), never
  reject it.
- ``coordinate``: up the ladder inside the tier (BOARD → CENTER → LEADER_MEETING).
- ``record_meeting``: the leaders' joint meeting: date, chair, decision.
- ``flag``: onto the tier's seven problem lists; the issue keeps moving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from closedloop.authz.roles import Action
from closedloop.domain import sla
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import (
    ClockKind,
    Command,
    HandlingLevel,
    coordination_targets,
)
from closedloop.domain.ladder import (
    check_delegation_deadline,
    escalation_target,
    is_delegation_target,
)
from closedloop.services.issues.actions import check
from closedloop.services.issues.commands import required_text
from closedloop.services.issues.time_limits import start_clock
from closedloop.services.issues.unit_of_work import UnitOfWork

E = IssueErrorCode


async def escalate(
    tx: UnitOfWork, issue_id: int, version: int, reason: str, to_region: str | None
) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_ESCALATE, issue_id, version)
    check(Command.ESCALATE, issue, tx.now, tx.settings)
    target = escalation_target(
        issue.holding_region_code,
        issue.handling_level,
        issue.delegated_from_region_code,
        to_region,
    )
    if target.region is None:  # the province's own top: its task force (专班)
        tx.next_state(Command.COORDINATE, issue)
        await tx.update(
            issue,
            handling_level=HandlingLevel.PROVINCE_TASKFORCE,
            escalation_count=issue.escalation_count + 1,
        )
        await tx.event(
            issue, "ESCALATED", public=True, message=reason, payload={"to": "PROVINCE_TASKFORCE"}
        )
        return issue.id
    parent = target.region
    to = tx.next_state(Command.ESCALATE, issue)
    # A fresh limit, by the parent's own rules.
    clock = await start_clock(tx, replace(issue, holding_region_code=parent), ClockKind.ASSIGN)
    await tx.update(
        issue,
        state=to,
        holding_region_code=parent,
        handling_level=HandlingLevel.PARENT_TIER,
        board_id=None,
        department_id=None,
        escalation_count=issue.escalation_count + 1,
        **clock,
    )
    await tx.event(
        issue,
        "ESCALATED",
        public=True,
        to_state=to,
        message=reason,
        payload={"from": issue.holding_region_code, "to": parent},
    )
    await tx.notify(
        issue,
        "OA",
        f"center:{parent}",
        "ISSUE_ESCALATED",
        f"下级上报问题（{issue.number}）：{issue.title}。理由：{reason}",
    )
    return issue.id


async def delegate(
    tx: UnitOfWork,
    issue_id: int,
    version: int,
    to_region: str,
    due_at: dt.datetime,
    reason: str | None,
) -> int:
    issue = await tx.load_for(Action.ISSUE_DELEGATE, issue_id, version)
    holder = issue.holding_region_code
    if not is_delegation_target(holder, to_region) or not await tx.region_exists(to_region):
        raise IssueCommandError(E.DELEGATION_TARGET_INVALID, "toRegion")
    check_delegation_deadline(tx.now, due_at, sla.running_limit(issue.clock_kind, issue.due_at))
    to = tx.next_state(Command.DELEGATE, issue)
    await tx.update(
        issue,
        state=to,
        holding_region_code=to_region,
        delegated_from_region_code=holder,
        handling_level=HandlingLevel.CENTER,
        board_id=None,
        department_id=None,
        **sla.started(ClockKind.REPLY, sla.window_until(tx.now, due_at)),
    )
    await tx.event(
        issue,
        "DELEGATED",
        public=True,
        to_state=to,
        message=reason,
        payload={"from": holder, "to": to_region, "dueAt": due_at.isoformat()},
    )
    await tx.notify(
        issue,
        "OA",
        f"center:{to_region}",
        "ISSUE_DELEGATED",
        f"上级交办问题（{issue.number}），时限 {due_at.isoformat()}：{issue.title}",
    )
    return issue.id


async def return_delegated(tx: UnitOfWork, issue_id: int, version: int, reason: str) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_RETURN, issue_id, version)
    check(Command.RETURN, issue, tx.now, tx.settings)
    back_to = issue.delegated_from_region_code
    assert back_to is not None
    to = tx.next_state(Command.RETURN, issue)
    # The delegated deadline (inside the delegator's own) keeps running.
    await tx.update(
        issue,
        state=to,
        holding_region_code=back_to,
        delegated_from_region_code=None,
        handling_level=HandlingLevel.CENTER,
        board_id=None,
        department_id=None,
        delegation_return_count=issue.delegation_return_count + 1,
    )
    await tx.event(
        issue,
        "DELEGATION_RETURNED",
        public=False,
        to_state=to,
        message=reason,
        payload={"from": issue.holding_region_code, "to": back_to},
    )
    await tx.notify(
        issue,
        "OA",
        f"center:{back_to}",
        "ISSUE_RETURNED",
        f"交办问题（{issue.number}）被退回：{reason}",
    )
    return issue.id


async def coordinate(
    tx: UnitOfWork, issue_id: int, version: int, level: HandlingLevel, reason: str
) -> int:
    reason = required_text(reason, "reason", 2000)
    issue = await tx.load_for(Action.ISSUE_ESCALATE, issue_id, version)
    if level not in coordination_targets(issue.handling_level):
        raise IssueCommandError(E.LEVEL_INVALID, "level")
    tx.next_state(Command.COORDINATE, issue)
    await tx.update(issue, handling_level=level)
    await tx.event(
        issue,
        "LEVEL_RAISED",
        public=False,
        message=reason,
        payload={"from": issue.handling_level.value, "to": level.value},
    )
    return issue.id


async def record_meeting(
    tx: UnitOfWork, issue_id: int, version: int, meeting_date: dt.date, chair: str, decision: str
) -> int:
    chair = required_text(chair, "chair", 100)
    decision = required_text(decision, "decision", 5000)
    issue = await tx.load_for(Action.MEETING_DECIDE, issue_id, version)
    check(Command.MEETING_DECISION, issue, tx.now, tx.settings)
    tx.next_state(Command.MEETING_DECISION, issue)
    await tx.update(issue)
    await tx.event(
        issue,
        "MEETING_DECIDED",
        public=False,
        message=decision,
        payload={"date": meeting_date.isoformat(), "chair": chair},
    )
    return issue.id
