"""Maps a global ID's type name to the resolver that loads it *within the caller's scope*."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from closedloop.schema.context import Info

NodeResolver = Callable[[Info, str], Awaitable[Any]]

_RESOLVERS: dict[str, NodeResolver] = {}


def register_node(type_name: str) -> Callable[[NodeResolver], NodeResolver]:
    def wrap(fn: NodeResolver) -> NodeResolver:
        _RESOLVERS[type_name] = fn
        return fn

    return wrap


def resolver_for(type_name: str) -> NodeResolver | None:
    return _RESOLVERS.get(type_name)
