"""One issue's life, simulated step by step as the command handlers in
``closedloop.services.issues.commands`` (and the sweeper) would have written it. Pure.

``IssueSim`` mirrors the commands: each method checks the state machine
(``domain.issues.transition``), changes the draft row the way the handler changes the
issue row, and appends the event the handler appends (same type, public flag, from/to
states, message and payload). Time only moves forward through ``wait``; a step that
would happen after ``now`` raises ``Cutoff``, so the issue is left in whatever state it
had reached: recent issues are naturally still open. While a time limit runs, ``wait``
also writes the sweeper's LIGHT_CHANGED events and the enterprise's occasional urges.

It also keeps the custody ledger (``issue_custody``) by the rule ``CommandTx._keep_custody``
applies (``closedloop.domain.custody``): a span per holder (tier, level, board or
department), the late time and the lapse of a limit charged to the span that held the issue
at its deadline; and every rating (``issue_rating``) with the resolution it rates.

A *plot* is a short script over an ``IssueSim`` (accept, assign, escalate, resolve,
rate, delegate, merge, ...); ``PLOTS`` maps plot names to scripts. New kinds of issue
life (leaders' joint meetings, returned delegations) are a new ``IssueSim`` method
mirroring the new command plus a new entry in ``PLOTS`` and ``choose_plot``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.generator import vocab
from closedloop.catalog import DEDICATED_ROUTES
from closedloop.domain import custody
from closedloop.domain.issues import (
    OPEN_STATES,
    ClockKind,
    Command,
    HandlingLevel,
    IssueState,
    Light,
    RatingGrade,
    after_rating,
    transition,
)
from closedloop.domain.ladder import (
    check_delegation_deadline,
    escalation_target,
    is_delegation_target,
)
from closedloop.domain.sla import (
    TimeLimit,
    is_late,
    light,
    reached,
    started,
    stopped,
    window,
    window_until,
)

S = IssueState
MAX_EVENTS = 8
SWEEP_SECONDS = 60.0  # the sweeper's period: lights and default closes lag by up to this
LIGHT_RANK = {None: 0, Light.GREEN.value: 0, Light.YELLOW.value: 1, Light.RED.value: 2}
# Event types that may be dropped to keep a timeline within MAX_EVENTS, least useful first.
OPTIONAL_ORDER = ("NOTE_INTERNAL", "URGED", "NOTE", "LIGHT_CHANGED")


class Cutoff(Exception):
    """The next step would happen after ``now``: the issue stays where it is."""


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    account_id: int | None = None


SYSTEM = Actor(vocab.SYSTEM_ACTOR)


@dataclass(frozen=True, slots=True)
class Unit:
    """A board or department of the holding region that an issue can be assigned to."""

    kind: str  # "board" | "department"
    id: int
    key: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class Limits:
    assign: TimeLimit
    reply: TimeLimit


@dataclass(slots=True)
class DraftEvent:
    at: dt.datetime
    type: str
    actor: Actor
    from_state: str | None
    to_state: str | None
    public: bool
    message: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    bumps: bool = True  # the command bumped the issue's version
    clock_start: bool = False  # the command started a new time limit
    optional: str | None = None  # droppable kind (see OPTIONAL_ORDER)


@dataclass(slots=True)
class IssueDraft:
    """The ``issue`` row being written (column names as in ``db.tables.issue``)."""

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
    handling_level: str = HandlingLevel.CENTER.value
    state: IssueState = S.SUBMITTED
    route: str | None = None
    version: int = 1
    submitted_by: int | None = None
    updated_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    assigned_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    clock_kind: str | None = None
    clock_started_at: dt.datetime | None = None
    warn_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    light_notified: str | None = None
    assign_overdue: bool = False
    resolved_at: dt.datetime | None = None
    reply: str | None = None
    overdue: bool = False
    closed_at: dt.datetime | None = None
    rating: str | None = None
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


ISSUE_COLUMNS = (
    "id",
    "number",
    "title",
    "content",
    "enterprise_id",
    "origin_region_code",
    "holding_region_code",
    "channel",
    "proactive",
    "external_id",
    "category",
    "tags",
    "board_id",
    "department_id",
    "handling_level",
    "state",
    "route",
    "version",
    "submitted_by",
    "created_at",
    "updated_at",
    "accepted_at",
    "assigned_at",
    "started_at",
    "clock_kind",
    "clock_started_at",
    "warn_at",
    "due_at",
    "light_notified",
    "assign_overdue",
    "resolved_at",
    "reply",
    "overdue",
    "closed_at",
    "rating",
    "rating_comment",
    "rated_at",
    "last_urged_at",
    "urge_count",
    "reopen_count",
    "merged_into_id",
    "reason",
    "delegated_from_region_code",
    "escalation_count",
    "delegation_return_count",
)
# ``id`` is left to the identity column: events are written in time order per issue,
# so ids ascend with time within an issue (what ``last_events`` relies on).
EVENT_COLUMNS = (
    "issue_id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "type",
    "from_state",
    "to_state",
    "public",
    "message",
    "payload",
)
CUSTODY_COLUMNS = (
    "issue_id",
    "region_code",
    "handling_level",
    "board_id",
    "department_id",
    "started_at",
    "ended_at",
    "overdue_seconds",
    "lapsed_limits",
)
RATING_COLUMNS = (
    "issue_id",
    "resolution",
    "resolved_at",
    "region_code",
    "board_id",
    "department_id",
    "grade",
    "comment",
    "rated_by",
    "rated_at",
)


@dataclass(frozen=True, slots=True)
class PendingCustody:
    """What a command's custody change needs from before the command changed the draft."""

    before: custody.Holder
    due_at: dt.datetime | None
    limit_ends: bool


