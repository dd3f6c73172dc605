"""Fault: the webhook receiver goes away and comes back. Every notification arrives once,
and those of one issue in the order they were written, with two relays at work."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict

import pytest

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit, unit_id
from tests.api.test_outbox_relay import Receiver, relay, rows
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")


async def _life(api: Api, talent: str, title: str) -> None:
    """An issue from submission to resolution: a notification at each of several steps."""
    issue = await submit(api, title=title)
    issue = await step(api, "acceptIssue", issue, "xinshi.center")
    issue = await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)
    await step(api, "resolveIssue", issue, "xinshi.talent", reply="已答复")


async def test_a_restarted_receiver_gets_every_notification_once_in_order_per_issue(
    api: Api, db: Database, clock: FrozenClock, settings: Settings
) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    first = Receiver()
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    relays = [relay(db, clock, settings, first.url) for _ in range(2)]

    async def round_() -> None:
        await asyncio.gather(*(r.deliver_due(limit=3) for r in relays))

    await _life(api, talent, "用工问题一")
    await round_()
    first.stop()  # the receiver goes away
    for title in ("用工问题二", "用工问题三"):
        await _life(api, talent, title)
    clock.advance(dt.timedelta(seconds=1))
    await round_()  # refused: every issue's head fails, the rest waits behind it

    second = Receiver(port=port)  # back, at the same address
    try:
        for _ in range(40):  # each round: past any backoff, both relays at once
            if all(r.delivered_at is not None for r in await rows(db)):
                break
            clock.advance(dt.timedelta(hours=2))
            await round_()
    finally:
        second.stop()
    written = await rows(db)
    assert written and all(r.delivered_at is not None for r in written)

    got = [int(d) for d in first.deliveries() + second.deliveries()]
    assert sorted(got) == sorted(r.id for r in written)  # each one, once
    issue_of = {r.id: r.issue_id for r in written}
    order: dict[int, list[int]] = defaultdict(list)
    for delivery in got:
        order[issue_of[delivery]].append(delivery)
    assert len(order) == 3
    for deliveries in order.values():
        assert deliveries == sorted(deliveries)  # in the order written
