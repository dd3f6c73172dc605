"""Whole WebSocket text frames written straight to uvicorn's connection, for the frames a
subscription group sends to every socket of the group.

Through the ASGI ``send``, a frame costs each socket a coroutine, an ``asyncio.Event``
wait, the text encoded to UTF-8, a ``websockets`` frame object serialised and the output
joined, before the one ``transport.write`` that is the socket's real cost: about half of a
socket's share of a mutation with a thousand subscribers (``bench/RESULTS.md``, "Frames
written straight to the transport"). A server's frames are not masked and, without
permessage-deflate (``closedloop serve`` turns it off), carry the payload as it is, so the
group encodes its payload once and each socket adds only its operation's prefix and the
frame's header (RFC 6455, section 5.2).

Only uvicorn's ``websockets-sansio`` connection (the one ``closedloop serve`` gets with
``websockets`` installed) is written to this way, and only while its ASGI ``send`` would
write at once: the handshake done, no close sent or received, the transport taking data.
Otherwise ``direct_writer`` gives ``None`` or the writer declines the frame, and the frame
goes through ``send`` as before, which waits, or refuses, as uvicorn decides.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from starlette.types import Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

# FIN set, opcode 1 (text); the second byte: no mask, then the payload length's form.
_TEXT = 0x81
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")

FrameWriter = Callable[[bytes], bool]


def text_frame(prefix: bytes, payload: bytes, suffix: bytes) -> bytes:
    """One unmasked, final text frame whose data is ``prefix + payload + suffix``."""
    length = len(prefix) + len(payload) + len(suffix)
    if length < 126:
        head = _SHORT.pack(_TEXT, length)
    elif length < 1 << 16:
        head = _MEDIUM.pack(_TEXT, 126, length)
    else:
        head = _LONG.pack(_TEXT, 127, length)
    return b"".join((head, prefix, payload, suffix))


def direct_writer(send: Send) -> FrameWriter | None:
    """Writes a whole frame to the connection whose ASGI ``send`` this is, and says whether
    it did; ``None`` when ``send`` is not uvicorn's ``websockets-sansio`` connection's."""
    protocol = getattr(send, "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    connection = protocol.conn
    writable = protocol.writable

    def write(frame: bytes) -> bool:
        transport = protocol.transport
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.handshake_complete
            or protocol.initial_response is not None
            or connection.state is not State.OPEN
            or not writable.is_set()
            or transport.is_closing()
        ):
            return False
        transport.write(frame)
        return True

    return write
