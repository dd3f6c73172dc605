"""The notification relay end to end: real database, real HTTP to a receiver on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.services.outbox_relay import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboxRelay,
    RelayReport,
    backoff_delay,
    verify_signature,
)
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("clean_issues")

SECRET = "relay-test-secret-0123456789"
FIELDS = {"id", "channel", "recipient", "topic", "issueId", "payload", "createdAt"}


@dataclass(frozen=True)
class Received:
    delivery: str
    timestamp: str
    signed: bool  # the signature verified with SECRET
    content_type: str
    body: dict[str, Any]


class Receiver:
    """A webhook receiver on 127.0.0.1, in a thread. Answers ``statuses`` in turn, then
    ``default``; ``delay`` seconds per request make relays overlap."""

    def __init__(
        self,
        statuses: list[int] | None = None,
        default: int = 200,
        delay: float = 0,
        port: int = 0,
    ):
        self.statuses = list(statuses or [])
        self.default = default
        self.delay = delay
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers[TIMESTAMP_HEADER] or ""
                signature = self.headers[SIGNATURE_HEADER] or ""
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.received.append(
                        Received(
                            delivery=self.headers[DELIVERY_HEADER] or "",
                            timestamp=timestamp,
                            signed=verify_signature(SECRET, timestamp, raw, signature),
                            content_type=self.headers["Content-Type"] or "",
                            body=json.loads(raw),
                        )
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output quiet

        return Handler

    def deliveries(self) -> list[str]:
        with self.lock:
            return [r.delivery for r in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Append receivers to the list; all are stopped after the test."""
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def receiver(started: list[Receiver], **kwargs: Any) -> Receiver:
    r = Receiver(**kwargs)
    started.append(r)
    return r


def relay(
    db: Database, clock: FrozenClock, settings: Settings, *urls: str, max_attempts: int = 8
) -> OutboxRelay:
    configured = settings.model_copy(
        update={
            "webhook_urls": list(urls),
            "webhook_secret": SECRET,
            "outbox_max_attempts": max_attempts,
        }
    )
    return OutboxRelay(db, clock, configured)


async def add_rows(
    db: Database, when: dt.datetime, n: int = 1, recipient: str = "13800001111"
) -> list[int]:
    async with db.system.begin() as conn:
        result = await conn.execute(
            t.outbox.insert()
            .values(
                [
                    {
                        "created_at": when,
                        "channel": "SMS",
                        "recipient": recipient,
                        "topic": "TEST",
                        "issue_id": None,
                        "payload": {"text": f"消息 {i}"},
                        "next_attempt_at": when,
                    }
                    for i in range(n)
                ]
            )
            .returning(t.outbox.c.id)
        )
        return [int(i) for i in result.scalars()]


async def rows(db: Database) -> list[sa.RowMapping]:
    async with db.system.connect() as conn:
        result = await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id))
        return list(result.mappings())


async def test_api_notifications_are_delivered_signed_and_marked(
    api: Api, db: Database, clock: FrozenClock, settings: Settings, receivers: list[Receiver]
) -> None:
    issue = await submit(api)
    clock.advance(dt.timedelta(minutes=5))
    await step(api, "acceptIssue", issue, "xinshi.center")
    pending = await rows(db)
    assert [r.topic for r in pending] == ["ISSUE_ACCEPTED"]

    hook = receiver(receivers)
    clock.advance(dt.timedelta(seconds=1))
    report = await relay(db, clock, settings, hook.url).deliver_due()

    assert report == RelayReport(picked=1, delivered=1)
    [got] = hook.received
    row = pending[0]
    assert got.signed and got.content_type == "application/json"
    assert got.delivery == str(row.id)
    assert got.timestamp == str(int(clock.now().timestamp()))
    assert set(got.body) == FIELDS
    assert got.body["id"] == row.id and got.body["issueId"] == row.issue_id
    assert (got.body["channel"], got.body["topic"]) == ("SMS", "ISSUE_ACCEPTED")
    assert got.body["recipient"] == row.recipient
    assert got.body["payload"]["text"].endswith("已受理。")
    assert dt.datetime.fromisoformat(got.body["createdAt"]) == row.created_at

    [done] = await rows(db)
    assert done.delivered_at == clock.now() and done.attempts == 0 and done.last_error is None
    # Delivered once: nothing is due any more.
    assert await relay(db, clock, settings, hook.url).deliver_due() == RelayReport()
    assert len(hook.received) == 1


async def test_a_failed_delivery_is_retried_only_after_the_backoff(
    db: Database, clock: FrozenClock, settings: Settings, receivers: list[Receiver]
) -> None:
    [row_id] = await add_rows(db, clock.now())
    hook = receiver(receivers, statuses=[500])
    r = relay(db, clock, settings, hook.url)

    assert await r.deliver_due() == RelayReport(picked=1, retried=1)
    [row] = await rows(db)
    delay = backoff_delay(1, row_id)
    assert row.attempts == 1 and row.delivered_at is None and row.failed_at is None
    assert row.next_attempt_at == clock.now() + delay
    assert row.last_error == "webhook 1 (127.0.0.1): HTTP 500"

    assert await r.deliver_due() == RelayReport()
    clock.advance(delay - dt.timedelta(seconds=1))
    assert await r.deliver_due() == RelayReport()
    assert len(hook.received) == 1

    clock.advance(dt.timedelta(seconds=1))
    assert await r.deliver_due() == RelayReport(picked=1, delivered=1)
    assert hook.deliveries() == [str(row_id), str(row_id)]  # same id: receivers de-duplicate
    assert all(got.signed for got in hook.received)
    [row] = await rows(db)
    assert row.delivered_at == clock.now() and row.attempts == 1 and row.last_error is None


