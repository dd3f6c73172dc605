"""Subscription sockets that end when access ends.

A graphql-transport-ws connection is authenticated once, at ``connection_init`` (no
token: refused with 4403). From then on it is a live session of its account:

* at the token's expiry it is closed with ``4401 token expired`` (a timer per socket, set
  to the ``exp`` claim);
* when its account changes (the ``account`` NOTIFY), the account is read again: gone or
  deactivated closes it with ``4403 account deactivated``; any other change (role,
  region, unit) with ``4403 account changed`` — the open subscriptions were authorised for
  the old scope, the client reconnects for the new one;
* after the listening connection was lost (changes may have gone unheard) every session
  is checked that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from closedloop.authz.roles import Principal
from closedloop.http.fanout import Fanout
from closedloop.schema.context import RELAYED, Context

log = structlog.get_logger("closedloop.sessions")

TOKEN_EXPIRED = (4401, "token expired")
ACCOUNT_DEACTIVATED = (4403, "account deactivated")
ACCOUNT_CHANGED = (4403, "account changed")
# Where ``on_ws_connect`` leaves the token's expiry (Unix seconds) in ``Context.extras``.
EXPIRES_AT = "token_expires_at"

Ender = Callable[[int, str], Awaitable[None]]
Lookup = Callable[[str], Awaitable[Principal | None]]


class LiveSession:
    __slots__ = ("end", "ending", "principal", "timer")

    def __init__(self, principal: Principal, end: Ender) -> None:
        self.principal = principal
        self.end = end
        self.timer: asyncio.TimerHandle | None = None
        self.ending = False


class Sessions:
    """The open subscription sockets of this process, by account."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._by_user: dict[str, set[LiveSession]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def open(self, principal: Principal, expires_at: float | None, end: Ender) -> LiveSession:
        assert principal.username is not None
        session = LiveSession(principal, end)
        if expires_at is not None:
            delay = max(0.0, expires_at - time.time())
            session.timer = asyncio.get_running_loop().call_later(
                delay, self._end, session, TOKEN_EXPIRED
            )
        self._by_user.setdefault(principal.username, set()).add(session)
        return session

    def close(self, session: LiveSession) -> None:
        if session.timer is not None:
            session.timer.cancel()
        username = session.principal.username or ""
        sessions = self._by_user.get(username)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._by_user[username]

    def recheck(self, username: str | None) -> None:
        """Read the account (``None``: every account with a session) again and end the
        sessions it no longer allows."""
        usernames = list(self._by_user) if username is None else [username]
        if any(u in self._by_user for u in usernames):
            self._spawn(self._recheck(usernames))

    async def _recheck(self, usernames: list[str]) -> None:
        for username in usernames:
            sessions = self._by_user.get(username)
            if not sessions:
                continue
            try:
                current = await self._lookup(username)
            except Exception:  # the database is away: the next change or resync retries
                log.warning("sessions.recheck_failed", exc_info=True)
                continue
            for session in list(sessions):
                if current is None:
                    self._end(session, ACCOUNT_DEACTIVATED)
                elif current != session.principal:
                    self._end(session, ACCOUNT_CHANGED)

    def _end(self, session: LiveSession, why: tuple[int, str]) -> None:
        if session.ending:
            return
        session.ending = True
        self.close(session)
        log.info("sessions.ended", username=session.principal.username, reason=why[1])
        self._spawn(session.end(*why))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class SessionHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler, with the connection as a live session
    and its subscriptions' frames made once per group (``closedloop.http.fanout``)."""

    session: LiveSession | None = None

    def _sessions(self) -> Sessions:
        sessions: Sessions = self.context.request.app.state.runtime.sessions
        return sessions

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # In the operation's own task: its subscription resolver finds its seat here.
        fanout: Fanout | None = self.context.request.app.state.runtime.fanout
        if fanout is not None:
            RELAYED.set(fanout.seat(self, operation))
        await super().run_operation(operation)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.session is None:
            expires_at: Any = self.context.extras.get(EXPIRES_AT)
            self.session = self._sessions().open(self.context.principal, expires_at, self.end)

    async def end(self, code: int, reason: str) -> None:
        """Stop every operation of this socket, then close it with ``code`` and ``reason``."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        if self.session is not None:
            self._sessions().close(self.session)
        await super().shutdown()
