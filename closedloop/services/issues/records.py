"""Issue and event records, read with SQLAlchemy Core (no ORM objects on hot paths)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, make_dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.roles import Action, Principal
from closedloop.db import driver
from closedloop.db import tables as t
from closedloop.domain.issues import ClockKind, HandlingLevel, IssueState, RatingGrade
from closedloop.tenancy.scope import can_see_issue


class Row(Protocol):
    """A SQLAlchemy row mapping or an asyncpg record: names to values."""

    def items(self) -> Any: ...


@dataclass(slots=True)  # not frozen: a frozen init costs 3x, and pages build many
class IssueRecord:
    id: int
    number: str
    title: str
    content: str
    enterprise_id: int
    origin_region_code: str
    holding_region_code: str
    channel: str
    proactive: bool
    external_id: str | None
    category: str | None
    tags: tuple[str, ...]
    board_id: int | None
    department_id: int | None
    handling_level: HandlingLevel
    state: IssueState
    route: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    accepted_at: dt.datetime | None
    assigned_at: dt.datetime | None
    started_at: dt.datetime | None
    clock_kind: ClockKind | None
    clock_started_at: dt.datetime | None
    warn_at: dt.datetime | None
    due_at: dt.datetime | None
    light_notified: str | None
    assign_overdue: bool
    resolved_at: dt.datetime | None
    reply: str | None
    overdue: bool
    closed_at: dt.datetime | None
    rating: RatingGrade | None
    rating_comment: str | None
    rated_at: dt.datetime | None
    last_urged_at: dt.datetime | None
    urge_count: int
    reopen_count: int
    merged_into_id: int | None
    reason: str | None
    delegated_from_region_code: str | None
    escalation_count: int
    delegation_return_count: int
    recurrence_of_id: int | None
    recurred: bool
    submitted_by: int | None = None  # the account that took it in

    @classmethod
    def from_row(cls, row: Row) -> IssueRecord:
        """From a SQLAlchemy row mapping or an asyncpg record (both map names to values)."""
        data: dict[str, Any] = dict(row.items())
        data["tags"] = tuple(data["tags"] or ())
        data["handling_level"] = LEVELS[data["handling_level"]]
        data["state"] = STATES[data["state"]]
        data["clock_kind"] = _CLOCKS.get(data["clock_kind"])
        data["rating"] = _GRADES.get(data["rating"])
        # Positional, in field order: keyword arguments out of order cost CPython a linear
        # search per name (40 µs a row here, 2 ms a page).
        return cls(*[data[name] for name in _ISSUE_FIELDS])

    @classmethod
    def from_records(cls, rows: Sequence[Any]) -> list[IssueRecord]:
        """From asyncpg records (``driver.fetch``): columns are matched to fields once per
        result, and each row is read by position (half the time of ``from_row``)."""
        return _build(cls, _ISSUE_FIELDS, rows)

    @staticmethod
    def partial_records(rows: Sequence[Any], columns: Sequence[str]) -> list[IssueRecord]:
        """Records of some of the columns only (``columns``, in field order: see
        ``issue_columns``), for a page whose selection reads no others. They are typed as
        issue records; reading a column left out raises ``AttributeError``, never a wrong
        value. Converted like full records."""
        return _build(_partial_class(tuple(columns)), columns, rows)


def reads_issue(principal: Principal, rec: IssueRecord, action: Action = Action.ISSUE_READ) -> bool:
    """Whether ``principal`` may ``action`` the issue in memory: the policies' rule
    (``can_see_issue``) on the record's own columns, without a read."""
    return can_see_issue(
        principal,
        enterprise_id=rec.enterprise_id,
        origin_region=rec.origin_region_code,
        holding_region=rec.holding_region_code,
        board_id=rec.board_id,
        department_id=rec.department_id,
        submitted_by=rec.submitted_by,
        action=action,
    )


def issue_columns(wanted: Iterable[str]) -> tuple[str, ...]:
    """The issue columns of ``wanted`` in field order (the key of a partial record class);
    unknown names raise ``KeyError``."""
    chosen = set(wanted)
    unknown = chosen.difference(_ISSUE_FIELDS)
    if unknown:
        raise KeyError(f"not issue columns: {sorted(unknown)}")
    return tuple(name for name in _ISSUE_FIELDS if name in chosen)


@lru_cache(maxsize=256)
def _partial_class(columns: tuple[str, ...]) -> type[IssueRecord]:
    """A slots dataclass of ``columns`` (one per column set: a selection asks for the same
    set each time)."""
    partial = make_dataclass(
        "PartialIssueRecord", [(name, _FIELD_TYPES[name]) for name in columns], slots=True
    )
    return cast(type[IssueRecord], partial)


