"""A running server made cold on demand, for benchmarks (``bench/mixed.py``)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Protocol


class Coolable(Protocol):
    def empty_caches(self) -> None: ...


def install_cold_signal(runtime: Coolable) -> Callable[[], None]:
    """``SIGUSR1`` empties this process's caches (``Runtime.empty_caches``): a benchmark
    makes a running server cold without restarting it. Only the process's owner (or root)
    can send it. Returns what removes the handler; nothing is installed off the main
    thread (an app run by a test client)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGUSR1, runtime.empty_caches)
    except (NotImplementedError, RuntimeError, ValueError):
        return lambda: None

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGUSR1)

    return uninstall