async def test_a_permanently_failing_webhook_ends_in_failed_at(
    db: Database, clock: FrozenClock, settings: Settings, receivers: list[Receiver]
) -> None:
    await add_rows(db, clock.now())
    hook = receiver(receivers, default=500)
    url = hook.url + "?token=url-secret"  # URLs may carry credentials: never in last_error
    r = relay(db, clock, settings, url, max_attempts=3)

    reports = []
    for _ in range(3):
        reports.append(await r.deliver_due())
        clock.advance(dt.timedelta(hours=2))
    assert reports == [
        RelayReport(picked=1, retried=1),
        RelayReport(picked=1, retried=1),
        RelayReport(picked=1, failed=1),
    ]
    [row] = await rows(db)
    assert row.attempts == 3 and row.delivered_at is None
    assert row.failed_at == clock.now() - dt.timedelta(hours=2)
    assert row.last_error == "webhook 1 (127.0.0.1): HTTP 500"
    assert "url-secret" not in row.last_error and SECRET not in row.last_error

    clock.advance(dt.timedelta(days=1))
    assert await r.deliver_due() == RelayReport()
    assert len(hook.received) == 3


async def test_delivered_only_when_every_webhook_accepts(
    db: Database, clock: FrozenClock, settings: Settings, receivers: list[Receiver]
) -> None:
    await add_rows(db, clock.now())
    good = receiver(receivers)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/hook"

    assert await relay(db, clock, settings, good.url, closed).deliver_due() == RelayReport(
        picked=1, retried=1
    )
    [row] = await rows(db)
    assert row.delivered_at is None
    assert row.last_error == "webhook 2 (127.0.0.1): ConnectError"
    assert len(good.received) == 1


async def test_the_default_sink_logs_and_marks_delivered(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    ids = await add_rows(db, clock.now(), n=2)
    with structlog.testing.capture_logs() as logs:
        report = await relay(db, clock, settings).deliver_due()

    assert report == RelayReport(picked=2, delivered=2)
    sent = [entry for entry in logs if entry["event"] == "notification"]
    assert [entry["outbox_id"] for entry in sent] == ids
    assert all(entry["log_level"] == "info" for entry in sent)
    assert sent[0]["topic"] == "TEST" and sent[0]["payload"] == {"text": "消息 0"}
    assert sent[0]["recipient"] == "138****1111"  # phone numbers are masked in logs
    assert all(row.delivered_at == clock.now() for row in await rows(db))


async def test_concurrent_relays_deliver_each_row_exactly_once(
    db: Database, clock: FrozenClock, settings: Settings, receivers: list[Receiver]
) -> None:
    ids = await add_rows(db, clock.now(), n=6)
    hook = receiver(receivers, delay=0.2)  # slow: the two batches overlap in time
    first = relay(db, clock, settings, hook.url)
    second = relay(db, clock, settings, hook.url)

    reports = await asyncio.gather(first.deliver_due(limit=3), second.deliver_due(limit=3))

    # SKIP LOCKED: the second relay took the rows the first one had not locked.
    assert [r.picked for r in reports] == [3, 3]
    assert sum(r.delivered for r in reports) == 6
    assert sorted(int(d) for d in hook.deliveries()) == ids
    assert all(row.delivered_at is not None for row in await rows(db))
    again = await asyncio.gather(first.deliver_due(), second.deliver_due())
    assert again == [RelayReport(), RelayReport()]


class FlakyRelay(OutboxRelay):
    """Fails its first batch, as if the database had gone away for a moment."""

    calls = 0

    async def deliver_due(self, limit: int = 100) -> RelayReport:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database went away")
        return await super().deliver_due(limit)


async def test_run_forever_survives_errors_and_stops_on_the_event(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    await add_rows(db, clock.now())
    flaky = FlakyRelay(db, clock, settings.model_copy(update={"webhook_urls": []}))
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(flaky.run_forever(0.01, stop))
        for _ in range(500):
            if all(row.delivered_at is not None for row in await rows(db)):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    assert all(row.delivered_at is not None for row in await rows(db))
    assert flaky.calls >= 2
    error = next(e for e in logs if e["event"] == "outbox.relay_error")
    assert error["log_level"] == "error" and error["exc_info"] is True


async def test_the_cli_delivers_once_with_the_environment_configuration(
    db: Database, database_url: str, receivers: list[Receiver], tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)  # the command runs on the system clock
    [row_id] = await add_rows(db, now - dt.timedelta(minutes=1))
    hook = receiver(receivers)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEDLOOP_")}
    env |= {
        "DATABASE_URL": database_url,
        "CLOSEDLOOP_WEBHOOK_URLS": json.dumps([hook.url]),
        "CLOSEDLOOP_WEBHOOK_SECRET": SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from closedloop.cli.relay import relay_app; relay_app()",
        "run",
        "--once",
        env=env,
        cwd=tmp_path,  # no stray .env file
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    assert "picked 1, delivered 1, retrying 0, failed 0" in out.decode()
    [got] = hook.received
    assert got.delivery == str(row_id) and got.signed
    assert abs(int(got.timestamp) - time.time()) < 60  # real time, fresh
    [row] = await rows(db)
    assert row.delivered_at is not None
