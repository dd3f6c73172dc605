"""Subscription frames made once per group and written to every socket of the group.

Alone, every subscription operation of a socket runs its own stream: for each event its
resolver yields, graphql-core completes the operation's selection, strawberry makes the
``next`` message and the socket's handler serialises and sends it: ≈0.19 ms of server CPU
per subscriber per event (``bench/RESULTS.md``). Here the operations that would all get the
same bytes share that work:

* A **group** is the operations of one account (the whole ``Principal``: the selection may
  read anything the account reads, and the loaders' row-level security is handed the
  account itself) with the same document, variables, operation name and locale. Each group
  runs strawberry's own stream once (``Schema.stream``: every extension, the same error
  masking), in its own task, with a copy of its first socket's context marked as the group's
  (``Context.source``: the rate limit is not spent twice). For each result it makes the
  ``next`` payload with strawberry's own ``Operation.send_next`` and serialises it once with
  the view's encoder; each socket gets ``{"id":<its id>,"type":"next","payload":`` + those
  bytes + ``}``, which is what the view's encoder makes of the whole message (a test
  compares them with a server that runs every operation alone).
* Each operation still starts alone, through strawberry (parse, validation, cost, the rate
  limit, the resolver's checks): its resolver then waits (``Seat.wait``) instead of reading
  the feed, and ends with the operation (``complete``, the socket closing), or with
  ``SUBSCRIPTION_DROPPED`` when it fell behind, through its own stream as alone.
* Where a socket starts: at the newest event when it subscribed, as a feed listener of its
  own would (``EventFeed.newest_event_id``; before that it gets nothing): the group's stream
  started earlier, so a socket is sent only the events after its own start.
* Writing: the group encodes each payload once and queues it; its writer task hands the
  queued frames to every socket, so the frames made together (a command's events, or
  several commands' while requests were in flight) reach a socket in one system call. A
  socket's frames (its operation's prefix, the payload, the frame's header) are written at
  once, straight to uvicorn's transport (``ws_frames``) or through the connection's
  ``send``, which completes without waiting while the transport takes data; a socket whose
  transport is full gets a writer task of its own and a backlog of at most ``queue_size``
  frames (the group's shared payloads),
  then it is dropped alone. Nothing waits for a slow socket: the group writes to the others
  in the same pass. Frames of one group go out in the order its stream made them, so each
  issue's events arrive in order.
* Off the requests' path: a frame waits while the process is answering HTTP requests (the
  mutation that caused it, usually), for at most ``DEFER``, and the group lets other tasks
  run every ``CHUNK`` sockets: writing to a thousand sockets (≈30 ms here) does not hold a
  request's answer. The CPU is the process's all the same (``bench/RESULTS.md``).
* If the group's stream stops (the feed dropped it: ``SUBSCRIPTION_DROPPED`` to every
  socket, each through its own stream; any other failure: every socket runs alone from then
  on), its sockets are told; a socket that leaves takes nothing with it, and the last one
  stops the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Hashable, Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from closedloop.http.ws_frames import FrameWriter, direct_writer, text_frame
from closedloop.schema.context import Context
from closedloop.services.event_bus import SubscriberDropped
from closedloop.services.event_feed import QUEUE_SIZE, feed_for

if TYPE_CHECKING:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
    )

    Handler = BaseGraphQLTransportWSHandler[Context, None]

log = structlog.get_logger("closedloop.events")

Frame = tuple[int, bytes]  # an event's id and the group's payload for it
_UNKNOWN = 2**63 - 1  # a socket's start before it was read: nothing is newer
CHUNK = 100  # sockets written to before the group lets other tasks run
DEFER = 0.05  # seconds a frame may wait for the process's HTTP requests to be answered
WRITE_LIMIT = 64 * 1024  # bytes of frames a socket writes at once (asyncio's high-water mark)


class InFlight:
    """The HTTP requests this process is answering (``MetricsMiddleware`` counts them):
    frames wait until none is, for at most ``DEFER``, so a mutation is answered before
    its events are written to a thousand sockets."""

    def __init__(self) -> None:
        self.count = 0
        self._waiting: set[asyncio.Future[None]] = set()

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0 and self._waiting:
            waiting, self._waiting = self._waiting, set()
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    async def quiet(self, deadline: float) -> None:
        """Until no request is in flight, or the loop's clock reaches ``deadline``."""
        loop = asyncio.get_running_loop()
        if self.count == 0 or loop.time() >= deadline:
            return
        future = loop.create_future()
        self._waiting.add(future)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, deadline - loop.time())
        finally:  # under steady load the count never reaches 0: nothing may pile up
            self._waiting.discard(future)


