"""Where an issue may go between tiers (DESIGN §3, §4): the escalation and delegation target
rules. Pure: whether a region exists, and everything written, is the caller's business
(``closedloop.services.issues.tiers``).

- Escalation goes to the holding region's *direct parent* only (town → county → city →
  province); at the province's top, to the provincial task force (专班), once. A delegated
  issue is returned (never rejected or escalated) before anything else.
- Delegation goes down into the holding region's own subtree (never to the holder itself;
  a town has none), with a deadline in the future and inside the holder's own running limit
  (none fits inside one already reached).

``*_blocked`` tell why a command fails whatever its input (``domain.availability`` lists
the commands an issue allows from them); the target and deadline checks apply them too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from closedloop.domain import sla
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import HandlingLevel
from closedloop.domain.regions import RegionLevel, level_of, parent_code

E = IssueErrorCode


@dataclass(frozen=True, slots=True)
class EscalationTarget:
    """The parent region's center, or (``region`` is ``None``) the provincial task force."""

    region: str | None

    @property
    def is_taskforce(self) -> bool:
        return self.region is None


def rejection_blocked(delegated_from: str | None) -> IssueErrorCode | None:
    """A delegated issue goes back to its delegator: it is returned, not rejected."""
    return E.MUST_RETURN_DELEGATION if delegated_from is not None else None


def return_blocked(delegated_from: str | None) -> IssueErrorCode | None:
    """Only a delegated issue can be returned."""
    return E.NOT_DELEGATED if delegated_from is None else None


def escalation_blocked(
    holding_region: str, handling_level: HandlingLevel, delegated_from: str | None
) -> IssueErrorCode | None:
    """Why the issue cannot be escalated at all (``None``: it can): a delegated issue is
    returned first; the province's top goes to its task force once."""
    if delegated_from is not None:
        return E.MUST_RETURN_DELEGATION
    at_top = parent_code(holding_region) is None
    if at_top and handling_level is HandlingLevel.PROVINCE_TASKFORCE:
        return E.ESCALATION_TARGET_INVALID
    return None


def escalation_target(
    holding_region: str,
    handling_level: HandlingLevel,
    delegated_from: str | None,
    requested: str | None,
) -> EscalationTarget:
    """Where escalating goes; ``requested`` (optional) must name that very place."""
    code = escalation_blocked(holding_region, handling_level, delegated_from)
    if code is not None:
        raise IssueCommandError(code, "toRegion" if code is E.ESCALATION_TARGET_INVALID else None)
    parent = parent_code(holding_region)
    if parent is None:
        if requested is not None:
            raise IssueCommandError(E.ESCALATION_TARGET_INVALID, "toRegion")
        return EscalationTarget(None)
    if requested is not None and requested != parent:
        raise IssueCommandError(E.ESCALATION_TARGET_INVALID, "toRegion", f"parent is {parent}")
    return EscalationTarget(parent)


def delegation_blocked(
    holding_region: str, own_due: dt.datetime | None, now: dt.datetime
) -> IssueErrorCode | None:
    """Why the holder cannot delegate at all (``None``: it can): a town has no subtree, and
    no deadline fits inside a running limit already reached (``own_due``)."""
    if level_of(holding_region) is RegionLevel.TOWN:
        return E.DELEGATION_TARGET_INVALID
    if own_due is not None and sla.reached(now, own_due):
        return E.DEADLINE_INVALID
    return None


def is_delegation_target(holding_region: str, to_region: str) -> bool:
    """A region strictly inside the holder's subtree (that it exists is asked elsewhere)."""
    return to_region != holding_region and to_region.startswith(holding_region)


def check_delegation_deadline(
    now: dt.datetime, due_at: dt.datetime, own_due: dt.datetime | None
) -> None:
    """A delegation's deadline: with a time zone, in the future, and not after the holder's
    own running limit (``own_due``, ``None`` when no clock runs)."""
    if due_at.tzinfo is None:
        raise IssueCommandError(E.DEADLINE_INVALID, "dueAt", "needs a time zone")
    if sla.reached(now, due_at) or (own_due is not None and due_at > own_due):
        raise IssueCommandError(E.DEADLINE_INVALID, "dueAt")
