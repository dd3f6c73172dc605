"""``node(id)``: any object by global ID, or null when absent or out of scope (same answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from closedloop.schema.context import Info
from closedloop.schema.node_registry import resolver_for
from closedloop.schema.relay import from_global_id


async def node(info: Info, id: str) -> Any:
    decoded = from_global_id(id)
    if decoded is None:
        return None
    type_name, key = decoded
    resolve = resolver_for(type_name)
    if resolve is None:
        return None
    return await resolve(info, key)


async def nodes(info: Info, ids: list[str]) -> list[Any]:
    return list(await asyncio.gather(*(node(info, i) for i in ids)))
