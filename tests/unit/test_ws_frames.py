"""Whole text frames for uvicorn's transport (``closedloop.http.ws_frames``): the bytes
``websockets`` itself makes for a server's unmasked, uncompressed text frame, at every
length form; only uvicorn's ``websockets-sansio`` connection is written to directly."""

from __future__ import annotations

import pytest
from starlette.types import Message
from websockets.frames import Frame, Opcode

from closedloop.http.ws_frames import direct_writer, text_frame


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_a_frame_is_what_websockets_makes_of_the_same_text(length: int) -> None:
    prefix, suffix = '{"id":"订阅","type":"next","payload":'.encode(), b"}"
    payload = b"x" * max(0, length - len(prefix) - len(suffix))
    data = prefix + payload + suffix
    expected = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    assert text_frame(prefix, payload, suffix) == expected


def test_only_uvicorns_connection_is_written_to_directly() -> None:
    async def send(message: Message) -> None:
        pass

    class Other:
        async def send(self, message: Message) -> None:
            pass

    assert direct_writer(send) is None
    assert direct_writer(Other().send) is None
