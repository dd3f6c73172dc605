"""One transaction per command: explicit commit, rollback by default.

``CommandTx`` carries what every handler needs: the connection, the caller, the time,
and helpers that load the target issue *through scope, policy and version*, change it
(bumping its version), append events and write outbox rows in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.authz.enforcer import can
from closedloop.authz.roles import Action, Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain import custody, sla
from closedloop.domain.clock import Clock
from closedloop.domain.errors import IssueCommandError, IssueErrorCode
from closedloop.domain.issues import Command, IllegalTransition, IssueState, transition
from closedloop.domain.sla import is_late, running_limit
from closedloop.services import idempotency
from closedloop.services.event_bus import publish
from closedloop.services.issues.records import IssueRecord, lock_issue, reads_issue
from closedloop.settings import Settings
from closedloop.tenancy.scope import issue_target

SYSTEM_ACTOR = "系统"
UnitKind = Literal["board", "department"]


@dataclass
class CommandResult:
    issue_id: int | None
    errors: list[IssueCommandError] = field(default_factory=list)
    replayed: bool = False
    # On a replay: the row the first request answered with (see ``Answer``).
    first: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The row a command answers with: the one of ``table`` whose ``column`` is the
    handler's result id. Kept with the idempotency key, so a replay answers the same."""

    table: sa.Table
    column: str = "id"

    def select(self, result_id: int) -> sa.Select[Any]:
        return sa.select(self.table).where(self.table.c[self.column] == result_id)


ISSUE_ANSWER = Answer(t.issue)


