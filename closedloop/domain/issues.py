"""The issue state machine and its vocabulary. Pure: no I/O, no clock.

Every command names the states it may start from and the state it leads to; anything
else is an ``IllegalTransition``.
"""

from __future__ import annotations

import datetime as dt
import enum


class IssueState(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"
    MERGED = "MERGED"
    ROUTED_OUT = "ROUTED_OUT"
    REOPENED = "REOPENED"


class HandlingLevel(enum.StrEnum):
    ORIGINAL_CHANNEL = "ORIGINAL_CHANNEL"
    BOARD = "BOARD"
    CENTER = "CENTER"
    LEADER_MEETING = "LEADER_MEETING"
    PARENT_TIER = "PARENT_TIER"
    PROVINCE_TASKFORCE = "PROVINCE_TASKFORCE"


class Light(enum.StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


class RatingGrade(enum.StrEnum):
    SATISFIED = "SATISFIED"
    FAIRLY_SATISFIED = "FAIRLY_SATISFIED"
    BASICALLY_SATISFIED = "BASICALLY_SATISFIED"
    UNSATISFIED = "UNSATISFIED"


class ClockKind(enum.StrEnum):
    ASSIGN = "ASSIGN"  # from acceptance to assignment
    REPLY = "REPLY"  # from assignment to the reply (resolution)


class Command(enum.StrEnum):
    SUBMIT = "SUBMIT"
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    TRIAGE = "TRIAGE"
    ROUTE_OUT = "ROUTE_OUT"
    ASSIGN = "ASSIGN"
    START = "START"
    NOTE = "NOTE"
    HAND_BACK = "HAND_BACK"
    RESOLVE = "RESOLVE"
    RATE = "RATE"
    URGE = "URGE"
    REOPEN = "REOPEN"
    CLOSE = "CLOSE"
    MERGE = "MERGE"
    ESCALATE = "ESCALATE"
    DELEGATE = "DELEGATE"
    RETURN = "RETURN"
    COORDINATE = "COORDINATE"
    MEETING_DECISION = "MEETING_DECISION"
    PUSH_PROBLEM_LIST = "PUSH_PROBLEM_LIST"
    VERIFY = "VERIFY"
    SHARE = "SHARE"
    LINK_RECURRENCE = "LINK_RECURRENCE"


S = IssueState
OPEN_STATES = frozenset({S.SUBMITTED, S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED})
FINAL_STATES = frozenset({S.CLOSED, S.REJECTED, S.MERGED, S.ROUTED_OUT})
# States in which the center (not a board) holds the next move.
WAITING_FOR_CENTER = frozenset({S.SUBMITTED, S.ACCEPTED, S.REOPENED})

# Accepted and not finished: a tier is working on it.
IN_HAND = frozenset({S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED})

# command -> (allowed from-states, to-state or None when the state does not change)
TRANSITIONS: dict[Command, tuple[frozenset[IssueState], IssueState | None]] = {
    Command.ACCEPT: (frozenset({S.SUBMITTED}), S.ACCEPTED),
    Command.REJECT: (frozenset({S.SUBMITTED, S.ACCEPTED}), S.REJECTED),
    Command.TRIAGE: (frozenset({S.SUBMITTED, S.ACCEPTED, S.REOPENED}), None),
    Command.ROUTE_OUT: (frozenset({S.SUBMITTED, S.ACCEPTED, S.REOPENED}), S.ROUTED_OUT),
    Command.ASSIGN: (frozenset({S.ACCEPTED, S.REOPENED}), S.ASSIGNED),
    Command.START: (frozenset({S.ASSIGNED}), S.IN_PROGRESS),
    Command.NOTE: (OPEN_STATES | {S.RESOLVED}, None),
    Command.HAND_BACK: (frozenset({S.ASSIGNED, S.IN_PROGRESS}), S.ACCEPTED),
    Command.RESOLVE: (frozenset({S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED}), S.RESOLVED),
    Command.RATE: (frozenset({S.RESOLVED}), None),  # CLOSED, or REOPENED when unsatisfied
    Command.URGE: (OPEN_STATES, None),
    Command.REOPEN: (frozenset({S.RESOLVED, S.CLOSED}), S.REOPENED),
    Command.CLOSE: (frozenset({S.RESOLVED}), S.CLOSED),
    Command.MERGE: (OPEN_STATES, S.MERGED),
    Command.VERIFY: (frozenset({S.RESOLVED, S.CLOSED}), None),
    Command.SHARE: (frozenset({S.RESOLVED, S.CLOSED}), None),
    Command.LINK_RECURRENCE: (frozenset(S) - {S.MERGED}, None),
    # Moving between tiers: the receiving center gets it in its pool, to assign anew.
    Command.ESCALATE: (IN_HAND, S.ACCEPTED),
    Command.DELEGATE: (IN_HAND, S.ACCEPTED),
    Command.RETURN: (IN_HAND, S.ACCEPTED),
    Command.COORDINATE: (IN_HAND, None),
    Command.MEETING_DECISION: (IN_HAND, None),
    # A tier in hand pushes a major problem to its 七张问题清单 application; the issue stays
    # where it is in the loop (closedloop.domain.problem_lists).
    Command.PUSH_PROBLEM_LIST: (IN_HAND, None),
}


class IllegalTransition(Exception):
    def __init__(self, command: Command, state: IssueState) -> None:
        super().__init__(f"{command.value} is not allowed in state {state.value}")
        self.command = command
        self.state = state


def transition(command: Command, state: IssueState) -> IssueState:
    """The state after ``command``; raises ``IllegalTransition`` when not allowed."""
    allowed_from, to = TRANSITIONS[command]
    if state not in allowed_from:
        raise IllegalTransition(command, state)
    return to if to is not None else state


def allowed_commands(state: IssueState) -> list[Command]:
    return [c for c, (sources, _) in TRANSITIONS.items() if state in sources]


# The ladder inside a tier (arriving from below counts as center level).
LADDER_RANK = {
    HandlingLevel.ORIGINAL_CHANNEL: 0,
    HandlingLevel.BOARD: 1,
    HandlingLevel.CENTER: 2,
    HandlingLevel.PARENT_TIER: 2,
    HandlingLevel.LEADER_MEETING: 3,
    HandlingLevel.PROVINCE_TASKFORCE: 4,
}
COORDINATION_LEVELS = frozenset({HandlingLevel.CENTER, HandlingLevel.LEADER_MEETING})


def is_higher(level: HandlingLevel, than: HandlingLevel) -> bool:
    return LADDER_RANK[level] > LADDER_RANK[than]


def next_urge_at(last_urged_at: dt.datetime | None, interval: dt.timedelta) -> dt.datetime | None:
    """When the enterprise may urge again (None: now)."""
    return None if last_urged_at is None else last_urged_at + interval


def urge_too_soon(
    last_urged_at: dt.datetime | None, interval: dt.timedelta, now: dt.datetime
) -> bool:
    allowed = next_urge_at(last_urged_at, interval)
    return allowed is not None and now < allowed


def coordination_targets(level: HandlingLevel) -> list[HandlingLevel]:
    """The levels ``coordinate`` may raise an issue to from ``level`` (up the ladder)."""
    return [target for target in COORDINATION_LEVELS if is_higher(target, level)]


def after_rating(grade: RatingGrade) -> IssueState:
    """An unsatisfied enterprise reopens the issue; any other grade closes it."""
    return S.REOPENED if grade is RatingGrade.UNSATISFIED else S.CLOSED


def rating_window_closes(resolved_at: dt.datetime, window_days: int) -> dt.datetime:
    """When the rating window of an issue resolved at ``resolved_at`` closes: ``window_days``
    calendar days later. From then on, an issue still unrated is closed by the sweeper and
    its missing rating counts as a good one (``db.time_limits.rating_window_closed`` is
    this rule in SQL)."""
    return resolved_at + dt.timedelta(days=window_days)


class Channel(enum.StrEnum):
    """Intake channels (catalog ``channels``; a test keeps the two in step)."""

    ONLINE_PORTAL = "ONLINE_PORTAL"
    CENTER_WINDOW = "CENTER_WINDOW"
    HOTLINE_12345 = "HOTLINE_12345"
    BUSINESS_COMPLAINT_LINE = "BUSINESS_COMPLAINT_LINE"
    DIALOGUE_MEETING = "DIALOGUE_MEETING"
    QIXIAOBANG = "QIXIAOBANG"
    GOOD_BAD_REVIEW = "GOOD_BAD_REVIEW"
    PEOPLES_CONGRESS = "PEOPLES_CONGRESS"
    CPPCC = "CPPCC"
    TALENT_LOUNGE = "TALENT_LOUNGE"
    POLICE_11087 = "POLICE_11087"
    GRASSROOTS_PLATFORM = "GRASSROOTS_PLATFORM"
    SUPERIOR_ASSIGNED = "SUPERIOR_ASSIGNED"
    INSPECTION = "INSPECTION"
    DEPARTMENT_REPORT = "DEPARTMENT_REPORT"
    SERVICE_STAFF = "SERVICE_STAFF"
    SYSTEM_CAPTURE = "SYSTEM_CAPTURE"


class Category(enum.StrEnum):
    """Issue categories (catalog ``categories``)."""

    COMPLAINT = "COMPLAINT"
    REPORT = "REPORT"
    SERVICE_REQUEST = "SERVICE_REQUEST"
    CONSULTATION = "CONSULTATION"
    APPEAL = "APPEAL"
    SUGGESTION = "SUGGESTION"