def lognormal_hours(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


@dataclass(slots=True)
class Story:
    """What a plot needs to know about the issue besides the sim: the decisions of the
    triage (category, tags), the unit it goes to, a second unit for a hand-back, and the
    reply text of the topic."""

    category: str
    tags: list[str]
    unit: Unit | None
    other_unit: Unit | None
    reply: str
    enterprise_submitted: bool
    # For an escalation: the parent tier's center and the unit it assigns to.
    upper_center: Actor | None = None
    upper_unit: Unit | None = None
    upper_limits: Callable[[str | None], Limits] | None = None
    # For a duplicate: the open issue it repeats (simulated already) and when it is merged.
    primary: IssueSim | None = None
    merge_at: dt.datetime | None = None


class IssueSim:
    def __init__(
        self,
        draft: IssueDraft,
        rng: random.Random,
        now: dt.datetime,
        limits: Callable[[str | None], Limits],
        center: Actor,
        enterprise: Actor,
        rating_window: dt.timedelta,
        urge_interval: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.d = draft
        self.rng = rng
        self.now = now
        self.limits = limits
        self.center = center
        self.enterprise = enterprise
        self.rating_window = rating_window
        self.urge_interval = urge_interval
        self.t = draft.created_at
        self.events: list[DraftEvent] = []
        self.ledger = custody.Ledger()
        self.pending_custody: PendingCustody | None = None
        self.ratings: list[tuple[Any, ...]] = []
        self.urge_chance = 0.0  # set by plots: how keen this enterprise is to urge

    # --- time --------------------------------------------------------------------------

    def wait(self, hours: float) -> dt.datetime:
        """Move the clock forward; lights and urges fall in between; ``Cutoff`` past now."""
        at = self.t + dt.timedelta(hours=max(hours, 0.01))
        end = min(at, self.now)
        if (
            self.d.state in OPEN_STATES
            and (end - self.t).total_seconds() > 72 * 3600
            and self.rng.random() < self.urge_chance
        ):
            earliest = self.t + dt.timedelta(hours=48)
            if self.d.last_urged_at is not None:
                earliest = max(earliest, self.d.last_urged_at + self.urge_interval)
            if earliest < end:
                urge_at = earliest + (end - earliest) * self.rng.random() * 0.8
                self._lights_until(urge_at)
                self.t = urge_at
                self.urge()
        self._lights_until(end)
        if at > self.now:
            raise Cutoff
        self.t = at
        return at

    def wait_until(self, at: dt.datetime) -> dt.datetime:
        return self.wait((at - self.t).total_seconds() / 3600.0)

    def _lights_until(self, end: dt.datetime) -> None:
        """The sweeper's LIGHT_CHANGED events for the running limit, up to ``end``."""
        d = self.d
        while d.clock_kind is not None and d.warn_at is not None and d.due_at is not None:
            rank = LIGHT_RANK[d.light_notified]
            if rank < 1 and reached(end, d.warn_at):
                swept = d.warn_at + dt.timedelta(seconds=self.rng.random() * SWEEP_SECONDS)
            elif rank < 2 and reached(end, d.due_at):
                swept = d.due_at + dt.timedelta(seconds=self.rng.random() * SWEEP_SECONDS)
            else:
                return
            if swept >= end:
                return
            current = light(swept, d.warn_at, d.due_at)
            d.light_notified = current.value
            self._event(
                "LIGHT_CHANGED",
                SYSTEM,
                at=swept,
                public=False,
                bumps=False,
                optional="LIGHT_CHANGED",
                payload={
                    "light": current.value,
                    "clock": d.clock_kind,
                    "dueAt": d.due_at.isoformat(),
                },
            )

    # --- helpers -----------------------------------------------------------------------

    def _move(self, command: Command) -> IssueState:
        return transition(command, self.d.state)

    def _event(
        self,
        type_: str,
        actor: Actor,
        *,
        public: bool,
        to_state: IssueState | None = None,
        message: str | None = None,
        payload: dict[str, Any] | None = None,
        at: dt.datetime | None = None,
        bumps: bool = True,
        clock_start: bool = False,
        optional: str | None = None,
    ) -> None:
        self._settle_custody(at or self.t, to_state or self.d.state)
        self.events.append(
            DraftEvent(
                at=at or self.t,
                type=type_,
                actor=actor,
                from_state=self.d.state,  # a StrEnum: COPY takes it as text
                to_state=to_state or self.d.state,
                public=public,
                message=message,
                payload=payload or {},
                bumps=bumps,
                clock_start=clock_start,
                optional=optional,
            )
        )

    def _start_clock(self, kind: ClockKind, category: str | None = None) -> None:
        limits = self.limits(category or self.d.category)
        w = window(self.t, limits.assign if kind is ClockKind.ASSIGN else limits.reply)
        self._set_clock(started(kind, w))

    def _set_clock(self, columns: dict[str, Any]) -> None:
        """The clock columns as ``sla.started``/``sla.stopped`` give them (enums as text)."""
        d = self.d
        for name, value in columns.items():
            setattr(d, name, value.value if isinstance(value, ClockKind) else value)

    def _stop_clock(self) -> None:
        self._set_clock(stopped())

    def _holder(self) -> custody.Holder:
        d = self.d
        return custody.holder_of(
            d.holding_region_code, d.handling_level, d.board_id, d.department_id, d.state.value
        )

    def _keep_custody(
        self, region: str | None = None, level: str | None = None, clock_changed: bool = False
    ) -> None:
        """Before a change: remember the holder and the running limit; the command's event
        (``_event``) applies the change to the ledger once the draft has its new columns."""
        d = self.d
        running = d.clock_kind is not None
        self.pending_custody = PendingCustody(
            self._holder(), d.due_at if running else None, clock_changed and running
        )

    def _settle_custody(self, at: dt.datetime, state: IssueState) -> None:
        pending, self.pending_custody = self.pending_custody, None
        if pending is None:
            return
        d = self.d
        after = custody.holder_after(
            pending.before,
            d.holding_region_code,
            d.handling_level,
            d.board_id,
            d.department_id,
            state.value,
        )
        self.ledger.change(at, due_at=pending.due_at, holder=after, limit_ends=pending.limit_ends)

    # --- the commands ------------------------------------------------------------------

    def submit(self, actor: Actor) -> None:
        d = self.d
        self.ledger.open(self._holder(), d.created_at)
        self.events.append(
            DraftEvent(
                at=d.created_at,
                type="SUBMITTED",
                actor=actor,
                from_state=None,
                to_state=S.SUBMITTED,
                public=True,
                payload={"channel": d.channel, "number": d.number},
                bumps=False,
            )
        )

    def accept(self) -> None:
        to = self._move(Command.ACCEPT)
        self._keep_custody(clock_changed=True)
        self._start_clock(ClockKind.ASSIGN)
        self.d.accepted_at = self.t
        self._event("ACCEPTED", self.center, public=True, to_state=to, clock_start=True)
        self.d.state = to

    def reject(self, reason: str) -> None:
        to = self._move(Command.REJECT)
        self._keep_custody(clock_changed=True)
        d = self.d
        d.reason, d.closed_at = reason, self.t
        self._stop_clock()
        self._event("REJECTED", self.center, public=True, to_state=to, message=reason)
        d.state = to

    def route_out(self, category: str, tags: list[str]) -> None:
        """Triage into a guided category: leaves for its dedicated route."""
        to = self._move(Command.ROUTE_OUT)
        zh, en = DEDICATED_ROUTES[category]
        self._keep_custody(clock_changed=True)
        d = self.d
        d.category, d.tags, d.route, d.closed_at = category, tags, zh, self.t
        self._stop_clock()
        payload = {"category": category, "route": {"zh": zh, "en": en}}
        self._event(
            "ROUTED_OUT", self.center, public=True, to_state=to, message=zh, payload=payload
        )
        d.state = to

    def triage(self, category: str, tags: list[str], unit: Unit | None = None) -> None:
        """Classify; with a unit, assign in the same command (one version bump)."""
        self._move(Command.TRIAGE)
        payload = {"category": category, "tags": tags}
        self._event("TRIAGED", self.center, public=False, payload=payload, bumps=unit is None)
        self.d.category, self.d.tags = category, tags
        if unit is not None:
            self.assign(unit, category)

    def assign(self, unit: Unit, category: str | None = None) -> None:
        to = self._move(Command.ASSIGN)
        d = self.d
        started = d.clock_kind in (ClockKind.ASSIGN.value, None)
        self._keep_custody(level=HandlingLevel.BOARD.value, clock_changed=started)
        if started:
            # Handing back and re-assigning does not reset the reply limit.
            d.assign_overdue = is_late(self.t, d.due_at) if d.clock_kind else False
            self._start_clock(ClockKind.REPLY, category)
        d.board_id = unit.id if unit.kind == "board" else None
        d.department_id = unit.id if unit.kind == "department" else None
        d.assigned_at = self.t
        d.handling_level = HandlingLevel.BOARD.value
        payload = {"boardId": unit.id} if unit.kind == "board" else {"departmentId": unit.id}
        self._event(
            "ASSIGNED", self.center, public=True, to_state=to, payload=payload, clock_start=started
        )
        d.state = to

    def start(self, unit: Unit) -> None:
        to = self._move(Command.START)
        self.d.started_at = self.t
        self._event("STARTED", unit.actor, public=True, to_state=to)
        self.d.state = to

    def note(self, actor: Actor, text: str, public: bool) -> None:
        self._move(Command.NOTE)
        kind = "NOTE" if public else "NOTE_INTERNAL"
        self._event("NOTE", actor, public=public, message=text, optional=kind)

    def hand_back(self, unit: Unit, reason: str) -> None:
        to = self._move(Command.HAND_BACK)
        d = self.d
        payload = {"boardId": d.board_id, "departmentId": d.department_id}
        self._keep_custody(level=HandlingLevel.CENTER.value)
        d.board_id = d.department_id = None
        d.handling_level = HandlingLevel.CENTER.value
        self._event(
            "HANDED_BACK", unit.actor, public=False, to_state=to, message=reason, payload=payload
        )
        d.state = to

    def resolve(self, actor: Actor, reply: str) -> None:
        to = self._move(Command.RESOLVE)
        self._keep_custody(clock_changed=True)
        d = self.d
        d.overdue = d.overdue or (d.clock_kind is not None and is_late(self.t, d.due_at))
        d.resolved_at, d.reply = self.t, reply
        d.rating = d.rated_at = None
        self._stop_clock()
        self._event(
            "RESOLVED",
            actor,
            public=True,
            to_state=to,
            message=reply,
            payload={"overdue": d.overdue},
        )
        d.state = to

    def rate(self, grade: RatingGrade, comment: str | None) -> None:
        self._move(Command.RATE)
        to = after_rating(grade)
        d = self.d
        assert d.resolved_at is not None
        holder = self._holder()
        resolutions = sum(1 for e in self.events if e.type in ("RESOLVED", "SETTLED_IN_CHANNEL"))
        self.ratings.append(
            (
                d.id,
                max(1, resolutions),
                d.resolved_at,
                holder.region_code,
                holder.board_id,
                holder.department_id,
                grade.value,
                comment,
                self.enterprise.account_id,
                self.t,
            )
        )
        d.rating, d.rating_comment, d.rated_at = grade.value, comment, self.t
        if to is S.CLOSED:
            d.closed_at = self.t
        else:
            self._keep_custody(clock_changed=True)
            d.reopen_count += 1
            self._start_clock(ClockKind.ASSIGN)
        payload = {"grade": grade.value}
        self._event(
            "RATED",
            self.enterprise,
            public=True,
            to_state=to,
            message=comment,
            payload=payload,
            clock_start=to is S.REOPENED,
        )
        d.state = to

    def default_close(self) -> None:
        """The sweeper closes an issue left unrated through the rating window."""
        d = self.d
        assert d.state is S.RESOLVED and d.resolved_at is not None
        due = d.resolved_at + self.rating_window
        self.wait_until(due + dt.timedelta(seconds=self.rng.random() * SWEEP_SECONDS))
        to = self._move(Command.CLOSE)
        d.closed_at = self.t
        self._event(
            "CLOSED",
            SYSTEM,
            public=True,
            to_state=to,
            message=vocab.DEFAULT_CLOSE_MESSAGE,
            payload={"defaultGood": True},
        )
        d.state = to

    def urge(self) -> None:
        self._move(Command.URGE)
        self.d.last_urged_at = self.t
        self.d.urge_count += 1
        self._event("URGED", self.enterprise, public=True, optional="URGED")

    def reopen(self, actor: Actor, reason: str) -> None:
        to = self._move(Command.REOPEN)
        d = self.d
        self._keep_custody(clock_changed=True)
        self._start_clock(ClockKind.ASSIGN)
        d.reopen_count += 1
        d.closed_at, d.reason = None, reason
        self._event("REOPENED", actor, public=True, to_state=to, message=reason, clock_start=True)
        d.state = to

    def escalate(self, reason: str, center: Actor, limits: Callable[[str | None], Limits]) -> None:
        """To the holding region's direct parent (``tiers.escalate``): the parent's center
        gets it back in ACCEPTED, unassigned, with a fresh assign limit by its own rules."""
        d = self.d
        target = escalation_target(
            d.holding_region_code,
            HandlingLevel(d.handling_level),
            d.delegated_from_region_code,
            None,
        )
        parent = target.region
        assert parent is not None, "the province escalates to its task force, not modelled"
        to = self._move(Command.ESCALATE)
        self._keep_custody(parent, HandlingLevel.PARENT_TIER.value, clock_changed=True)
        payload = {"from": d.holding_region_code, "to": parent}
        lower = self.center
        self.limits, self.center = limits, center
        self._start_clock(ClockKind.ASSIGN)
        d.holding_region_code = parent
        d.handling_level = HandlingLevel.PARENT_TIER.value
        d.board_id = d.department_id = None
        d.escalation_count += 1
        self._event("ESCALATED", lower, public=True, to_state=to, message=reason, payload=payload)
        d.state = to

    def delegate(
        self,
        to_region: str,
        due_at: dt.datetime,
        reason: str | None,
        center: Actor,
        limits: Callable[[str | None], Limits],
    ) -> None:
        """Down to a region under the holder (``tiers.delegate``): that region's center gets
        it in ACCEPTED, unassigned, with a reply limit ending at ``due_at``, which must lie
        within the holder's own running limit."""
        d = self.d
        holder = d.holding_region_code
        assert is_delegation_target(holder, to_region), "not below the holder"
        own_due = d.due_at if d.clock_kind is not None else None
        check_delegation_deadline(self.t, due_at, own_due)
        to = self._move(Command.DELEGATE)
        self._keep_custody(to_region, HandlingLevel.CENTER.value, clock_changed=True)
        upper = self.center
        self.limits, self.center = limits, center
        d.holding_region_code, d.delegated_from_region_code = to_region, holder
        d.handling_level = HandlingLevel.CENTER.value
        d.board_id = d.department_id = None
        self._set_clock(started(ClockKind.REPLY, window_until(self.t, due_at)))
        payload = {"from": holder, "to": to_region, "dueAt": due_at.isoformat()}
        self._event(
            "DELEGATED",
            upper,
            public=True,
            to_state=to,
            message=reason,
            payload=payload,
            clock_start=True,
        )
        d.state = to

    def merge_into(self, primary: IssueSim, reason: str | None) -> None:
        """Fold this issue into ``primary`` (``learning.merge``), both held by the same
        region and open now: this one ends MERGED and points at the primary, whose timeline
        (already simulated) gains the MERGED_IN event at this moment."""
        d, p = self.d, primary.d
        at = self.t
        primary_state = primary.state_at(at)
        assert primary_state in OPEN_STATES, "the primary must be open"
        assert primary.holder_at(at) == d.holding_region_code, "merged across scopes"
        to = self._move(Command.MERGE)
        self._keep_custody(clock_changed=True)
        d.merged_into_id, d.closed_at = p.id, at
        self._stop_clock()
        self._event(
            "MERGED",
            self.center,
            public=True,
            to_state=to,
            message=f"与问题 {p.number} 合并办理",
            payload={"primaryId": p.id, "primary": p.number, "reason": reason},
        )
        d.state = to
        folded = {"id": d.id, "number": d.number, "enterpriseId": d.enterprise_id, "title": d.title}
        merged_in = DraftEvent(
            at=at,
            type="MERGED_IN",
            actor=self.center,
            from_state=primary_state,
            to_state=primary_state,
            public=False,
            message=reason,
            payload={"duplicates": [folded]},
        )
        bisect.insort_right(primary.events, merged_in, key=lambda e: e.at)
        primary.finish()  # its version and update time count the new event
        # Each later resolution of the primary is told on this timeline too
        # (``tell_merged_reporters``), without changing this issue's row.
        for e in primary.events:
            if e.type == "RESOLVED" and e.at > at:
                self.events.append(
                    DraftEvent(
                        at=e.at,
                        type="PRIMARY_RESOLVED",
                        actor=e.actor,
                        from_state=S.MERGED,
                        to_state=S.MERGED,
                        public=True,
                        message=e.message,
                        payload={"primaryId": p.id, "primary": p.number},
                        bumps=False,
                    )
                )

    def state_at(self, at: dt.datetime) -> IssueState:
        """The state the simulated timeline had reached at ``at``."""
        state = S.SUBMITTED
        for e in self.events:
            if e.at > at:
                break
            if e.to_state is not None:
                state = S(e.to_state)
        return state

    def holder_at(self, at: dt.datetime) -> str | None:
        """The region holding the issue at ``at`` (its custody ledger)."""
        index = custody.span_at(self.ledger.spans, at)
        return None if index is None else self.ledger.spans[index].holder.region_code

    # --- the end -------------------------------------------------------------------------

    def finish(self) -> None:
        """Keep the timeline within MAX_EVENTS and derive the columns events determine."""
        events = self.events
        running = self.d.clock_kind is not None
        last_start = max((i for i, e in enumerate(events) if e.clock_start), default=-1)
        for kind in OPTIONAL_ORDER:
            if len(events) <= MAX_EVENTS:
                break
            for i in range(len(events) - 1, -1, -1):
                e = events[i]
                if e.optional != kind:
                    continue
                if kind == "LIGHT_CHANGED" and running and i > last_start:
                    continue  # the running limit's lights stay: the sweeper would redo them
                del events[i]
                if i < last_start:
                    last_start -= 1
                if len(events) <= MAX_EVENTS:
                    break
        d = self.d
        d.version = 1 + sum(1 for e in events if e.bumps)
        d.updated_at = max((e.at for e in events if e.bumps), default=d.created_at)
        urges = [e.at for e in events if e.type == "URGED"]
        d.urge_count = len(urges)
        d.last_urged_at = urges[-1] if urges else None
        lights = [e for e in events[last_start + 1 :] if e.type == "LIGHT_CHANGED"]
        if last_start >= 0:
            d.light_notified = lights[-1].payload["light"] if lights else None

    def issue_row(self) -> tuple[Any, ...]:
        d = self.d
        return (
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
            d.tags,
            d.board_id,
            d.department_id,
            d.handling_level,
            d.state.value,
            d.route,
            d.version,
            d.submitted_by,
            d.created_at,
            d.updated_at,
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
        )

    def custody_rows(self) -> list[tuple[Any, ...]]:
        issue_id = self.d.id
        return [
            (
                issue_id,
                c.holder.region_code,
                c.holder.handling_level,
                c.holder.board_id,
                c.holder.department_id,
                c.started_at,
                c.ended_at,
                c.overdue_seconds,
                c.lapsed_limits,
            )
            for c in self.ledger.spans
        ]

    def rating_rows(self) -> list[tuple[Any, ...]]:
        return list(self.ratings)

    def event_rows(self) -> list[tuple[Any, ...]]:
        issue_id = self.d.id
        return [
            (
                issue_id,
                e.at,
                e.actor.account_id,
                e.actor.name,
                e.type,
                e.from_state,
                e.to_state,
                e.public,
                e.message,
                _json(e.payload),
            )
            for e in self.events
        ]


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(payload: dict[str, Any]) -> str:
    return _ENCODE(payload) if payload else "{}"


# --- plots -----------------------------------------------------------------------------

GRADES = (
    (RatingGrade.SATISFIED, 0.80),
    (RatingGrade.FAIRLY_SATISFIED, 0.13),
    (RatingGrade.BASICALLY_SATISFIED, 0.07),
)
LATE_GRADES = (
    (RatingGrade.SATISFIED, 0.55),
    (RatingGrade.FAIRLY_SATISFIED, 0.25),
    (RatingGrade.BASICALLY_SATISFIED, 0.20),
)
RATED_SHARE = 0.78  # the rest is closed by default (unrated counts as good)
LATE_REPLY_SHARE = 0.025


def _assign_delay(rng: random.Random) -> float:
    """Hours from acceptance to assignment; ~4% past the 2-day limit."""
    if rng.random() < 0.04:
        return rng.uniform(49.0, 120.0)
    return min(lognormal_hours(rng, 8.0, 1.0), 47.0)


def _reply_span(rng: random.Random) -> float:
    """Hours from assignment to the reply; LATE_REPLY_SHARE past the 15-day limit."""
    if rng.random() < LATE_REPLY_SHARE:
        return rng.uniform(15.2 * 24, 40 * 24)
    return min(lognormal_hours(rng, 6 * 24, 0.7), 14.8 * 24)


def _grade(rng: random.Random, late: bool) -> RatingGrade:
    """A closing grade (an unsatisfied one reopens: see ``plot_unsatisfied``)."""
    weights = LATE_GRADES if late else GRADES
    r = rng.random()
    for grade, share in weights:
        if r < share:
            return grade
        r -= share
    return weights[-1][0]


def _rate_or_close(s: IssueSim) -> None:
    rng = s.rng
    if rng.random() < RATED_SHARE:
        s.wait(min(lognormal_hours(rng, 20.0, 1.0), s.rating_window.total_seconds() / 3600 - 1))
        grade = _grade(rng, s.d.overdue)
        comments = vocab.COMMENTS[grade.value]
        s.rate(grade, rng.choice(comments) if rng.random() < 0.4 else None)
    else:
        s.default_close()


def _accept(s: IssueSim) -> None:
    s.wait(lognormal_hours(s.rng, 3.0, 1.0))
    s.accept()


def _maybe_note(s: IssueSim, actor: Actor, until: dt.datetime) -> None:
    rng = s.rng
    if rng.random() < 0.35 and until > s.t:
        s.wait((until - s.t).total_seconds() / 3600 * rng.uniform(0.2, 0.7))
        public = rng.random() < 0.5
        text = rng.choice(vocab.NOTES_PUBLIC if public else vocab.NOTES_INTERNAL)
        s.note(actor, text, public)


def _submit(s: IssueSim, story: Story, classified: bool = False) -> None:
    """Submit; ``classified``: the category (and tags) are given at submission already, as
    plots that assign without a triage step need."""
    if classified:
        s.d.category, s.d.tags = story.category, story.tags
    s.submit(s.enterprise if story.enterprise_submitted else s.center)


def plot_board(s: IssueSim, story: Story) -> None:
    """The usual loop: accept, triage and assign, start, (note), resolve, rate."""
    rng = s.rng
    assert story.unit is not None
    _submit(s, story)
    _accept(s)
    if rng.random() < 0.8:
        s.wait(_assign_delay(rng))
        s.triage(story.category, story.tags, story.unit)
    else:
        s.wait(lognormal_hours(rng, 2.0, 1.0))
        s.triage(story.category, story.tags)
        s.wait(_assign_delay(rng))
        s.assign(story.unit)
    assigned = s.t
    resolve_at = assigned + dt.timedelta(hours=_reply_span(rng))
    if rng.random() < 0.85:
        s.wait((resolve_at - s.t).total_seconds() / 3600 * rng.uniform(0.02, 0.3))
        s.start(story.unit)
    _maybe_note(s, story.unit.actor, resolve_at)
    s.wait_until(resolve_at)
    s.resolve(story.unit.actor, story.reply)
    _rate_or_close(s)


def plot_slow(s: IssueSim, story: Story) -> None:
    """A hard case (land, power capacity, arrears): months past the reply limit."""
    rng = s.rng
    assert story.unit is not None
    s.urge_chance = 0.6
    _submit(s, story)
    _accept(s)
    s.wait(_assign_delay(rng))
    s.triage(story.category, story.tags, story.unit)
    s.wait(lognormal_hours(rng, 12.0, 1.0))
    s.start(story.unit)
    s.wait(rng.uniform(20, 365) * 24)
    s.resolve(story.unit.actor, story.reply)
    _rate_or_close(s)


def plot_unsatisfied(s: IssueSim, story: Story) -> None:
    """Rated unsatisfied, reopened, assigned again, resolved again."""
    rng = s.rng
    assert story.unit is not None
    _submit(s, story, classified=True)
    _accept(s)
    s.wait(_assign_delay(rng))
    s.assign(story.unit)
    s.wait(_reply_span(rng))
    s.resolve(story.unit.actor, story.reply)
    s.wait(min(lognormal_hours(rng, 20.0, 1.0), 6 * 24))
    s.rate(RatingGrade.UNSATISFIED, rng.choice(vocab.COMMENTS["UNSATISFIED"]))
    s.wait(_assign_delay(rng))
    s.assign(story.other_unit or story.unit)
    s.wait(_reply_span(rng))
    s.resolve((story.other_unit or story.unit).actor, story.reply)
    _rate_or_close(s)


def plot_reopen_request(s: IssueSim, story: Story) -> None:
    """The enterprise asks to reopen a resolved issue before rating it."""
    rng = s.rng
    assert story.unit is not None
    _submit(s, story, classified=True)
    _accept(s)
    s.wait(_assign_delay(rng))
    s.assign(story.unit)
    s.wait(_reply_span(rng))
    s.resolve(story.unit.actor, story.reply)
    s.wait(lognormal_hours(rng, 24.0, 0.8) if rng.random() < 0.9 else 1.0)
    s.reopen(s.enterprise, rng.choice(vocab.REOPEN_REASONS))
    s.wait(_assign_delay(rng))
    s.assign(story.unit)
    s.wait(_reply_span(rng))
    s.resolve(story.unit.actor, story.reply)
    _rate_or_close(s)


def plot_hand_back(s: IssueSim, story: Story) -> None:
    """The first unit hands it back; the center assigns another (reply limit keeps running)."""
    rng = s.rng
    assert story.unit is not None
    _submit(s, story)
    _accept(s)
    s.wait(_assign_delay(rng))
    s.triage(story.category, story.tags, story.unit)
    s.wait(lognormal_hours(rng, 24.0, 1.0))
    s.hand_back(story.unit, rng.choice(vocab.HAND_BACK_REASONS))
    second = story.other_unit or story.unit
    s.wait(lognormal_hours(rng, 10.0, 1.0))
    s.assign(second)
    s.wait(_reply_span(rng))
    s.resolve(second.actor, story.reply)
    _rate_or_close(s)


def plot_center_answer(s: IssueSim, story: Story) -> None:
    """A consultation the center answers itself (no board involved)."""
    rng = s.rng
    _submit(s, story)
    _accept(s)
    if rng.random() < 0.5:
        s.wait(lognormal_hours(rng, 1.0, 1.0))
        s.triage(story.category, story.tags)
    s.wait(lognormal_hours(rng, 10.0, 1.0))
    s.resolve(s.center, rng.choice(vocab.CENTER_REPLIES))
    _rate_or_close(s)


def plot_routed_out(s: IssueSim, story: Story) -> None:
    """A complaint, report or service request leaves for its dedicated route."""
    rng = s.rng
    _submit(s, story)
    if rng.random() < 0.7:
        _accept(s)
    s.wait(lognormal_hours(rng, 2.0, 1.0))
    s.route_out(story.category, story.tags)


def plot_rejected(s: IssueSim, story: Story) -> None:
    rng = s.rng
    _submit(s, story)
    if rng.random() < 0.4:
        _accept(s)
    s.wait(lognormal_hours(rng, 4.0, 1.0))
    s.reject(rng.choice(vocab.REJECT_REASONS))


def plot_escalated(s: IssueSim, story: Story) -> None:
    """Beyond the tier: escalated to the parent tier, which assigns and resolves it."""
    rng = s.rng
    assert story.upper_unit and story.upper_center and story.upper_limits
    triaged = rng.random() < 0.5
    _submit(s, story, classified=not triaged)
    _accept(s)
    if triaged:
        s.wait(lognormal_hours(rng, 2.0, 1.0))
        s.triage(story.category, story.tags)
    s.wait(lognormal_hours(rng, 20.0, 0.8))
    s.escalate(rng.choice(vocab.ESCALATE_REASONS), story.upper_center, story.upper_limits)
    s.wait(_assign_delay(rng))
    s.assign(story.upper_unit)
    resolve_at = s.t + dt.timedelta(hours=_reply_span(rng))
    if rng.random() < 0.5:
        s.wait((resolve_at - s.t).total_seconds() / 3600 * rng.uniform(0.02, 0.3))
        s.start(story.upper_unit)
    s.wait_until(resolve_at)
    s.resolve(story.upper_unit.actor, story.reply)
    _rate_or_close(s)


def plot_delegated(s: IssueSim, story: Story) -> None:
    """Escalated to the parent tier, whose center hands it back down to the tier it came
    from with a deadline inside its own (交办); that tier assigns and resolves it."""
    rng = s.rng
    assert story.upper_center and story.upper_limits and story.unit is not None
    _submit(s, story, classified=True)
    _accept(s)
    s.wait(lognormal_hours(rng, 20.0, 0.8))
    town, town_center, town_limits = s.d.holding_region_code, s.center, s.limits
    s.escalate(rng.choice(vocab.ESCALATE_REASONS), story.upper_center, story.upper_limits)
    own_due = s.d.due_at
    assert own_due is not None
    # Decided within the parent's own assignment limit, the deadline inside it.
    s.wait((own_due - s.t).total_seconds() / 3600 * rng.uniform(0.05, 0.6))
    due = s.t + (own_due - s.t) * rng.uniform(0.6, 1.0)
    s.delegate(town, due, rng.choice(vocab.DELEGATE_REASONS), town_center, town_limits)
    s.wait((due - s.t).total_seconds() / 3600 * rng.uniform(0.05, 0.4))
    s.assign(story.unit)
    # The delegated deadline is short: about a quarter of the replies come after it.
    resolve_at = s.t + (due - s.t) * rng.uniform(0.3, 1.35)
    if rng.random() < 0.6:
        s.wait((resolve_at - s.t).total_seconds() / 3600 * rng.uniform(0.05, 0.5))
        s.start(story.unit)
    s.wait_until(resolve_at)
    s.resolve(story.unit.actor, story.reply)
    _rate_or_close(s)


def plot_merged(s: IssueSim, story: Story) -> None:
    """A report of a matter already in the pool: the center folds it into the open issue
    it repeats (``story.primary``) soon after it comes in, sometimes after accepting it."""
    assert story.primary is not None and story.merge_at is not None
    _submit(s, story)
    if s.rng.random() < 0.3 and story.merge_at - s.t > dt.timedelta(hours=1):
        s.wait((story.merge_at - s.t).total_seconds() / 3600 * s.rng.uniform(0.1, 0.8))
        s.accept()
    s.wait_until(story.merge_at)
    s.merge_into(story.primary, s.rng.choice(vocab.MERGE_REASONS))


Plot = Callable[[IssueSim, Story], None]

PLOTS: dict[str, Plot] = {
    "board": plot_board,
    "slow": plot_slow,
    "unsatisfied": plot_unsatisfied,
    "reopen_request": plot_reopen_request,
    "hand_back": plot_hand_back,
    "escalated": plot_escalated,
    "delegated": plot_delegated,
    "merged": plot_merged,
    "center_answer": plot_center_answer,
    "routed_out": plot_routed_out,
    "rejected": plot_rejected,
}

# Weights of the plots for an issue a board can take (guided categories are routed out).
BOARD_PLOTS = (
    ("board", 0.780),
    ("slow", 0.060),
    ("unsatisfied", 0.030),
    ("reopen_request", 0.006),
    ("hand_back", 0.025),
    ("escalated", 0.030),
    ("delegated", 0.010),
    ("merged", 0.020),
    ("rejected", 0.025),
)
CENTER_ANSWER_SHARE = {"CONSULTATION": 0.35, "APPEAL": 0.04, "SUGGESTION": 0.08}


def choose_plot(rng: random.Random, story: Story) -> str:
    if story.category in DEDICATED_ROUTES:
        return "routed_out" if rng.random() < 0.9 else "rejected"
    if story.unit is None or rng.random() < CENTER_ANSWER_SHARE.get(story.category, 0.0):
        return "center_answer"
    r = rng.random() * sum(w for _, w in BOARD_PLOTS)
    for name, weight in BOARD_PLOTS:
        if r < weight:
            return name
        r -= weight
    return "board"


def simulate(sim: IssueSim, story: Story, plot: str) -> None:
    """Run a plot up to ``now`` and finish the draft."""
    sim.urge_chance = 0.12
    with contextlib.suppress(Cutoff):
        PLOTS[plot](sim, story)
    sim.finish()