def _build(cls: Callable[..., T], columns: Sequence[str], rows: Sequence[Any]) -> list[T]:
    """``cls(*values)`` for each row, its values in the order of ``columns`` and converted
    to the records' types."""
    if not rows:
        return []
    names = list(rows[0].keys())
    pick = itemgetter(*(names.index(name) for name in columns))
    converters = [(names.index(n), _CONVERTERS[n]) for n in columns if n in _CONVERTERS]
    out = []
    for row in rows:
        v = list(row)
        for at, convert in converters:
            v[at] = convert(v[at])
        values = pick(v)
        out.append(cls(*values) if len(columns) > 1 else cls(values))
    return out


# Members by their database value: a dict look-up, where calling an Enum class per value
# is slow on a hot path (the records here, the GraphQL objects made from them).
LEVELS = {m.value: m for m in HandlingLevel}
STATES = {m.value: m for m in IssueState}
_CLOCKS: dict[str | None, ClockKind] = {m.value: m for m in ClockKind}
_GRADES: dict[str | None, RatingGrade] = {m.value: m for m in RatingGrade}
_ISSUE_FIELDS = tuple(f.name for f in fields(IssueRecord))
_FIELD_TYPES = {f.name: f.type for f in fields(IssueRecord)}
# Columns whose database values are not the record's (text to enums, arrays to tuples).
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "tags": lambda v: tuple(v or ()),
    "handling_level": LEVELS.__getitem__,
    "state": STATES.__getitem__,
    "clock_kind": _CLOCKS.get,
    "rating": _GRADES.get,
}
T = TypeVar("T")


@dataclass(slots=True)  # not frozen: a page builds one per issue
class EventRecord:
    id: int
    issue_id: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor_name: str
    type: str
    from_state: str | None
    to_state: str | None
    public: bool
    message: str | None
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: Row) -> EventRecord:
        return cls(**dict(row.items()))

    @classmethod
    def from_records(cls, rows: Sequence[Any], prefix: str = "") -> list[EventRecord]:
        """From asyncpg records, by position (see ``IssueRecord.from_records``); with a
        ``prefix``, from the columns so named, skipping rows where they are null (an outer
        join found no event)."""
        if not rows:
            return []
        names = list(rows[0].keys())
        positions = [names.index(prefix + f.name) for f in fields(cls)]
        pick = itemgetter(*positions)
        first = positions[0]
        return [cls(*pick(row)) for row in rows if row[first] is not None]


@dataclass(frozen=True, slots=True)
class EnterpriseRecord:
    id: int
    credit_code: str
    name: str
    region_code: str
    contact_phone: str | None
    contact_name: str | None = None
    version: int = 1


async def issues_by_id(
    conn: AsyncConnection | driver.Reader, ids: Sequence[int], visible: sa.ColumnElement[bool]
) -> dict[int, IssueRecord]:
    found = await driver.rows(
        conn, sa.select(t.issue).where(driver.any_of(t.issue.c.id, ids), visible)
    )
    return {r["id"]: IssueRecord.from_row(r) for r in found}


async def lock_issue(conn: AsyncConnection, issue_id: int) -> IssueRecord | None:
    """Read one issue FOR UPDATE: concurrent commands on it queue behind each other."""
    row = (
        (await conn.execute(sa.select(t.issue).where(t.issue.c.id == issue_id).with_for_update()))
        .mappings()
        .first()
    )
    return IssueRecord.from_row(row) if row else None


async def events_for(
    conn: AsyncConnection | driver.Reader, issue_ids: Sequence[int], public_only: bool
) -> dict[int, list[EventRecord]]:
    q = sa.select(t.issue_event).where(driver.any_of(t.issue_event.c.issue_id, issue_ids))
    if public_only:
        q = q.where(t.issue_event.c.public)
    found = await driver.rows(conn, q.order_by(t.issue_event.c.issue_id, t.issue_event.c.id))
    out: dict[int, list[EventRecord]] = defaultdict(list)
    for r in found:
        out[r["issue_id"]].append(EventRecord.from_row(r))
    return out


async def last_events(
    conn: AsyncConnection | driver.Reader, issue_ids: Sequence[int], public_only: bool
) -> dict[int, EventRecord]:
    """The newest event of each issue in one statement (LATERAL over the event index)."""
    sql = _LAST_EVENTS_PUBLIC if public_only else _LAST_EVENTS
    rows = await driver.fetch_sql(conn, sql, list(issue_ids))
    return {e.issue_id: e for e in EventRecord.from_records(rows)}


