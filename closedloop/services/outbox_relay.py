"""The notification relay: outbox rows → signed webhooks, with retries and backoff.

Commands write ``outbox`` rows in the same transaction as the change they report
(``CommandTx.notify``); this relay delivers them afterwards, *at least once*:

* rows are picked with ``FOR UPDATE SKIP LOCKED``, so several relays (processes) can run
  at once and never deliver the same row concurrently;
* the lock is held while posting, and the row is marked in the same transaction; a crash
  before the commit means the row is sent again later, so each request carries
  ``X-Closedloop-Delivery: <outbox id>`` for receivers to de-duplicate;
* every request is signed: ``X-Closedloop-Signature: sha256=HMAC(secret, "<ts>.<body>")``
  with ``X-Closedloop-Timestamp: <ts>`` (Unix seconds), checked by ``verify_signature``;
* a failed row is retried after an exponential backoff, and given up (``failed_at``) after
  ``settings.outbox_max_attempts`` attempts;
* the notifications of one issue go out in order, one after another: a row is sent only
  when every earlier pending row of its issue is in the same batch (rows another relay
  holds, or rows waiting out a backoff, hold back the later ones), and a failure stops its
  issue's rest of the batch (left untouched, they follow the failed one later);
* a message goes to the province-wide webhooks of ``CLOSEDLOOP_WEBHOOK_URLS`` (signed with
  ``CLOSEDLOOP_WEBHOOK_SECRET``) and to the active endpoints administered through the API
  (``closedloop.services.rules.webhooks``) whose region contains its issue's origin region
  and that want its kind (topic), each signed with that endpoint's own secret;
* a message with no webhook to go to is logged by the default sink and marked delivered;
* pushes to a tier's 七张问题清单 application (channel ``PROBLEM_LIST``) go to that tier's
  endpoint (``settings.problem_list_endpoints``) and to no webhook, signed with the secret
  shared with those applications, and count as delivered only when the answer carries the
  application's receipt (``{"reference": "…"}``), recorded on the push
  (``closedloop.services.issues.problem_lists``). They keep their own order per issue: a
  push the application refuses for hours never holds back the issue's SMS and OA messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from closedloop.db import tables as t
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.services.issues import problem_lists
from closedloop.services.rules import webhooks
from closedloop.settings import Settings

log = structlog.get_logger("closedloop.outbox")

SIGNATURE_HEADER = "X-Closedloop-Signature"
TIMESTAMP_HEADER = "X-Closedloop-Timestamp"
DELIVERY_HEADER = "X-Closedloop-Delivery"

HTTP_TIMEOUT = httpx.Timeout(5.0)  # a slow receiver must not hold the row locks for long
PARALLEL_POSTS = 10  # requests in flight per batch
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
ERROR_MAX = 300


# --- signing (pure; receivers can reuse it) -----------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Closedloop-Signature`` value: ``sha256=<hex HMAC-SHA256 of "<ts>.<body>">``.

    The timestamp is signed too, so a captured request cannot be replayed with a new one.
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """Whether ``signature`` is ours for this timestamp and raw body.

    Pass ``now`` (Unix seconds) to also reject requests whose timestamp is more than
    ``tolerance`` seconds away (replays); it is a parameter to keep this function pure.
    """
    if now is not None:
        try:
            sent = int(timestamp)
        except ValueError:
            return False
        if abs(now - sent) > tolerance:
            return False
    # Constant-time comparison: no timing oracle for forging signatures.
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_delay(attempts: int, key: int = 0) -> dt.timedelta:
    """Wait after the ``attempts``-th failure: 30 s · 2^(attempts-1), capped at 1 h,
    plus 0–9 % deterministic jitter (by ``key``, the row id) so a burst of rows that failed
    together does not hit a recovering receiver all in the same second."""
    exponent = min(max(attempts - 1, 0), 16)  # 2^16 · 30 s is far past the cap already
    delay = min(BACKOFF_BASE * (1 << exponent), BACKOFF_CAP)
    return delay * (1 + (key % 10) / 100)


# --- the relay --------------------------------------------------------------------------


@dataclass
class RelayReport:
    picked: int = 0
    delivered: int = 0
    retried: int = 0  # failed this time, will be tried again
    failed: int = 0  # failed for the last time (failed_at set)


@dataclass(frozen=True)
class _Target:
    """Where a message is posted, and the secret its signature is made with."""

    url: str
    secret: str


@dataclass(frozen=True)
class _Message:
    id: int
    issue_id: int | None
    attempts: int
    body: bytes
    log_fields: dict[str, Any]
    targets: tuple[_Target, ...] = ()
    recipient: str = ""
    push_id: int | None = None  # a push to a 七张问题清单 application
    push_found: bool = False

    @property
    def lane(self) -> object:
        """The messages that keep their order among themselves."""
        if self.issue_id is None:
            return ("row", self.id)
        return _lane(self.issue_id, self.push_id is not None)


def _lane(issue_id: int, push: bool) -> tuple[int, bool]:
    return (issue_id, push)


def _is_push(row: Any) -> bool:
    return bool(row.channel == problem_lists.CHANNEL)


async def _in_issue_order(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[sa.Row[Any]]:
    """The picked rows that may go now: for each issue (its notifications, and its pushes
    apart), the picked rows from its earliest pending row on, up to the first pending row
    that was not picked (held by another relay, or not yet due)."""
    issues = {row.issue_id for row in rows if row.issue_id is not None}
    if not issues:
        return list(rows)
    c = t.outbox.c
    pending = await conn.execute(
        sa.select(c.id, c.issue_id, c.channel)
        .where(c.issue_id.in_(issues), c.delivered_at.is_(None), c.failed_at.is_(None))
        .order_by(c.id)
    )
    picked = {row.id for row in rows}
    allowed: set[int] = set()
    blocked: set[tuple[int, bool]] = set()
    for row in pending:
        lane = _lane(row.issue_id, _is_push(row))
        if lane in blocked:
            continue
        if row.id in picked:
            allowed.add(row.id)
        else:
            blocked.add(lane)
    return [row for row in rows if row.issue_id is None or row.id in allowed]


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.transport = transport  # tests inject one; None = real network

    async def deliver_due(self, limit: int = 100) -> RelayReport:
        """Deliver up to ``limit`` due rows, in one transaction; returns what happened."""
        report = RelayReport()
        c = t.outbox.c
        # The system's own role: the relay works for every tenant.
        async with self.db.system_transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.outbox)
                    .where(
                        c.delivered_at.is_(None),
                        c.failed_at.is_(None),
                        c.next_attempt_at <= self.clock.now(),
                    )
                    .order_by(c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            rows = await _in_issue_order(conn, rows)
            targets = await self._targets(conn, [r for r in rows if not _is_push(r)])
            pushes = await problem_lists.documents(
                conn, [p for p in (_push_id(row) for row in rows) if p is not None]
            )
            messages = [
                _message(row, () if _is_push(row) else targets(row), pushes) for row in rows
            ]
            report.picked = len(messages)
            if not messages:
                return report
            outcomes = await self._send_all(messages)
            now = self.clock.now()
            for message in messages:
                if message.id not in outcomes:
                    continue  # not sent: an earlier one of its issue failed
                error, reference = outcomes[message.id]
                if error is None:
                    report.delivered += 1
                    await conn.execute(
                        t.outbox.update()
                        .where(c.id == message.id)
                        .values(delivered_at=now, last_error=None)
                    )
                    if message.push_id is not None and reference is not None:
                        await problem_lists.delivered(
                            conn, self.settings, message.push_id, reference, now
                        )
                    continue
                attempts = message.attempts + 1
                give_up = attempts >= self.settings.outbox_max_attempts
                if message.push_id is not None:
                    await problem_lists.failed(conn, message.push_id, error, now, give_up)
                values: dict[str, Any] = {"attempts": attempts, "last_error": error}
                if give_up:
                    report.failed += 1
                    values["failed_at"] = now
                else:
                    report.retried += 1
                    values["next_attempt_at"] = now + backoff_delay(attempts, message.id)
                await conn.execute(t.outbox.update().where(c.id == message.id).values(**values))
                log.warning(
                    "notification.failed" if give_up else "notification.retry",
                    outbox_id=message.id,
                    attempts=attempts,
                    error=error,
                )
            await conn.commit()
        return report

    async def _targets(
        self, conn: AsyncConnection, rows: Sequence[sa.Row[Any]]
    ) -> Callable[[sa.Row[Any]], tuple[_Target, ...]]:
        """Each row's webhooks: the configured ones, and the endpoints of its subtree."""
        configured = tuple(
            _Target(url, self.settings.webhook_secret) for url in self.settings.webhook_urls
        )
        endpoints = await webhooks.active_endpoints(conn)
        if not endpoints:
            return lambda row: configured
        issues = {row.issue_id for row in rows if row.issue_id is not None}
        regions: dict[int, str] = {}
        if issues:
            found = await conn.execute(
                sa.select(t.issue.c.id, t.issue.c.origin_region_code).where(
                    t.issue.c.id.in_(issues)
                )
            )
            regions = {issue_id: region for issue_id, region in found}

        def of(row: sa.Row[Any]) -> tuple[_Target, ...]:
            region = regions.get(row.issue_id) if row.issue_id is not None else None
            wanted = tuple(
                _Target(e.url, e.secret) for e in endpoints if e.wants(row.topic, region)
            )
            return configured + wanted

        return of

    async def run_forever(self, interval: float, stop: asyncio.Event, limit: int = 100) -> None:
        """Deliver until ``stop`` is set: a batch, then a pause of at most ``interval`` s
        (none while a full batch suggests a backlog). Errors are logged, never raised,
        so a database blip does not end the loop."""
        while not stop.is_set():
            full = False
            try:
                report = await self.deliver_due(limit)
                full = report.picked >= limit
            except Exception:
                log.exception("outbox.relay_error")
            if full:
                continue
            with contextlib.suppress(TimeoutError):  # the interval passed: poll again
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _send_all(self, messages: list[_Message]) -> dict[int, _Outcome]:
        """Send the messages, each lane in order (lanes in parallel): the outcome of each
        one sent, by id (error None: delivered); a lane's rest after a failure is not sent
        and not in the result."""
        outcome: dict[int, _Outcome] = {}
        for message in messages:
            if not message.targets and message.push_id is None:  # the default sink
                log.info("notification", **message.log_fields)
                outcome[message.id] = (None, None)
        messages = [m for m in messages if m.targets or m.push_id is not None]
        if not messages:
            return outcome
        queues: dict[object, list[_Message]] = {}
        for message in messages:  # rows without an issue have no order to keep
            queues.setdefault(message.lane, []).append(message)
        limiter = asyncio.Semaphore(PARALLEL_POSTS)
        async with httpx.AsyncClient(
            transport=self.transport, timeout=HTTP_TIMEOUT, follow_redirects=False
        ) as client:

            async def in_order(queue: list[_Message]) -> None:
                for message in queue:
                    async with limiter:
                        if message.push_id is None:
                            result: _Outcome = (await self._post(client, message), None)
                        else:
                            result = await self._push(client, message)
                    outcome[message.id] = result
                    if result[0] is not None:
                        return

            await asyncio.gather(*(in_order(q) for q in queues.values()))
        return outcome

    async def _post(self, client: httpx.AsyncClient, message: _Message) -> str | None:
        """POST to every webhook; None when all answered 2xx, else a short error.

        On a retry every webhook gets the message again (receivers de-duplicate by the
        delivery id); tracking success per webhook would need another table.
        """
        errors = []
        for index, target in enumerate(message.targets, start=1):
            url = target.url
            headers = self._headers(target.secret, message)
            # Name the webhook by position and host only: URLs may carry tokens.
            where = f"webhook {index} ({urlsplit(url).hostname})"
            try:
                response = await client.post(url, content=message.body, headers=headers)
            except httpx.HTTPError as exc:
                errors.append(f"{where}: {type(exc).__name__}")
                continue
            if not response.is_success:
                errors.append(f"{where}: HTTP {response.status_code}")
        return "; ".join(errors)[:ERROR_MAX] or None

    def _headers(self, secret: str, message: _Message) -> dict[str, str]:
        timestamp = str(int(self.clock.now().timestamp()))
        return {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, message.body),
            DELIVERY_HEADER: str(message.id),
        }

    async def _push(self, client: httpx.AsyncClient, message: _Message) -> _Outcome:
        """POST a push to its tier's application: delivered once it answers 2xx with its
        receipt; the receipt comes back with the outcome."""
        url = self.settings.problem_list_endpoints.get(message.recipient)
        if url is None:
            return (f"no 七张问题清单 endpoint for tier {message.recipient}", None)
        if not message.push_found:
            return ("the push no longer exists", None)
        headers = self._headers(self.settings.problem_list_secret, message)
        where = f"七张问题清单 {message.recipient} ({urlsplit(url).hostname})"
        try:
            response = await client.post(url, content=message.body, headers=headers)
        except httpx.HTTPError as exc:
            return (f"{where}: {type(exc).__name__}"[:ERROR_MAX], None)
        if not response.is_success:
            return (f"{where}: HTTP {response.status_code}"[:ERROR_MAX], None)
        reference = problem_lists.receipt(response.content)
        if reference is None:
            return (f"{where}: no receipt (reference) in the answer"[:ERROR_MAX], None)
        return (None, reference)


