"""``issueEvents``: new timeline entries as they happen, in the subscriber's own scope."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import sqlalchemy as sa
import strawberry

from closedloop.authz.roles import Role
from closedloop.db import tables as t
from closedloop.schema.context import Info
from closedloop.schema.issues import Issue, IssueEvent
from closedloop.schema.relay import from_global_id
from closedloop.services.issues.records import EventRecord, issues_by_id
from closedloop.tenancy.scope import issue_visibility


@strawberry.type(description="一条新的办理记录 / a new timeline entry of an issue")
class IssueEventNotice:
    issue: Issue
    event: IssueEvent


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
        public_only = principal.role is Role.ENTERPRISE
        e = t.issue_event.c
        async with ctx.db.read(principal) as conn:
            since = int(
                (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.id), 0)))).scalar_one()
            )
        async for ids in bus.subscribe():
            ids = [i for i in ids if wanted is None or i == wanted]
            if not ids:
                continue
            # Read in the subscriber's scope: RLS and the app predicate both apply.
            async with ctx.db.read(principal) as conn:
                visible = await issues_by_id(conn, ids, issue_visibility(principal))
                q = (
                    sa.select(t.issue_event)
                    .where(e.issue_id.in_(list(visible)), e.id > since)
                    .order_by(e.id)
                )
                if public_only:
                    q = q.where(e.public)
                rows = (await conn.execute(q)).mappings().all() if visible else []
            for row in rows:
                event = EventRecord.from_row(row)
                since = max(since, event.id)
                yield IssueEventNotice(
                    issue=Issue.from_record(visible[event.issue_id]),
                    event=IssueEvent.from_record(event),
                )