IN_FLIGHT = InFlight()
_DROPPED = "SUBSCRIPTION_DROPPED"

# Where ``RawSendMiddleware`` keeps a WebSocket connection's server ``send``.
RAW_SEND = "closedloop.raw_send"


class RawSendMiddleware:
    """Keeps a WebSocket connection's own ``send`` (the server's) in its scope, for the
    frames a group writes: the middlewares' wrappers around ``send`` only touch handshake
    and HTTP messages, and starlette's ``WebSocket.send`` only checks a state that a closed
    connection's ``send`` refuses anyway; passed through for every frame to a thousand
    sockets they were about a sixth of a socket's share of a mutation (``bench/RESULTS.md``,
    "Frames written with the connection's own send"). The outermost middleware, so that what
    it keeps is the server's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def _text_frames(send: Send) -> Callable[[str], Awaitable[None]]:
    def send_text(text: str) -> Awaitable[None]:
        return send({"type": "websocket.send", "text": text})

    return send_text


class Fanout:
    """The subscription groups of one process (one per ``Runtime``)."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._groups: dict[Hashable, Group] = {}

    @property
    def groups(self) -> int:
        return len(self._groups)

    def seat(self, handler: Handler, operation: Operation[Context, None]) -> Seat:
        return Seat(self, handler, operation)

    def _join(self, seat: Seat) -> Group:
        group = self._groups.get(seat.key)
        if group is None:
            group = self._groups[seat.key] = Group(self, seat)
        group.seats[seat] = None
        return group

    def _forget(self, group: Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]


class _Capture:
    """Stands in for a socket's handler: keeps the message strawberry would send."""

    message: Any = None

    def forget_id(self, operation_id: str) -> None:
        pass

    async def send_message(self, message: Any) -> None:
        self.message = message


