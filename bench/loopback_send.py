"""The floor of writing one small frame to each of N sockets: ``transport.write`` of the
same bytes to N loopback TCP connections on uvloop (what uvicorn runs on), readers in the
same process draining them. Prints the process CPU per socket per write, which is the
kernel's send (and the loopback delivery it does for the reader) plus the call itself.

    python -m bench.loopback_send --sockets 1000 --size 420 --repeat 7
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import uvloop


async def _measure(sockets: int, size: int, repeat: int) -> list[float]:
    accepted: list[asyncio.StreamWriter] = []
    all_accepted = asyncio.Event()

    async def keep(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        if len(accepted) == sockets:
            all_accepted.set()

    server = await asyncio.start_server(keep, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(sockets)]
    await all_accepted.wait()

    async def drain(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    readers = [asyncio.create_task(drain(reader)) for reader, _ in clients]
    transports = [writer.transport for writer in accepted]
    data = b"x" * size
    per_socket = []
    for _ in range(repeat):
        start = time.process_time()
        for transport in transports:
            transport.write(data)
        per_socket.append((time.process_time() - start) / sockets * 1e6)
        await asyncio.sleep(0.3)  # the readers drain before the next pass
    for _, writer in clients:
        writer.close()
    for task in readers:
        task.cancel()
    server.close()
    return per_socket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--size", type=int, default=420, help="bytes per frame")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    runs = uvloop.run(_measure(args.sockets, args.size, args.repeat))
    print("µs per socket per write:", " ".join(f"{run:.2f}" for run in runs))
    print(f"median {statistics.median(runs):.2f} µs")


if __name__ == "__main__":
    main()
