"""What can be done on an issue now: the commands its state allows
(``domain.issues.TRANSITIONS``) that its own facts do not block. Pure.

The facts' rules have their homes: the ladder's (``domain.ladder``: delegated issues,
the province's top, towns, expired limits) and the urging interval and coordination
ladder (``domain.issues``). The commands raise these same codes, so an action offered
here does not fail for the issue's state or facts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from closedloop.domain import ladder
from closedloop.domain.errors import IssueErrorCode
from closedloop.domain.issues import (
    Command,
    HandlingLevel,
    IssueState,
    allowed_commands,
    coordination_targets,
    urge_too_soon,
)

E = IssueErrorCode


@dataclass(frozen=True, slots=True)
class IssueFacts:
    """What decides, beyond the state, whether a command can run on an issue."""

    state: IssueState
    handling_level: HandlingLevel
    holding_region_code: str
    delegated_from_region_code: str | None
    last_urged_at: dt.datetime | None
    # The running limit (None when no clock runs): a delegation's deadline must fit inside.
    due_at: dt.datetime | None = None


def blocked(
    command: Command, facts: IssueFacts, now: dt.datetime, urge_interval: dt.timedelta
) -> IssueErrorCode | None:
    """Why ``command`` fails on this issue whatever its input though its state allows it
    (``None``: it does not)."""
    delegated_from = facts.delegated_from_region_code
    holder = facts.holding_region_code
    match command:
        case Command.REJECT:
            return ladder.rejection_blocked(delegated_from)
        case Command.ESCALATE:
            return ladder.escalation_blocked(holder, facts.handling_level, delegated_from)
        case Command.RETURN:
            return ladder.return_blocked(delegated_from)
        case Command.DELEGATE:
            return ladder.delegation_blocked(holder, facts.due_at, now)
        case Command.URGE if urge_too_soon(facts.last_urged_at, urge_interval, now):
            return E.URGE_TOO_SOON
        case Command.COORDINATE if not coordination_targets(facts.handling_level):
            return E.LEVEL_INVALID
        case Command.MEETING_DECISION if facts.handling_level is not HandlingLevel.LEADER_MEETING:
            return E.LEVEL_INVALID
    return None


def available_commands(
    facts: IssueFacts, now: dt.datetime, urge_interval: dt.timedelta
) -> list[Command]:
    """The commands the state machine and the issue's own facts allow now."""
    return [
        c for c in allowed_commands(facts.state) if blocked(c, facts, now, urge_interval) is None
    ]
