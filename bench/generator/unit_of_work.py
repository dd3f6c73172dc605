"""The command handlers' unit of work for the data generator (a port's second adapter, as in
*Architecture Patterns with Python*): the API's own handlers
(``closedloop.services.issues.commands``, ``.tiers`` and the sweeper's steps) run on one
simulated issue held in memory, and what they write becomes its COPY rows: the issue row
(``IssueDraft``), its timeline, custody ledger and ratings. No rule of the issue loop is
written here; only where its reads and writes go.

- The handlers are coroutines that never wait here (nothing here does I/O), so ``act``
  runs one to its end with a single ``send``: no event loop, no scheduling cost.
- What the world knows (time-limit rules, boards and departments, regions) comes from
  ``Places`` (the generator's ``World``).
- Notifications are not kept: the generated past's were delivered long ago (the outbox
  holds pending deliveries). Merged reporters are told on their own timelines by the
  generator (``IssueSim.merge_into``): a primary's life is simulated before any merge
  into it is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from closedloop.authz.roles import Principal
from closedloop.domain import custody, sla
from closedloop.domain.issues import ClockKind, HandlingLevel, IssueState, RatingGrade
from closedloop.services.issues.records import IssueRecord
from closedloop.services.issues.sweeper import SYSTEM
from closedloop.services.issues.unit_of_work import UnitKind, UnitOfWork
from closedloop.settings import Settings

S = IssueState
T = TypeVar("T")
# The account id of an actor the database has no account for (made-up centers, boards and
# enterprises): the policy authorises it by its role, and its rows name no account (ids
# start at 1).
NO_ACCOUNT = 0
# Event types a timeline may lose to stay within its length, by kind (see ``finish``).
_OPTIONAL = {("NOTE", True): "NOTE", ("NOTE", False): "NOTE_INTERNAL"}
_ALWAYS_OPTIONAL = frozenset({"URGED", "LIGHT_CHANGED"})
RESOLVED_TYPES = frozenset({"RESOLVED", "SETTLED_IN_CHANNEL"})


class Places(Protocol):
    """What the handlers ask of the world besides the issue."""

    def limits(self, region_code: str, category: str | None) -> sla.Limits: ...

    def unit_in(self, kind: UnitKind, unit_id: int, region_code: str) -> bool: ...

    def region_exists(self, code: str) -> bool: ...


@dataclass(slots=True)
class DraftEvent:
    at: dt.datetime
    type: str
    actor_id: int | None
    actor_name: str
    from_state: str | None
    to_state: str | None
    public: bool
    message: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    bumps: bool = True  # the command bumped the issue's version
    clock_start: bool = False  # the command started a new time limit
    optional: str | None = None  # droppable kind (see lifecycle.OPTIONAL_ORDER)


@dataclass(slots=True)
class IssueDraft:
    """The ``issue`` row being written (column names as in ``db.tables.issue``). The
    enumerations are their members, as the handlers write them (a StrEnum member is its
    text: COPY takes it as such)."""

    id: int
    number: str
    title: str
    content: str
    enterprise_id: int
    origin_region_code: str
    holding_region_code: str
    channel: str
    proactive: bool
    created_at: dt.datetime
    external_id: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    board_id: int | None = None
    department_id: int | None = None
    handling_level: HandlingLevel = HandlingLevel.CENTER
    state: IssueState = S.SUBMITTED
    route: str | None = None
    version: int = 1
    submitted_by: int | None = None
    updated_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    assigned_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    clock_kind: ClockKind | None = None
    clock_started_at: dt.datetime | None = None
    warn_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    light_notified: str | None = None
    assign_overdue: bool = False
    resolved_at: dt.datetime | None = None
    reply: str | None = None
    overdue: bool = False
    closed_at: dt.datetime | None = None
    rating: RatingGrade | None = None
    rating_comment: str | None = None
    rated_at: dt.datetime | None = None
    last_urged_at: dt.datetime | None = None
    urge_count: int = 0
    reopen_count: int = 0
    merged_into_id: int | None = None
    reason: str | None = None
    delegated_from_region_code: str | None = None
    escalation_count: int = 0
    delegation_return_count: int = 0


class CopyUnitOfWork(UnitOfWork):
    """One simulated issue: the handlers read it as an ``IssueRecord`` and their writes
    change the draft row and append to its timeline, ledger and ratings."""

    def __init__(self, draft: IssueDraft, places: Places, settings: Settings) -> None:
        super().__init__(SYSTEM, draft.created_at, settings)
        self.d = draft
        self.places = places
        self.events: list[DraftEvent] = []
        self.ledger = custody.Ledger()
        self.ratings: list[dict[str, Any]] = []
        self._seen_version = draft.version
        self._seen_clock = draft.clock_started_at

    def act(self, principal: Principal, at: dt.datetime, step: Coroutine[Any, Any, T]) -> T:
        """Run a handler's coroutine (built on this unit of work) as ``principal`` at ``at``;
        its result. A refused step raises the handler's ``IssueCommandError``: the generator
        asked for something the API would not do."""
        self.principal, self.now = principal, at
        try:
            step.send(None)
        except StopIteration as done:
            result: T = done.value
            return result
        step.close()
        raise RuntimeError("a command handler waited for I/O on the generator's unit of work")

    def record(self) -> IssueRecord:
        """The issue as the handlers read it."""
        d = self.d
        return IssueRecord(
            d.id,
            d.number,
            d.title,
            d.content,
            d.enterprise_id,
            d.origin_region_code,
            d.holding_region_code,
            d.channel,
            d.proactive,
            d.external_id,
            d.category,
            tuple(d.tags),
            d.board_id,
            d.department_id,
            d.handling_level,
            d.state,
            d.route,
            d.version,
            d.created_at,
            d.updated_at or d.created_at,
            d.accepted_at,
            d.assigned_at,
            d.started_at,
            d.clock_kind,
            d.clock_started_at,
            d.warn_at,
            d.due_at,
            d.light_notified,
            d.assign_overdue,
            d.resolved_at,
            d.reply,
            d.overdue,
            d.closed_at,
            d.rating,
            d.rating_comment,
            d.rated_at,
            d.last_urged_at,
            d.urge_count,
            d.reopen_count,
            d.merged_into_id,
            d.reason,
            d.delegated_from_region_code,
            d.escalation_count,
            d.delegation_return_count,
            None,
            False,
        )

    # --- the port ------------------------------------------------------------------------

    async def lock_issue(self, issue_id: int) -> IssueRecord | None:
        return self.record() if issue_id == self.d.id else None

    async def _write(self, issue: IssueRecord, values: dict[str, Any]) -> bool:
        d = self.d
        if issue.id != d.id or issue.version != d.version:
            return False
        self._set(values)
        return True

    async def _write_quietly(self, issue: IssueRecord, values: dict[str, Any]) -> None:
        self._set(values)

    def _set(self, values: dict[str, Any]) -> None:
        d = self.d
        for name, value in values.items():
            setattr(d, name, value)

    async def _custody(
        self,
        issue: IssueRecord,
        late_due_at: dt.datetime | None,
        limit_ends: bool,
        moved_to: custody.Holder | None,
    ) -> None:
        self.ledger.change(self.now, due_at=late_due_at, holder=moved_to, limit_ends=limit_ends)

    async def open_custody(self, issue_id: int, holder: custody.Holder) -> None:
        self.ledger.open(holder, self.now)

    async def _insert_event(self, row: dict[str, Any]) -> None:
        d = self.d
        bumps = d.version != self._seen_version
        clock_start = d.clock_kind is not None and d.clock_started_at != self._seen_clock
        self._seen_version, self._seen_clock = d.version, d.clock_started_at
        type_ = row["type"]
        public = row["public"]
        self.events.append(
            DraftEvent(  # positional: a step's cost is the generator's
                row["occurred_at"],
                type_,
                row["actor_id"] or None,  # NO_ACCOUNT: recorded without one
                row["actor_name"],
                row["from_state"],
                row["to_state"],
                public,
                row["message"],
                row["payload"],
                bumps,
                clock_start,
                type_ if type_ in _ALWAYS_OPTIONAL else _OPTIONAL.get((type_, public)),
            )
        )

    async def notify_about(
        self,
        issue_id: int,
        number: str,
        title: str,
        channel: str,
        recipient: str,
        topic: str,
        text: str,
    ) -> None:
        return None

    async def enterprise_phone(self, enterprise_id: int) -> str:
        return f"enterprise:{enterprise_id}"

    async def limits(self, region_code: str, category: str | None) -> sla.Limits:
        return self.places.limits(region_code, category)

    async def unit_in(self, kind: UnitKind, unit_id: int, region_code: str) -> bool:
        return self.places.unit_in(kind, unit_id, region_code)

    async def region_exists(self, code: str) -> bool:
        return self.places.region_exists(code)

    async def resolutions(self, issue_id: int) -> int:
        return sum(1 for e in self.events if e.type in RESOLVED_TYPES)

    async def record_rating(self, row: dict[str, Any]) -> None:
        row["rated_by"] = row["rated_by"] or None  # NO_ACCOUNT: recorded without one
        self.ratings.append(row)

    async def merged_duplicates(self, primary_id: int) -> list[dict[str, Any]]:
        return []
