"""Starting an issue's clock on the limit its holding region's rules give; which rule
applies and the clock's rule itself are ``closedloop.domain.sla``'s."""

from __future__ import annotations

from typing import Any

from closedloop.domain import sla
from closedloop.domain.issues import ClockKind
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.unit_of_work import UnitOfWork


async def start_clock(
    tx: UnitOfWork, issue: IssueRecord, kind: ClockKind, category: str | None = None
) -> dict[str, Any]:
    """The clock columns of ``issue`` once a clock of ``kind`` starts now, on the limit its
    holding region's rules give for ``category`` (default: the issue's own)."""
    limits = await tx.limits(issue.holding_region_code, category or issue.category)
    return sla.started(kind, sla.window(tx.now, limits.of(kind)))
