"""``issueEvents``: new timeline entries as they happen, in the subscriber's own scope.

Nothing in scope is missed: each issue's events are read after the last one this
subscriber saw *of that issue* (events of one issue are written under its row lock, in id
order; across issues a later id can commit first), and after the bus was disconnected
(``CATCH_UP``) everything since the newest event seen is read again. A subscriber that
stops reading is cut off with ``SUBSCRIPTION_DROPPED`` (subscribe again).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import sqlalchemy as sa
import strawberry

from closedloop import i18n
from closedloop.authz.roles import Principal
from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.schema.context import Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issues import Issue, IssueEvent
from closedloop.schema.loaders import reads_internal
from closedloop.schema.relay import from_global_id
from closedloop.services.event_bus import CATCH_UP, SubscriberDropped
from closedloop.services.issues.records import EventRecord, issues_by_id
from closedloop.tenancy.scope import Internal, internal_entries, issue_visibility

i18n.register(
    "RequestErrorCode",
    {"SUBSCRIPTION_DROPPED": ("推送跟不上，已断开，请重新订阅", "Too far behind; subscribe again")},
)


@strawberry.type(description="一条新的办理记录 / a new timeline entry of an issue")
class IssueEventNotice:
    issue: Issue
    event: IssueEvent


class _Cursor:
    """What one subscriber has seen: the newest event id per issue, and overall."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.newest = start
        self.per_issue: dict[int, int] = {}

    def after(self, issue_id: int) -> int:
        return self.per_issue.get(issue_id, self.start)

    def saw(self, event: EventRecord) -> None:
        self.per_issue[event.issue_id] = max(self.after(event.issue_id), event.id)
        self.newest = max(self.newest, event.id)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="办理轨迹推送 / new events of issues in your scope")
    async def issue_events(
        self, info: Info, issue_id: strawberry.ID | None = None
    ) -> AsyncGenerator[IssueEventNotice, None]:
        ctx = info.context
        bus = ctx.bus
        principal = ctx.principal
        if bus is None or principal.is_anonymous:
            return
        wanted: int | None = None
        if issue_id is not None:
            decoded = from_global_id(issue_id)
            if decoded is None or decoded[0] != "Issue" or not decoded[1].isdigit():
                return
            wanted = int(decoded[1])
        e = t.issue_event.c
        async with ctx.db.read(principal) as conn:
            start = (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.id), 0)))).scalar()
        cursor = _Cursor(int(start or 0))
        try:
            async for notice in bus.subscribe():
                if notice is CATCH_UP:
                    async with ctx.db.read(principal) as conn:
                        ids = list(
                            (
                                await conn.execute(
                                    sa.select(e.issue_id).where(e.id > cursor.newest).distinct()
                                )
                            ).scalars()
                        )
                else:
                    ids = notice
                ids = [i for i in ids if wanted is None or i == wanted]
                if not ids:
                    continue
                for notice_out in await _new_events(ctx.db, principal, ids, cursor):
                    yield notice_out
        except SubscriberDropped as exc:
            raise PublicError("SUBSCRIPTION_DROPPED", "queue full", ctx.locale) from exc


async def _new_events(
    db: Database, principal: Principal, ids: Sequence[int], cursor: _Cursor
) -> list[IssueEventNotice]:
    """The events of ``ids`` this subscriber has not seen, read in its own scope (row-level
    security and the application's predicate both apply)."""
    e = t.issue_event.c
    async with db.read(principal) as conn:
        visible = await issues_by_id(conn, ids, issue_visibility(principal))
        if not visible:
            return []
        q = (
            sa.select(t.issue_event)
            .where(e.issue_id.in_(list(visible)), e.id > min(cursor.after(i) for i in visible))
            .order_by(e.id)
        )
        if internal_entries(principal) is Internal.NONE:
            q = q.where(e.public)
        rows = (await conn.execute(q)).mappings().all()
    internal = {i for i, rec in visible.items() if reads_internal(principal, rec)}
    out = []
    for row in rows:
        event = EventRecord.from_row(row)
        if event.id <= cursor.after(event.issue_id):
            continue
        if not event.public and event.issue_id not in internal:
            continue
        cursor.saw(event)
        out.append(
            IssueEventNotice(
                issue=Issue.from_record(visible[event.issue_id]),
                event=IssueEvent.from_record(event),
            )
        )
    return out
