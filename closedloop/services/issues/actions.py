"""What a viewer may do on an issue now: the commands the state machine and the issue's
own facts allow (``domain.availability.available_commands``) that the policy (Casbin) grants this
viewer on this issue. The commands themselves check the same two things, from the same
homes, so an action listed here does not fail for its state or its permission."""

from __future__ import annotations

import datetime as dt
import enum

from closedloop.authz.enforcer import can
from closedloop.authz.roles import Action, Principal
from closedloop.domain import sla
from closedloop.domain.availability import IssueFacts, available_commands, blocked
from closedloop.domain.errors import IssueCommandError
from closedloop.domain.issues import Command
from closedloop.services.issues.records import IssueRecord
from closedloop.settings import Settings
from closedloop.tenancy.scope import issue_target


class IssueAction(enum.StrEnum):
    """The commands a viewer can send on one issue (each a ``Command`` of the same name).
    Commands that need another table to tell whether they can succeed are offered by their
    own lists: verify (the callback sample), share (the case library), push to the seven
    problem lists (``issue.problemListPushes``), link recurrence (the candidates)."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    TRIAGE = "TRIAGE"
    ASSIGN = "ASSIGN"
    START = "START"
    NOTE = "NOTE"
    HAND_BACK = "HAND_BACK"
    RESOLVE = "RESOLVE"
    RATE = "RATE"
    URGE = "URGE"
    REOPEN = "REOPEN"
    MERGE = "MERGE"
    ESCALATE = "ESCALATE"
    DELEGATE = "DELEGATE"
    RETURN = "RETURN"
    COORDINATE = "COORDINATE"
    MEETING_DECISION = "MEETING_DECISION"


# The policy's action behind each (as the command itself checks it).
POLICY_ACTION: dict[IssueAction, Action] = {
    IssueAction.ACCEPT: Action.ISSUE_ACCEPT,
    IssueAction.REJECT: Action.ISSUE_REJECT,
    IssueAction.TRIAGE: Action.ISSUE_TRIAGE,
    IssueAction.ASSIGN: Action.ISSUE_ASSIGN,
    IssueAction.START: Action.ISSUE_START,
    IssueAction.NOTE: Action.ISSUE_NOTE,
    IssueAction.HAND_BACK: Action.ISSUE_HAND_BACK,
    IssueAction.RESOLVE: Action.ISSUE_RESOLVE,
    IssueAction.RATE: Action.ISSUE_RATE,
    IssueAction.URGE: Action.ISSUE_URGE,
    IssueAction.REOPEN: Action.ISSUE_REOPEN,
    IssueAction.MERGE: Action.ISSUE_MERGE,
    IssueAction.ESCALATE: Action.ISSUE_ESCALATE,
    IssueAction.DELEGATE: Action.ISSUE_DELEGATE,
    IssueAction.RETURN: Action.ISSUE_RETURN,
    IssueAction.COORDINATE: Action.ISSUE_ESCALATE,
    IssueAction.MEETING_DECISION: Action.MEETING_DECIDE,
}
_BY_COMMAND = {Command(a.value): a for a in IssueAction}


def facts_of(issue: IssueRecord) -> IssueFacts:
    return IssueFacts(
        state=issue.state,
        handling_level=issue.handling_level,
        holding_region_code=issue.holding_region_code,
        delegated_from_region_code=issue.delegated_from_region_code,
        last_urged_at=issue.last_urged_at,
        due_at=sla.running_limit(issue.clock_kind, issue.due_at),
    )


def urge_interval(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.urge_interval_hours)


def check(command: Command, issue: IssueRecord, now: dt.datetime, settings: Settings) -> None:
    """Raise the command's typed error when the issue's facts block it."""
    code = blocked(command, facts_of(issue), now, urge_interval(settings))
    if code is not None:
        raise IssueCommandError(code)


def viewer_actions(
    principal: Principal, issue: IssueRecord, now: dt.datetime, settings: Settings
) -> list[IssueAction]:
    """The state machine's commands not blocked by the issue's facts that the policy grants
    this viewer on this issue, in the state machine's order."""
    target = issue_target(
        principal,
        enterprise_id=issue.enterprise_id,
        holding_region=issue.holding_region_code,
        board_id=issue.board_id,
        department_id=issue.department_id,
    )
    out = []
    for command in available_commands(facts_of(issue), now, urge_interval(settings)):
        action = _BY_COMMAND.get(command)
        if action is not None and can(principal, POLICY_ACTION[action], target):
            out.append(action)
    return out