class UnitOfWork:
    """What a command handler works through: the caller, the time, the settings, and the
    issue's reads and writes. The rules of the writes live here, whatever stores them:
    loading through scope, policy and version, the state machine, the version bump, the
    custody ledger, the timeline and the notifications. Where the rows go is a subclass's
    business: ``CommandTx`` (one database transaction) or the data generator's COPY buffers
    (``bench.generator``), so that both run the same handlers.

    A handler typed with ``UnitOfWork`` does no I/O of its own; one that needs the database
    directly (the problem lists, the case library, callbacks) takes a ``CommandTx``."""

    def __init__(self, principal: Principal, now: dt.datetime, settings: Settings) -> None:
        self.principal = principal
        self.now = now
        self.settings = settings
        self.touched: set[int] = set()

    # --- what a store provides ---------------------------------------------------------

    async def lock_issue(self, issue_id: int) -> IssueRecord | None:
        """The issue, locked against concurrent commands (``None``: no such issue)."""
        raise NotImplementedError

    async def _acting_on(self, issue_id: int) -> None:
        """The caller saw the issue in scope: this unit of work may move it out of scope."""

    async def _write(self, issue: IssueRecord, values: dict[str, Any]) -> bool:
        """Store the changed columns if ``issue`` still has its version (enumerations come
        as their members)."""
        raise NotImplementedError

    async def _write_quietly(self, issue: IssueRecord, values: dict[str, Any]) -> None:
        """Store columns that are no user-visible change (no version check or bump)."""
        raise NotImplementedError

    async def _custody(
        self,
        issue: IssueRecord,
        late_due_at: dt.datetime | None,
        limit_ends: bool,
        moved_to: custody.Holder | None,
    ) -> None:
        """Book the late time of a running limit due at ``late_due_at`` (past now) to the
        span that held the issue at its deadline (``custody.book``), and close the open
        span and open one for ``moved_to`` when the holder changes."""
        raise NotImplementedError

    async def open_custody(self, issue_id: int, holder: custody.Holder) -> None:
        raise NotImplementedError

    async def _insert_event(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

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
        """An outbox row, committed (or not) together with the change it reports."""
        raise NotImplementedError

    async def enterprise_phone(self, enterprise_id: int) -> str:
        raise NotImplementedError

    async def limits(self, region_code: str, category: str | None) -> sla.Limits:
        """The limits of the most specific rule for the region and category
        (``sla.limits_for``)."""
        raise NotImplementedError

    async def unit_in(self, kind: UnitKind, unit_id: int, region_code: str) -> bool:
        """Whether board or department ``unit_id`` belongs to ``region_code``."""
        raise NotImplementedError

    async def region_exists(self, code: str) -> bool:
        raise NotImplementedError

    async def resolutions(self, issue_id: int) -> int:
        """How many times the issue has been resolved (its RESOLVED/SETTLED events)."""
        raise NotImplementedError

    async def record_rating(self, row: dict[str, Any]) -> None:
        raise NotImplementedError

    async def merged_duplicates(self, primary_id: int) -> list[dict[str, Any]]:
        """The issues folded into ``primary_id`` (its MERGED_IN events' ``duplicates``)."""
        raise NotImplementedError

    async def touch(self, issue_id: int) -> None:
        """The issue changed for its readers without a change of its own columns (a new
        public entry on its timeline: its primary was resolved): ``updated_at`` moves on,
        so that whoever reads back changes since a time (a channel system) hears of it."""
        raise NotImplementedError

    # --- the rules -----------------------------------------------------------------------

    @property
    def actor_name(self) -> str:
        return self.principal.display_name

    async def load_for(
        self, action: Action, issue_id: int, expected_version: int | None
    ) -> IssueRecord:
        """The issue, locked, if the caller may see it, may act on it, and has its version."""
        issue = await self.lock_issue(issue_id)
        if issue is None or not self.sees(issue):
            raise IssueCommandError(IssueErrorCode.NOT_FOUND, "id")
        target = issue_target(
            self.principal,
            enterprise_id=issue.enterprise_id,
            holding_region=issue.holding_region_code,
            board_id=issue.board_id,
            department_id=issue.department_id,
        )
        if not can(self.principal, action, target):
            raise IssueCommandError(IssueErrorCode.PERMISSION_DENIED, None, action.value)
        await self._acting_on(issue.id)
        if expected_version is not None and expected_version != issue.version:
            raise IssueCommandError(
                IssueErrorCode.VERSION_CONFLICT,
                "expectedVersion",
                f"current version {issue.version}",
            )
        return issue

    def sees(self, issue: IssueRecord) -> bool:
        return reads_issue(self.principal, issue)

    @staticmethod
    def next_state(command: Command, issue: IssueRecord) -> IssueState:
        try:
            return transition(command, issue.state)
        except IllegalTransition as exc:
            raise IssueCommandError(IssueErrorCode.INVALID_TRANSITION, None, str(exc)) from exc

    async def update(self, issue: IssueRecord, **changes: Any) -> None:
        """Apply changes and bump the version (guarded again by the version in WHERE)."""
        booking = self._custody_change(issue, changes)
        if booking is not None:
            await self._custody(issue, *booking)
        changes["version"] = issue.version + 1
        changes["updated_at"] = self.now
        if not await self._write(issue, changes):
            raise IssueCommandError(IssueErrorCode.VERSION_CONFLICT, "expectedVersion")

    async def set_quietly(self, issue: IssueRecord, **changes: Any) -> None:
        """Columns that are no user-visible change of the issue (what the sweeper has told):
        no version bump, no conflicts caused."""
        await self._write_quietly(issue, changes)

    def _custody_change(
        self, issue: IssueRecord, values: dict[str, Any]
    ) -> tuple[dt.datetime | None, bool, custody.Holder | None] | None:
        """The custody ledger (``closedloop.domain.custody``): a span per holder (tier, level,
        board or department); a limit's late time and lapse go to the span that held the
        issue at its deadline. What ``_custody`` books for the change ``values`` (``None``:
        nothing). Plain code, not a coroutine: it does no I/O, and a step's calls are its
        cost in the data generator."""
        # Enumerations as their members: a StrEnum member is its text.
        before = custody.holder_of(
            issue.holding_region_code,
            issue.handling_level,
            issue.board_id,
            issue.department_id,
            issue.state,
        )
        after = custody.holder_after(
            before,
            values.get("holding_region_code", issue.holding_region_code),
            values.get("handling_level", issue.handling_level),
            values.get("board_id", issue.board_id),
            values.get("department_id", issue.department_id),
            values.get("state", issue.state),
        )
        moved = after != before
        limit_ends = issue.clock_kind is not None and ("clock_kind" in values or "due_at" in values)
        if not (moved or limit_ends):
            return None
        due_at = running_limit(issue.clock_kind, issue.due_at)
        late = due_at if due_at is not None and is_late(self.now, due_at) else None
        return late, limit_ends, after if moved else None

    # The helpers below do no I/O of their own: they return the store's write for the handler
    # to await, so that a step costs one coroutine per write, not one per layer (the data
    # generator runs millions of steps).

    def event(
        self,
        issue: IssueRecord,
        type_: str,
        *,
        public: bool,
        to_state: IssueState | None = None,
        message: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Awaitable[None]:
        return self.append_event(
            issue.id,
            type_,
            from_state=issue.state,
            to_state=to_state or issue.state,
            public=public,
            message=message,
            payload=payload,
        )

    def append_event(
        self,
        issue_id: int,
        type_: str,
        *,
        from_state: IssueState | None,
        to_state: IssueState,
        public: bool,
        message: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Awaitable[None]:
        """One entry of an issue's append-only timeline, by the acting principal, now. The
        states as their text: ``str()`` of a StrEnum member (a C call; ``.value`` is a
        Python property, and this runs for every command)."""
        self.touched.add(issue_id)
        return self._insert_event(
            {
                "issue_id": issue_id,
                "occurred_at": self.now,
                "actor_id": self.principal.account_id,
                "actor_name": self.actor_name,
                "type": type_,
                "from_state": str(from_state) if from_state else None,
                "to_state": str(to_state),
                "public": public,
                "message": message,
                "payload": payload or {},
            }
        )

    def notify(
        self, issue: IssueRecord, channel: str, recipient: str, topic: str, text: str
    ) -> Awaitable[None]:
        """An outbox row, committed (or not) together with the change it reports."""
        return self.notify_about(
            issue.id, issue.number, issue.title, channel, recipient, topic, text
        )

    async def notify_enterprise(self, issue: IssueRecord, topic: str, text: str) -> None:
        phone = await self.enterprise_phone(issue.enterprise_id)
        await self.notify(issue, "SMS", phone, topic, text)

    def notify_handler(
        self,
        issue: IssueRecord,
        topic: str,
        text: str,
        board_id: int | None = None,
        department_id: int | None = None,
    ) -> Awaitable[None]:
        board_id = board_id if board_id is not None else issue.board_id
        department_id = department_id if department_id is not None else issue.department_id
        if board_id is not None:
            recipient = f"board:{board_id}"
        elif department_id is not None:
            recipient = f"department:{department_id}"
        else:
            recipient = f"center:{issue.holding_region_code}"
        return self.notify(issue, "OA", recipient, topic, text)


class CommandTx(UnitOfWork):
    """The unit of work of one database transaction (``IssueCommands.run``)."""

    def __init__(
        self, conn: AsyncConnection, principal: Principal, now: dt.datetime, settings: Settings
    ) -> None:
        super().__init__(principal, now, settings)
        self.conn = conn

    async def lock_issue(self, issue_id: int) -> IssueRecord | None:
        return await lock_issue(self.conn, issue_id)

    async def _acting_on(self, issue_id: int) -> None:
        # Seen in scope: this transaction may now move it out of scope (see migration 0003).
        await self.conn.execute(
            sa.text("SELECT set_config('closedloop.acting_on', :id, true)"), {"id": str(issue_id)}
        )

    async def _write(self, issue: IssueRecord, values: dict[str, Any]) -> bool:
        result = await self.conn.execute(
            t.issue.update()
            .where(t.issue.c.id == issue.id, t.issue.c.version == issue.version)
            .values(**{k: (v.value if isinstance(v, enum.Enum) else v) for k, v in values.items()})
        )
        return bool(result.rowcount == 1)

    async def _write_quietly(self, issue: IssueRecord, values: dict[str, Any]) -> None:
        await self.conn.execute(t.issue.update().where(t.issue.c.id == issue.id).values(**values))

    async def _custody(
        self,
        issue: IssueRecord,
        late_due_at: dt.datetime | None,
        limit_ends: bool,
        moved_to: custody.Holder | None,
    ) -> None:
        c = t.issue_custody.c
        if late_due_at is not None:
            spans = (
                await self.conn.execute(
                    sa.select(c.id, c.started_at, c.ended_at)
                    .where(c.issue_id == issue.id)
                    .order_by(c.id)
                )
            ).all()
            booking = custody.book(spans, late_due_at, self.now, limit_ends=limit_ends)
            if booking is not None:
                await self.conn.execute(
                    t.issue_custody.update()
                    .where(c.id == spans[booking.index].id)
                    .values(
                        overdue_seconds=c.overdue_seconds + booking.seconds,
                        lapsed_limits=c.lapsed_limits + booking.lapses,
                    )
                )
        if moved_to is not None:
            open_row = sa.and_(c.issue_id == issue.id, c.ended_at.is_(None))
            await self.conn.execute(
                t.issue_custody.update().where(open_row).values(ended_at=self.now)
            )
            await self.open_custody(issue.id, moved_to)

    async def open_custody(self, issue_id: int, holder: custody.Holder) -> None:
        await self.conn.execute(
            t.issue_custody.insert().values(
                issue_id=issue_id,
                region_code=holder.region_code,
                handling_level=holder.handling_level,
                board_id=holder.board_id,
                department_id=holder.department_id,
                started_at=self.now,
            )
        )

    async def _insert_event(self, row: dict[str, Any]) -> None:
        await self.conn.execute(t.issue_event.insert().values(**row))

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
        await self.conn.execute(
            t.outbox.insert().values(
                created_at=self.now,
                channel=channel,
                recipient=recipient,
                topic=topic,
                issue_id=issue_id,
                payload={"issueId": issue_id, "number": number, "title": title, "text": text},
                next_attempt_at=self.now,
            )
        )

    async def enterprise_phone(self, enterprise_id: int) -> str:
        phone = (
            await self.conn.execute(
                sa.select(t.enterprise.c.contact_phone).where(t.enterprise.c.id == enterprise_id)
            )
        ).scalar_one_or_none()
        return str(phone) if phone else f"enterprise:{enterprise_id}"

    async def limits(self, region_code: str, category: str | None) -> sla.Limits:
        r = t.time_limit_rule.c
        rows = await self.conn.execute(
            sa.select(r.region_code, r.category, r.assign_days, r.reply_days, r.working_days).where(
                sa.or_(r.region_code.is_(None), sa.func.starts_with(region_code, r.region_code))
            )
        )
        return sla.limits_for((sla.LimitRule(*row) for row in rows), region_code, category)

    async def unit_in(self, kind: UnitKind, unit_id: int, region_code: str) -> bool:
        table = t.board if kind == "board" else t.department
        row = await self.conn.execute(
            sa.select(table.c.id).where(table.c.id == unit_id, table.c.region_code == region_code)
        )
        return row.first() is not None

    async def region_exists(self, code: str) -> bool:
        row = await self.conn.execute(sa.select(t.region.c.code).where(t.region.c.code == code))
        return row.first() is not None

    async def resolutions(self, issue_id: int) -> int:
        e = t.issue_event.c
        count = (
            await self.conn.execute(
                sa.select(sa.func.count()).where(
                    e.issue_id == issue_id, e.type.in_(("RESOLVED", "SETTLED_IN_CHANNEL"))
                )
            )
        ).scalar_one()
        return int(count)

    async def record_rating(self, row: dict[str, Any]) -> None:
        await self.conn.execute(t.issue_rating.insert().values(**row))

    async def merged_duplicates(self, primary_id: int) -> list[dict[str, Any]]:
        e = t.issue_event.c
        rows = await self.conn.execute(
            sa.select(e.payload).where(e.issue_id == primary_id, e.type == "MERGED_IN")
        )
        return [dup for payload in rows.scalars() for dup in payload.get("duplicates", [])]

    async def touch(self, issue_id: int) -> None:
        await self.conn.execute(
            t.issue.update().where(t.issue.c.id == issue_id).values(updated_at=self.now)
        )


Handler = Callable[[CommandTx], Awaitable[int]]


class IssueCommands:
    """Runs a command handler in one unit of work, with idempotency."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    async def run(
        self,
        principal: Principal,
        operation: str,
        payload: dict[str, Any],
        idempotency_key: str | None,
        handler: Handler,
        answer: Answer = ISSUE_ANSWER,
    ) -> CommandResult:
        if principal.account_id is None:
            return CommandResult(None, [IssueCommandError(IssueErrorCode.PERMISSION_DENIED)])
        async with self.db.transaction(principal) as conn:
            try:
                if idempotency_key:
                    assert principal.account_id is not None
                    replay = await idempotency.claim(
                        conn,
                        principal.account_id,
                        idempotency_key,
                        operation,
                        payload,
                        self.clock.now(),
                    )
                    if replay is not None:
                        first = None
                        if not replay.reused and replay.first is not None:
                            first = await idempotency.first_row(
                                conn, answer.select(0), replay.first
                            )
                        await conn.rollback()
                        if replay.reused:
                            reused = IssueCommandError(
                                IssueErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey"
                            )
                            return CommandResult(None, [reused])
                        return CommandResult(replay.result_id, replayed=True, first=first)
                tx = CommandTx(conn, principal, self.clock.now(), self.settings)
                issue_id = await handler(tx)
                await publish(conn, tx.touched)
                if idempotency_key:
                    assert principal.account_id is not None
                    await idempotency.record_result(
                        conn,
                        principal.account_id,
                        idempotency_key,
                        issue_id,
                        answer.select(issue_id) if issue_id is not None else None,
                    )
                await conn.commit()
                return CommandResult(issue_id)
            except IssueCommandError as exc:
                await conn.rollback()
                return CommandResult(None, [exc])