_LAST_EVENTS = (
    "SELECT last.* FROM unnest($1::bigint[]) AS ids(id) CROSS JOIN LATERAL"
    " (SELECT * FROM issue_event e WHERE e.issue_id = ids.id{}"
    " ORDER BY e.id DESC LIMIT 1) AS last"
)
_LAST_EVENTS_PUBLIC = _LAST_EVENTS.format(" AND e.public")
_LAST_EVENTS = _LAST_EVENTS.format("")


async def enterprises_by_id(
    conn: AsyncConnection | driver.Reader, ids: Sequence[int]
) -> dict[int, EnterpriseRecord]:
    found = await driver.rows(
        conn, sa.select(t.enterprise).where(driver.any_of(t.enterprise.c.id, ids))
    )
    return {r["id"]: EnterpriseRecord(**dict(r)) for r in found}


async def enterprise_by_credit_code(conn: AsyncConnection, code: str) -> EnterpriseRecord | None:
    row = (
        (await conn.execute(sa.select(t.enterprise).where(t.enterprise.c.credit_code == code)))
        .mappings()
        .first()
    )
    return EnterpriseRecord(**dict(row)) if row else None


@dataclass(frozen=True, slots=True)
class CustodyRecord:
    id: int
    issue_id: int
    region_code: str
    handling_level: str
    board_id: int | None
    department_id: int | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    overdue_seconds: int
    lapsed_limits: int


async def custody_for(
    conn: AsyncConnection | driver.Reader, issue_ids: Sequence[int]
) -> dict[int, list[CustodyRecord]]:
    found = await driver.rows(
        conn,
        sa.select(t.issue_custody)
        .where(driver.any_of(t.issue_custody.c.issue_id, issue_ids))
        .order_by(t.issue_custody.c.issue_id, t.issue_custody.c.id),
    )
    out: dict[int, list[CustodyRecord]] = defaultdict(list)
    for r in found:
        out[r["issue_id"]].append(CustodyRecord(**dict(r)))
    return out


@dataclass(frozen=True, slots=True)
class RatingRecord:
    id: int
    issue_id: int
    resolution: int
    resolved_at: dt.datetime
    region_code: str
    board_id: int | None
    department_id: int | None
    grade: str
    comment: str | None
    rated_by: int | None
    rated_at: dt.datetime
    rated_by_name: str | None


async def ratings_for(
    conn: AsyncConnection | driver.Reader, issue_ids: Sequence[int]
) -> dict[int, list[RatingRecord]]:
    """Every rating of each issue, oldest first (``issue_rating``: reopening keeps them)."""
    r, a = t.issue_rating.c, t.account.c
    found = await driver.rows(
        conn,
        sa.select(t.issue_rating, a.display_name.label("rated_by_name"))
        .select_from(t.issue_rating.outerjoin(t.account, a.id == r.rated_by))
        .where(driver.any_of(r.issue_id, issue_ids))
        .order_by(r.issue_id, r.resolution),
    )
    out: dict[int, list[RatingRecord]] = defaultdict(list)
    for row in found:
        out[row["issue_id"]].append(RatingRecord(**dict(row)))
    return out


def events_from_composites(rows: Sequence[Any]) -> list[EventRecord]:
    """Events from ``issue_event`` row values (composites: ``SELECT e FROM issue_event e``
    in an array), oldest first as given."""
    return _from_composites(EventRecord, _EVENT_FIELDS, rows)


def custody_from_composites(rows: Sequence[Any]) -> list[CustodyRecord]:
    """Custody entries from ``issue_custody`` row values, as ``events_from_composites``."""
    return _from_composites(CustodyRecord, _CUSTODY_FIELDS, rows)


def _from_composites(cls: Callable[..., T], names: tuple[str, ...], rows: Sequence[Any]) -> list[T]:
    """By position when the row type's columns are the record's fields in that order
    (checked on the first row), which costs a third of reading eleven fields by name;
    otherwise (``issue_custody``'s columns are in another order, as migrations added them)
    by the positions of the record's names in the first row, every row being of one type."""
    if not rows:
        return []
    columns = tuple(rows[0].keys())
    if columns == names:
        return [cls(*row) for row in rows]
    pick = itemgetter(*(columns.index(name) for name in names))
    return [cls(*pick(row)) for row in rows]


_EVENT_FIELDS = tuple(f.name for f in fields(EventRecord))
_CUSTODY_FIELDS = tuple(f.name for f in fields(CustodyRecord))