# (error or None when delivered, the application's receipt for a push)
_Outcome = tuple[str | None, str | None]


def _push_id(row: sa.Row[Any]) -> int | None:
    if not _is_push(row) or not isinstance(row.payload, dict):
        return None
    value = row.payload.get("pushId")
    return value if isinstance(value, int) else None


def _message(
    row: sa.Row[Any],
    targets: tuple[_Target, ...] = (),
    pushes: dict[int, dict[str, Any]] | None = None,
) -> _Message:
    push_id = _push_id(row)
    pushes = pushes or {}
    document: dict[str, Any] = {
        "id": row.id,
        "channel": row.channel,
        "recipient": row.recipient,
        "topic": row.topic,
        "issueId": row.issue_id,
        "payload": row.payload,
        "createdAt": row.created_at.isoformat(),
    }
    if _is_push(row):
        document["push"] = pushes.get(push_id) if push_id is not None else None
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    fields = {
        "outbox_id": row.id,
        "channel": row.channel,
        "recipient": _mask(row.recipient),
        "topic": row.topic,
        "issue_id": row.issue_id,
        "payload": row.payload,
    }
    return _Message(
        row.id,
        row.issue_id,
        row.attempts,
        body,
        fields,
        targets,
        row.recipient,
        push_id,
        push_found=push_id is not None and push_id in pushes,
    )


def _mask(recipient: str) -> str:
    """Phone numbers are personal data: logs keep only the first 3 and last 4 digits."""
    if recipient.isdigit() and len(recipient) >= 8:
        return recipient[:3] + "*" * (len(recipient) - 7) + recipient[-4:]
    return recipient
