"""Where an issue may go between tiers (DESIGN §3, §4): the escalation and delegation target
rules. Pure: whether a region exists, and everything written, is the caller's business
(``closedloop.services.issues.tiers``).

- Escalation goes to the holding region's *direct parent* only (town → county → city →
  province); at the province's top, to the provincial task force (专班), once. A delegated
  issue is returned before it can be escalated.
- Delegation goes down into the holding region's own subtree (never to the holder itself),
  with a deadline in the future and inside the holder's own running limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import HandlingLevel
from closedloop.domain.regions import parent_code

E = IssueErrorCode


@dataclass(frozen=True, slots=True)
class EscalationTarget:
    """The parent region's center, or (``region`` is ``None``) the provincial task force."""

    region: str | None

    @property
    def is_taskforce(self) -> bool:
        return self.region is None


def escalation_target(
    holding_region: str,
    handling_level: HandlingLevel,
    delegated_from: str | None,
    requested: str | None,
) -> EscalationTarget:
    """Where escalating goes; ``requested`` (optional) must name that very place."""
    if delegated_from is not None:
        raise IssueCommandError(E.MUST_RETURN_DELEGATION)
    parent = parent_code(holding_region)
    if parent is None:
        if requested is not None or handling_level is HandlingLevel.PROVINCE_TASKFORCE:
            raise IssueCommandError(E.ESCALATION_TARGET_INVALID, "toRegion")
        return EscalationTarget(None)
    if requested is not None and requested != parent:
        raise IssueCommandError(E.ESCALATION_TARGET_INVALID, "toRegion", f"parent is {parent}")
    return EscalationTarget(parent)


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
    if due_at <= now or (own_due is not None and due_at > own_due):
        raise IssueCommandError(E.DEADLINE_INVALID, "dueAt")
