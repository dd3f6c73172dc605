"""``closedloop serve`` answers a WebSocket that offers permessage-deflate with plain
frames: a subscription frame is a few hundred bytes, and compressing it again for each of a
thousand sockets cost more of the process's CPU than the rest of writing it
(bench/RESULTS.md, "Subscriptions without per-socket compression")."""

from __future__ import annotations

import json
import subprocess

import pytest
from websockets.asyncio.client import connect

from closedloop.identity.tokens import mint_token
from closedloop.settings import Settings
from tests.api.test_fault_kill import served  # noqa: F401  (the fixture: a real server)
from tests.live import PROTOCOL, message, until_healthy

# The server's database migrated and seeded (the accounts), as the fault test has it.
pytestmark = pytest.mark.usefixtures("clean_issues")


async def test_a_socket_offering_compression_gets_plain_frames(
    served: tuple[subprocess.Popen[bytes], str],  # noqa: F811
    settings: Settings,
) -> None:
    _, url = served
    await until_healthy(url)
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=[PROTOCOL], compression="deflate") as ws:  # type: ignore[list-item]
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        token = mint_token(settings, "xinshi.center")
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert (await message(ws))["type"] == "connection_ack"
