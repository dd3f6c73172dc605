"""A group's frames go to each socket through the connection's own ``send``, kept by
``RawSendMiddleware``, not through starlette's ``WebSocket.send_text`` and the middlewares'
wrappers; without it (an app built without the middleware), through ``send_text``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from closedloop.http.fanout import RAW_SEND, WRITE_LIMIT, Fanout, RawSendMiddleware, Seat
from closedloop.http.ws_frames import text_frame

FRAME = '{"id":"1","type":"next","payload":{"data":1}}'


class _WebSocket:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.texts: list[str] = []

    async def send_text(self, text: str) -> None:
        self.texts.append(text)


def _seat(scope: Scope) -> tuple[Seat, _WebSocket]:
    websocket = _WebSocket(scope)
    handler: Any = SimpleNamespace(websocket=SimpleNamespace(ws=websocket))
    operation: Any = SimpleNamespace(completed=False)
    seat = Seat(Fanout(), handler, operation)
    seat.prefix, seat.start = b'{"id":"1","type":"next","payload":', 0
    return seat, websocket


def test_a_frame_goes_to_the_connections_own_send() -> None:
    sent: list[Message] = []

    async def raw(message: Message) -> None:
        sent.append(message)

    seat, websocket = _seat({"type": "websocket", RAW_SEND: raw})
    seat.push([(7, b'{"data":1}')])
    assert sent == [{"type": "websocket.send", "text": FRAME}]
    assert websocket.texts == []


def test_without_the_middleware_a_frame_goes_through_starlette() -> None:
    seat, websocket = _seat({"type": "websocket"})
    seat.push([(7, b'{"data":1}')])
    assert websocket.texts == [FRAME]


async def test_the_middleware_keeps_the_send_of_websocket_connections_only() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        pass

    middleware = RawSendMiddleware(app)
    await middleware({"type": "websocket"}, receive, send)
    await middleware({"type": "http"}, receive, send)
    assert seen[0][RAW_SEND] is send
    assert RAW_SEND not in seen[1]


def test_a_burst_is_written_in_bounded_writes_the_rest_through_send_in_order() -> None:
    """Frames beyond what the transport takes are not copied for the socket: after the
    writer declines, they go through ``send`` (and its backlog), in order."""
    sent: list[Message] = []

    async def raw(message: Message) -> None:
        sent.append(message)

    seat, _ = _seat({"type": "websocket", RAW_SEND: raw})
    writes: list[bytes] = []

    def write(frame: bytes) -> bool:
        if len(writes) == 1:  # the transport passed its high-water mark
            return False
        writes.append(frame)
        return True

    seat.write = write
    payloads = [b'"' + bytes([ord("a") + i]) * 30_000 + b'"' for i in range(5)]
    seat.push([(7 + i, payload) for i, payload in enumerate(payloads)])
    assert len(writes) == 1 and WRITE_LIMIT - 30_100 < len(writes[0]) <= WRITE_LIMIT
    assert writes[0] == b"".join(text_frame(seat.prefix, p, b"}") for p in payloads[:2])
    assert [m["text"] for m in sent] == [(seat.prefix + p + b"}").decode() for p in payloads[2:]]
