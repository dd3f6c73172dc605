"""``issueEvents``: new timeline entries as they happen, in the subscriber's own scope.

The process's event feed (``closedloop.services.event_feed``) reads each committed
command's new events once and hands every subscriber those its scope reads, each issue's
in order; a subscription costs no statement per event. After the bus was disconnected the
feed reads everything since the newest event it read (``CATCH_UP``). A subscriber that
stops reading is cut off with ``SUBSCRIPTION_DROPPED`` (subscribe again).

Over a socket the frames are made once per group (``closedloop.http.fanout``): the
operations of one account with the same document, variables, operation name and locale
share one stream, whose context carries the group (``Context.source``) and whose resolver
runs as below; the resolver of every other operation of the group waits (``RELAYED``)
while the group writes the same serialised frames to its socket.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from closedloop import i18n
from closedloop.schema.context import RELAYED, Info
from closedloop.schema.errors import PublicError
from closedloop.schema.issue_entries import IssueEvent
from closedloop.schema.issues import Issue
from closedloop.schema.relay import from_global_id
from closedloop.services.event_bus import SubscriberDropped
from closedloop.services.event_feed import feed_for

i18n.register(
    "RequestErrorCode",
    {"SUBSCRIPTION_DROPPED": ("推送跟不上，已断开，请重新订阅", "Too far behind; subscribe again")},
)


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
        source = ctx.source
        relayed = RELAYED.get()
        try:
            if source is None and relayed is not None and await relayed.wait():
                return
            stream = feed_for(bus, ctx.db).subscribe(
                principal,
                counted=source is None,
                on_listening=None if source is None else source.listening,
            )
            async for batch in stream:
                for item in batch:
                    if wanted is not None and item.issue.id != wanted:
                        continue
                    if source is not None:
                        source.sending(item.event.id)
                    yield IssueEventNotice(
                        issue=Issue.from_record(item.issue),
                        event=IssueEvent.from_record(item.event),
                    )
                    # The notice is sent: nested fields it read went through the request's
                    # connection, which goes back to the pool until the next one.
                    await ctx.loaders.release()
        except SubscriberDropped as exc:
            raise PublicError("SUBSCRIPTION_DROPPED", "queue full", ctx.locale) from exc
        finally:
            await ctx.loaders.release()
