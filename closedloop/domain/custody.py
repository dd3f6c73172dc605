"""Custody: who held an issue, and who is charged when one of its time limits runs out.

The one home of the rule (DESIGN §4, "time over a limit is booked to the holder whose span
contained the deadline, whoever resolves it later"). The command layer
(``UnitOfWork._custody_change``), the issue page (overdue so far), the data generator and the
evaluation all apply it through this module. Pure: no I/O, no clock.

C1  A holder is a tier (the holding region), the handling level, and within it the board or
    department working on the issue. While the center has the next move (the issue waits
    in its pool: submitted, accepted, reopened) no unit holds it, whatever unit the issue
    last had, and a board-level issue is held at center level. An issue that ends (closed,
    rejected, merged, routed out) ends with the holder it had.
C2  Every change of holder closes the open span of the ledger and opens a new one. Spans
    are half-open, ``[started_at, ended_at)``: at the instant of a hand-over the receiving
    holder has the issue, so a holder that passes it on exactly at its deadline was in
    time (as ``sla.is_late``: late means after the deadline).
C3  A running limit (assignment or reply) that ends (stopped by a resolution, a rejection,
    a merge; replaced by a new limit at an assignment, an escalation, a delegation, a
    reopening) after its deadline has *lapsed*. The lapse is charged to the span that
    held the issue at the deadline: its ``lapsed_limits`` grows by one — even when the
    issue was handed back, returned from a delegation or escalated afterwards, and
    whoever ends the limit.
C4  The late time of a limit (from its deadline until it ends) is booked to that same span.
    It is booked piecemeal, whenever the holder changes or the limit ends, from the later
    of the deadline and the open span's start until then; while the limit still runs, the
    time since is that span's too (``running_late``).
C5  Evaluation: a resolved issue counts as resolved after its time limit (超时办结) for every
    holder charged with a lapse of it (``lapsed_limits > 0``), not for a holder that
    received it late and resolved it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from closedloop.domain.issues import FINAL_STATES, WAITING_FOR_CENTER, HandlingLevel
from closedloop.domain.sla import is_late


class Holder(NamedTuple):
    """Who holds an issue: a tier's center or level, or a board or department of it (a
    named tuple: built for every change of every issue, here and in the data generator)."""

    region_code: str
    handling_level: str
    board_id: int | None = None
    department_id: int | None = None


_CENTER, _BOARD = HandlingLevel.CENTER.value, HandlingLevel.BOARD.value


def holder_of(
    region_code: str,
    handling_level: str,
    board_id: int | None,
    department_id: int | None,
    state: str,
) -> Holder:
    """C1: who holds an issue with these columns (enumerations as text or as members: a
    StrEnum member is its text)."""
    if state in WAITING_FOR_CENTER:
        return Holder(region_code, _CENTER if handling_level == _BOARD else handling_level)
    return Holder(region_code, handling_level, board_id, department_id)


def holder_after(
    before: Holder,
    region_code: str,
    handling_level: str,
    board_id: int | None,
    department_id: int | None,
    state: str,
) -> Holder:
    """C1: who holds an issue after a change to these columns (held until now by ``before``)."""
    if state in FINAL_STATES:
        return before
    return holder_of(region_code, handling_level, board_id, department_id, state)


class SpanLike(Protocol):
    @property
    def started_at(self) -> dt.datetime: ...

    @property
    def ended_at(self) -> dt.datetime | None: ...


def span_at(spans: Sequence[SpanLike], instant: dt.datetime) -> int | None:
    """C2: the index of the span holding the issue at ``instant`` (spans in order)."""
    for index in range(len(spans) - 1, -1, -1):
        span = spans[index]
        if span.started_at <= instant and (span.ended_at is None or instant < span.ended_at):
            return index
    return None


def late_seconds(due_at: dt.datetime, open_started_at: dt.datetime, now: dt.datetime) -> int:
    """C4: the late time to book now — since the later of the deadline and the open span's
    start (earlier pieces were booked when earlier spans closed)."""
    return max(0, round((now - max(due_at, open_started_at)).total_seconds()))


@dataclass(frozen=True, slots=True)
class Booking:
    """What ``book`` adds to the span at ``index``."""

    index: int
    seconds: int
    lapses: int


def book(
    spans: Sequence[SpanLike],
    due_at: dt.datetime | None,
    now: dt.datetime,
    *,
    limit_ends: bool,
) -> Booking | None:
    """C3/C4: before the holder changes or the limit ends at ``now``: the late time (and, when
    the limit ends, the lapse) of the running limit due at ``due_at``, for the span that
    held the issue at the deadline. ``None`` when the limit is not late (or none runs)."""
    if due_at is None or not spans or not is_late(now, due_at):
        return None
    index = span_at(spans, due_at)
    if index is None:  # the deadline came before the ledger began: the first holder's
        index = 0
    seconds = late_seconds(due_at, spans[-1].started_at, now)
    return Booking(index, seconds, 1 if limit_ends else 0)


def running_late(
    spans: Sequence[SpanLike], due_at: dt.datetime | None, now: dt.datetime
) -> Booking | None:
    """C4: the late time of a still running limit not yet booked, and whose it is."""
    return book(spans, due_at, now, limit_ends=False)


@dataclass(slots=True)
class Span:
    holder: Holder
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    overdue_seconds: int = 0
    lapsed_limits: int = 0


@dataclass(slots=True)
class Ledger:
    """An issue's custody ledger kept in memory by the same rule (the data generator keeps
    its simulated issues' ledgers with it; the tests build timelines with it)."""

    spans: list[Span] = field(default_factory=list)

    def open(self, holder: Holder, at: dt.datetime) -> None:
        self.spans.append(Span(holder, at))

    def change(
        self,
        now: dt.datetime,
        *,
        due_at: dt.datetime | None,
        holder: Holder | None = None,
        limit_ends: bool = False,
    ) -> None:
        """Before a change at ``now``: book the running limit (due at ``due_at``) and open a
        span for ``holder`` when it differs from the current one."""
        moved = holder is not None and holder != self.spans[-1].holder
        if not (moved or limit_ends):
            return
        booking = book(self.spans, due_at, now, limit_ends=limit_ends)
        if booking is not None:
            span = self.spans[booking.index]
            span.overdue_seconds += booking.seconds
            span.lapsed_limits += booking.lapses
        if moved:
            assert holder is not None
            self.spans[-1].ended_at = now
            self.spans.append(Span(holder, now))

    def charged(self) -> list[Holder]:
        """C5: the holders charged with a lapse, in ledger order, each once."""
        out: list[Holder] = []
        for span in self.spans:
            if span.lapsed_limits and span.holder not in out:
                out.append(span.holder)
        return out
