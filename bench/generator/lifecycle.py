"""One issue's life, step by step, through the API's own command handlers.

``IssueSim`` drives one issue: each step (accept, assign, escalate, resolve, rate, ...) is
the real handler (``closedloop.services.issues.commands``, ``.tiers``; the sweeper's
``tell_light`` and ``close_unrated``) run by the acting principal on the generator's unit
of work (``bench.generator.unit_of_work``), which keeps the issue in memory and turns what
the handler writes into COPY rows: the state machine, the clock, the ladder, the custody
ledger and the timeline are the API's, written once. A step the API would refuse raises
its ``IssueCommandError``.

Time only moves forward through ``wait``; a step that would happen after ``now`` raises
``Cutoff``, so the issue is left in whatever state it had reached: recent issues are
naturally still open. While a time limit runs, ``wait`` also runs the sweeper's light step
when the sweeper would have (within a minute of the yellow point and of the limit) and the
enterprise's occasional urges.

What the generator still writes itself: the intake (the issue row, its SUBMITTED event and
first custody span, from the generator's own numbering, ids and similarity keys) and a
merge (its primary's whole life is simulated before the duplicate comes in, so the
primary's MERGED_IN and the duplicate's PRIMARY_RESOLVED events are placed afterwards).

A *plot* is a short script over an ``IssueSim``; ``PLOTS`` maps plot names to scripts. A
new kind of issue life is a new entry in ``PLOTS`` and ``choose_plot`` calling the new
command's handler.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson

from bench.generator import vocab
from bench.generator.unit_of_work import NO_ACCOUNT, CopyUnitOfWork, DraftEvent, IssueDraft, Places
from closedloop.authz.roles import Principal, Role
from closedloop.catalog import DEDICATED_ROUTES
from closedloop.db.tables import ISSUE_RATING_COUNTS
from closedloop.domain import custody, sla
from closedloop.domain.issues import (
    OPEN_STATES,
    Category,
    IssueState,
    Light,
    RatingGrade,
    rating_window_closes,
)
from closedloop.services.issues import commands, sweeper, tiers
from closedloop.services.learning.commands import fold_into
from closedloop.settings import Settings

S = IssueState
MAX_EVENTS = 8
SWEEP_SECONDS = 60.0  # the sweeper's period: lights and default closes lag by up to this
# Event types that may be dropped to keep a timeline within MAX_EVENTS, least useful first.
OPTIONAL_ORDER = ("NOTE_INTERNAL", "URGED", "NOTE", "LIGHT_CHANGED")
Actor = Principal
SYSTEM = sweeper.SYSTEM
_RED = Light.RED.value

__all__ = ["DraftEvent", "IssueDraft", "IssueSim", "Places"]


class Cutoff(Exception):
    """The next step would happen after ``now``: the issue stays where it is."""


def center_actor(region_code: str, name: str, account_id: int = NO_ACCOUNT) -> Actor:
    return Principal(account_id, None, name, Role.CENTER_STAFF, region_code=region_code)


def unit_actor(
    kind: str, unit_id: int, region_code: str, name: str, account_id: int = NO_ACCOUNT
) -> Actor:
    if kind == "board":
        return Principal(
            account_id, None, name, Role.BOARD_HANDLER, region_code=region_code, board_id=unit_id
        )
    return Principal(
        account_id,
        None,
        name,
        Role.DEPARTMENT_HANDLER,
        region_code=region_code,
        department_id=unit_id,
    )


def enterprise_actor(
    enterprise_id: int, region_code: str, name: str, account_id: int = NO_ACCOUNT
) -> Actor:
    return Principal(
        account_id,
        None,
        name,
        Role.ENTERPRISE,
        region_code=region_code,
        enterprise_id=enterprise_id,
    )


@dataclass(frozen=True, slots=True)
class Unit:
    """A board or department of the holding region that an issue can be assigned to."""

    kind: str  # "board" | "department"
    id: int
    key: str
    actor: Actor

    @property
    def ids(self) -> tuple[int | None, int | None]:
        """``(board_id, department_id)`` as the assigning commands take them."""
        return (self.id, None) if self.kind == "board" else (None, self.id)


DRAFT_COLUMNS = (
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
_ISSUE_ROW = attrgetter(*DRAFT_COLUMNS)  # the draft's columns (enumerations as members)
# The ratings on record by grade, which the trigger on issue_rating keeps (COPY runs
# without triggers): counted from the issue's rating rows.
ISSUE_COLUMNS = (*DRAFT_COLUMNS, *ISSUE_RATING_COUNTS.values())
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
    # For a duplicate: the open issue it repeats (simulated already) and when it is merged.
    primary: IssueSim | None = None
    merge_at: dt.datetime | None = None


_SETTINGS: dict[tuple[int, int], Settings] = {}


def _settings(rating_window: dt.timedelta, urge_interval: dt.timedelta) -> Settings:
    """The settings the handlers read (the urging interval, the rating window), one per pair."""
    key = (rating_window.days, int(urge_interval.total_seconds() // 3600))
    found = _SETTINGS.get(key)
    if found is None:
        found = _SETTINGS[key] = Settings(rating_window_days=key[0], urge_interval_hours=key[1])
    return found


class IssueSim:
    def __init__(
        self,
        draft: IssueDraft,
        rng: random.Random,
        now: dt.datetime,
        places: Places,
        center: Actor,
        enterprise: Actor,
        rating_window: dt.timedelta,
        urge_interval: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.tx = CopyUnitOfWork(draft, places, _settings(rating_window, urge_interval))
        self.d = draft
        self.rng = rng
        self.now = now
        self.center = center
        self.enterprise = enterprise
        self.urge_interval = urge_interval
        self.t = draft.created_at
        self.urge_chance = 0.0  # set by plots: how keen this enterprise is to urge

    @property
    def events(self) -> list[DraftEvent]:
        return self.tx.events

    @property
    def ledger(self) -> custody.Ledger:
        return self.tx.ledger

    @property
    def id(self) -> int:
        return self.d.id

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
        """The sweeper's light step for the running limit at each of its passes before
        ``end`` that finds a worse light: within a sweep period of the yellow point and of
        the limit."""
        d = self.d
        while d.clock_kind is not None and d.warn_at is not None and d.due_at is not None:
            told = d.light_notified
            point = d.warn_at if told is None else d.due_at
            if told == _RED or not sla.reached(end, point):
                return
            swept = point + dt.timedelta(seconds=self.rng.random() * SWEEP_SECONDS)
            if swept >= end:
                return
            tx = self.tx
            if not tx.act(SYSTEM, swept, sweeper.tell_light(tx, tx.record())):
                return

    # --- the commands ------------------------------------------------------------------

    def _act(self, actor: Actor, step: Callable[..., Any], *args: Any) -> None:
        """Run the command handler ``step`` on this issue as ``actor``, now."""
        tx = self.tx
        tx.act(actor, self.t, step(tx, self.d.id, None, *args))

    def submit(self, actor: Actor) -> None:
        """The intake: the row is the generator's (see the module's docstring)."""
        d, tx = self.d, self.tx
        tx.principal, tx.now = actor, d.created_at
        tx.ledger.open(
            custody.holder_of(
                d.holding_region_code,
                d.handling_level,
                d.board_id,
                d.department_id,
                d.state.value,
            ),
            d.created_at,
        )
        tx.events.append(
            DraftEvent(
                at=d.created_at,
                type="SUBMITTED",
                actor_id=actor.account_id or None,
                actor_name=actor.display_name,
                from_state=None,
                to_state=S.SUBMITTED.value,
                public=True,
                payload={"channel": d.channel, "number": d.number},
                bumps=False,
            )
        )

    def accept(self) -> None:
        self._act(self.center, commands.accept)

    def reject(self, reason: str) -> None:
        self._act(self.center, commands.reject, reason)

    def route_out(self, category: str, tags: list[str]) -> None:
        """Triage into a guided category: leaves for its dedicated route."""
        assert category in DEDICATED_ROUTES
        self._act(self.center, commands.triage, Category(category), tags)

    def triage(self, category: str, tags: list[str], unit: Unit | None = None) -> None:
        """Classify; with a unit, assign in the same command (one version bump)."""
        board_id, department_id = unit.ids if unit is not None else (None, None)
        self._act(self.center, commands.triage, Category(category), tags, board_id, department_id)

    def assign(self, unit: Unit) -> None:
        self._act(self.center, commands.assign, *unit.ids)

    def start(self, unit: Unit) -> None:
        self._act(unit.actor, commands.start)

    def note(self, actor: Actor, text: str, public: bool) -> None:
        self._act(actor, commands.add_note, text, public)

    def hand_back(self, unit: Unit, reason: str) -> None:
        self._act(unit.actor, commands.hand_back, reason)

    def resolve(self, actor: Actor, reply: str) -> None:
        self._act(actor, commands.resolve, reply)

    def rate(self, grade: RatingGrade, comment: str | None) -> None:
        self._act(self.enterprise, commands.rate, grade, comment)

    def default_close(self) -> None:
        """The sweeper's pass that finds the issue left unrated through the rating window."""
        d = self.d
        assert d.state is S.RESOLVED and d.resolved_at is not None
        closes = rating_window_closes(d.resolved_at, self.tx.settings.rating_window_days)
        self.wait_until(closes + dt.timedelta(seconds=self.rng.random() * SWEEP_SECONDS))
        tx = self.tx
        tx.act(SYSTEM, self.t, sweeper.close_unrated(tx, tx.record()))

    def hours_left_to_rate(self) -> float:
        """Until the rating window closes (the enterprise rates before the sweeper's pass)."""
        d = self.d
        assert d.resolved_at is not None
        closes = rating_window_closes(d.resolved_at, self.tx.settings.rating_window_days)
        return (closes - self.t).total_seconds() / 3600

    def urge(self) -> None:
        self._act(self.enterprise, commands.urge)

    def reopen(self, actor: Actor, reason: str) -> None:
        self._act(actor, commands.reopen, reason)

    def escalate(self, reason: str, center: Actor) -> None:
        """To the holding region's direct parent, whose center (``center``) takes over."""
        self._act(self.center, tiers.escalate, reason, None)
        self.center = center

    def delegate(
        self, to_region: str, due_at: dt.datetime, reason: str | None, center: Actor
    ) -> None:
        """Down to ``to_region`` under the holder, whose center (``center``) takes over."""
        self._act(self.center, tiers.delegate, to_region, due_at, reason)
        self.center = center

    def merge_into(self, primary: IssueSim, reason: str | None) -> None:
        """Fold this issue into ``primary`` (``learning.merge``), both held by the same
        region and open now: this one ends MERGED and points at the primary, whose timeline
        (already simulated) gains the MERGED_IN event at this moment."""
        d, p = self.d, primary.d
        at = self.t
        primary_state = primary.state_at(at)
        assert primary_state in OPEN_STATES, "the primary must be open"
        assert primary.holder_at(at) == d.holding_region_code, "merged across scopes"
        tx = self.tx
        folded = tx.act(self.center, at, fold_into(tx, tx.record(), primary.tx.record(), reason))
        merged_in = DraftEvent(
            at=at,
            type="MERGED_IN",
            actor_id=self.center.account_id or None,
            actor_name=self.center.display_name,
            from_state=primary_state.value,
            to_state=primary_state.value,
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
                        actor_id=e.actor_id,
                        actor_name=e.actor_name,
                        from_state=S.MERGED.value,
                        to_state=S.MERGED.value,
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
        spans = self.ledger.spans
        index = custody.span_at(spans, at)
        return None if index is None else spans[index].holder.region_code

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
        row: tuple[Any, ...] = _ISSUE_ROW(self.d)
        grades = [r["grade"] for r in self.tx.ratings]
        return (*row, *(grades.count(g) for g in ISSUE_RATING_COUNTS))

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
        return [tuple(r[name] for name in RATING_COLUMNS) for r in self.tx.ratings]

    def event_rows(self) -> list[tuple[Any, ...]]:
        issue_id = self.d.id
        return [
            (
                issue_id,
                e.at,
                e.actor_id,
                e.actor_name,
                e.type,
                e.from_state,
                e.to_state,
                e.public,
                e.message,
                _json(e.payload),
            )
            for e in self.events
        ]


def _json(payload: dict[str, Any]) -> str:
    """The payload as JSON text (orjson: compact, UTF-8, a tenth of the standard
    library's encoder's time on these small objects)."""
    return orjson.dumps(payload).decode() if payload else "{}"


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
        s.wait(min(lognormal_hours(rng, 20.0, 1.0), s.hours_left_to_rate() - 1))
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
    assert story.upper_unit and story.upper_center
    triaged = rng.random() < 0.5
    _submit(s, story, classified=not triaged)
    _accept(s)
    if triaged:
        s.wait(lognormal_hours(rng, 2.0, 1.0))
        s.triage(story.category, story.tags)
    s.wait(lognormal_hours(rng, 20.0, 0.8))
    s.escalate(rng.choice(vocab.ESCALATE_REASONS), story.upper_center)
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
    assert story.upper_center and story.unit is not None
    _submit(s, story, classified=True)
    _accept(s)
    s.wait(lognormal_hours(rng, 20.0, 0.8))
    town, town_center = s.d.holding_region_code, s.center
    s.escalate(rng.choice(vocab.ESCALATE_REASONS), story.upper_center)
    own_due = s.d.due_at
    assert own_due is not None
    # Decided within the parent's own assignment limit, the deadline inside it.
    s.wait((own_due - s.t).total_seconds() / 3600 * rng.uniform(0.05, 0.6))
    due = s.t + (own_due - s.t) * rng.uniform(0.6, 1.0)
    s.delegate(town, due, rng.choice(vocab.DELEGATE_REASONS), town_center)
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