class Group:
    """The operations that get the same frames, and the one stream that makes them."""

    def __init__(self, fanout: Fanout, first: Seat) -> None:
        self.fanout = fanout
        self.key = first.key
        self.seats: dict[Seat, None] = {}  # in the order they joined
        self.feed = first.feed
        self.event_id = 0  # the event of the result the stream makes next
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.frames = 0  # results made (tests)
        self.pending: list[Frame] = []  # made, not yet handed to the seats
        self.flusher: asyncio.Task[None] | None = None
        # Its own task, outside any operation's context (``RELAYED`` unset there).
        self.task = asyncio.get_running_loop().create_task(
            self._run(first.handler, first.operation),
            name="subscription-group",
            context=contextvars.Context(),
        )

    # ``FrameSource``: told by the resolver of the group's own stream.
    def listening(self) -> None:
        if not self.ready.done():
            self.ready.set_result(True)

    def sending(self, event_id: int) -> None:
        self.event_id = event_id

    async def _run(self, handler: Handler, operation: Operation[Context, None]) -> None:
        outcome: bool | None = False  # True: completed; None: dropped; False: run alone
        try:
            outcome = await self._stream(handler, operation)
        except Exception:
            log.exception("events.group_failed")
        except BaseException:  # cancelled: the last socket left, nobody waits for frames
            if self.flusher is not None:
                self.flusher.cancel()
            self._close(outcome)
            raise
        try:
            if self.flusher is not None:  # every frame made goes out before the end
                await self.flusher
        finally:
            self._close(outcome)

    async def _stream(self, handler: Handler, operation: Operation[Context, None]) -> bool | None:
        """Runs the group's stream, queueing a frame for each result; how it ended."""
        context = dataclasses.replace(handler.context, source=self)
        capture = _Capture()
        shaper = Operation(cast("Handler", capture), "", operation.query, None, None)
        encode = handler.view.encode_json
        stream = await handler.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            root_value=handler.root_value,
            operation_name=operation.operation_name,
        )
        async with aclosing(stream):
            async for result in stream:
                if isinstance(result, PreExecutionError) or not isinstance(result, ExecutionResult):
                    return False
                if _ended(result):
                    errors = result.errors or []
                    dropped = (errors[0].extensions or {}).get("code") == _DROPPED
                    return None if dropped else False
                await shaper.send_next(result)
                payload = cast(str, encode(capture.message["payload"])).encode()
                self.frames += 1
                self.pending.append((self.event_id, payload))
                if self.flusher is None:
                    self.flusher = asyncio.get_running_loop().create_task(
                        self._flush(), name="subscription-frames"
                    )
        return True

    async def _flush(self) -> None:
        """Hands the frames made so far to every seat, off the requests' path; those made
        meanwhile (the rest of a command's events, other commands' while requests were in
        flight) go in the same pass, so a socket gets them in one write."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.sleep(0)  # the stream's next results, if it has them at hand
            while self.pending:
                deadline = loop.time() + DEFER
                await IN_FLIGHT.quiet(deadline)
                frames, self.pending = self.pending, []
                seats = list(self.seats)
                for at in range(0, len(seats), CHUNK):
                    if at:
                        await asyncio.sleep(0)
                        await IN_FLIGHT.quiet(deadline)
                    for seat in seats[at : at + CHUNK]:
                        seat.push(frames)
        finally:
            self.flusher = None

    def _close(self, outcome: bool | None) -> None:
        self.closed = True
        self.fanout._forget(self)
        if not self.ready.done():
            self.ready.set_result(False)
        for seat in list(self.seats):
            seat.end(outcome)
        self.seats.clear()

    def leave(self, seat: Seat) -> None:
        self.seats.pop(seat, None)
        if not self.seats and not self.closed:
            self.closed = True
            self.fanout._forget(self)
            self.task.cancel()


class Seat:
    """One subscription operation of one socket whose frames its group makes
    (``schema.context.Relayed``)."""

    __slots__ = (
        "backlog",
        "broken",
        "ended",
        "fanout",
        "group",
        "handler",
        "left",
        "operation",
        "prefix",
        "send",
        "start",
        "write",
        "writer",
    )

    def __init__(
        self, fanout: Fanout, handler: Handler, operation: Operation[Context, None]
    ) -> None:
        self.fanout = fanout
        self.handler = handler
        self.operation = operation
        self.start = _UNKNOWN
        self.group: Group | None = None
        self.backlog: deque[bytes] | None = None  # payloads waiting while the transport is full
        self.writer: asyncio.Task[None] | None = None
        self.broken = False
        self.left = False
        self.ended: asyncio.Future[bool] | None = None
        self.prefix = b""  # the socket's ``next`` message up to its payload, UTF-8
        websocket = cast(ASGIWebSocketAdapter, handler.websocket).ws
        raw = websocket.scope.get(RAW_SEND)
        self.send: Callable[[str], Awaitable[None]] = (
            websocket.send_text if raw is None else _text_frames(raw)
        )
        # Whole frames straight to uvicorn's transport while it takes them (``ws_frames``);
        # ``send`` otherwise.
        self.write: FrameWriter | None = None if raw is None else direct_writer(raw)

    @property
    def key(self) -> Hashable:
        context, operation = self.handler.context, self.operation
        variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS)
        return (
            context.principal,
            context.locale,
            operation.query,
            variables,
            operation.operation_name,
        )

    @property
    def feed(self) -> Any:
        context = self.handler.context
        assert context.bus is not None
        return feed_for(context.bus, context.db)

    async def wait(self) -> bool:
        # Joined before anything is awaited: frames made meanwhile are not for it yet
        # (its start is unknown), as a feed listener of its own would not get them.
        encoded = self.handler.view.encode_json(
            {"id": self.operation.id, "type": "next", "payload": None}
        )
        assert isinstance(encoded, str) and encoded.endswith("null}")
        self.prefix = encoded[: -len("null}")].encode()
        self.ended = asyncio.get_running_loop().create_future()
        group = self.group = self.fanout._join(self)
        bus = self.handler.context.bus
        assert bus is not None
        counted = False
        try:
            if not await asyncio.shield(group.ready):
                return False
            self.start = await group.feed.newest_event_id()
            if self.ended.done():  # the group stopped meanwhile
                return self.ended.result()
            bus.count_listener(1)  # listening: ``/readyz``, tests wait for it
            counted = True
            return await self.ended
        finally:
            self.left = True
            if counted:
                bus.count_listener(-1)
            self._stop_writing()
            group.leave(self)

    def end(self, outcome: bool | None) -> None:
        """The group stopped: the operation ends (``True``), is dropped (``None``) or runs
        alone from here on (``False``)."""
        if self.ended is None or self.ended.done():
            return
        if outcome is None:
            self.ended.set_exception(SubscriberDropped())
        else:
            self.ended.set_result(outcome)

    def push(self, frames: Sequence[Frame]) -> None:
        """The group's frames, each an event's id and its payload (UTF-8 JSON), in order."""
        if self.broken or self.left or self.operation.completed:
            return
        start = self.start
        payloads = [payload for event_id, payload in frames if event_id > start]
        if not payloads:
            return
        backlog = self.backlog
        if backlog is not None:
            if len(backlog) + len(payloads) > self.fanout.queue_size:
                self._drop(len(backlog))
            else:
                backlog.extend(payloads)
            return
        if self.write is not None:
            written = self._write_directly(self.write, payloads)
            if written == len(payloads):
                return  # the usual case: one system call for them all
            payloads = payloads[written:]
        for at, payload in enumerate(payloads):
            sending = self.send(self._text(payload))
            try:
                waiting = sending.send(None)  # type: ignore[attr-defined]
            except StopIteration:
                continue  # written
            except Exception:  # the socket is gone: its handler is ending the operation
                self.broken = True
                return
            # The transport is full: the rest of this send, and the frames after it, wait.
            self.backlog = deque(payloads[at + 1 :])
            self.writer = asyncio.get_running_loop().create_task(
                self._drain(_Resumed(sending, waiting)), name="subscription-writer"
            )
            if len(self.backlog) > self.fanout.queue_size:
                self._drop(len(self.backlog))
            return

    def _write_directly(self, write: FrameWriter, payloads: Sequence[bytes]) -> int:
        """Writes the frames in writes of at most ``WRITE_LIMIT`` bytes (or one frame) while
        the transport takes them; how many it wrote. The limit keeps what a socket holds in
        its own copy to about the transport's high-water mark: frames beyond it wait in the
        backlog as the group's shared payloads, bounded by ``queue_size``."""
        prefix = self.prefix
        written = 0
        chunk: list[bytes] = []
        size = 0
        for payload in payloads:
            frame = text_frame(prefix, payload, b"}")
            if chunk and size + len(frame) > WRITE_LIMIT:
                if not write(b"".join(chunk)):
                    return written
                written += len(chunk)
                chunk, size = [], 0
            chunk.append(frame)
            size += len(frame)
        if write(chunk[0] if len(chunk) == 1 else b"".join(chunk)):
            written += len(chunk)
        return written

    def _text(self, payload: bytes) -> str:
        return (self.prefix + payload + b"}").decode()

    async def _drain(self, sending: _Resumed) -> None:
        try:
            await sending
            while self.backlog:
                await self.send(self._text(self.backlog.popleft()))
            self.backlog = None
        except Exception:
            self.broken = True
        finally:
            self.writer = None

    def _drop(self, queued: int) -> None:
        """Cut off alone: its stream ends with ``SUBSCRIPTION_DROPPED``; nothing waits."""
        log.warning("events.subscriber_dropped", queued=queued)
        self._stop_writing()
        self.broken = True
        if self.group is not None:
            self.group.seats.pop(self, None)
        self.end(None)

    def _stop_writing(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None
        self.backlog = None


class _Resumed:
    """Awaits a coroutine that was started by hand and is suspended on ``waiting``: the
    rest of a send, taken on by a writer task."""

    __slots__ = ("coroutine", "waiting")

    def __init__(self, coroutine: Any, waiting: Any) -> None:
        self.coroutine = coroutine
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, value = self.coroutine, self.waiting
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # thrown into the task (cancelled): into the send
                try:
                    value = coroutine.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coroutine.send(sent)
                except StopIteration:
                    return


def _ended(result: ExecutionResult) -> bool:
    """The stream's last result: its resolver raised (an error with no path), not an
    event whose selection failed (those errors have a path, and are sent to every socket)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or [])
    )
