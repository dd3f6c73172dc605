"""Queries that mark themselves tolerant of lag: ``query … @lagTolerant { … }``.

A client that can live with data a few seconds old (a wall display, a list refreshed on a
timer, a report screen) says so on the operation; the whole query then reads from a
streaming replica in rotation (``Database.lag_tolerant``: probed when the query starts,
within ``CLOSEDLOOP_REPLICA_MAX_LAG_SECONDS`` at its last check), and the response says
where it was read and how old its data is, in ``extensions.freshness``:
``{"fromReplica": true, "asOf": "<the replica's last replayed commit>"}`` (on the primary:
``false`` and the moment of the read). Without the directive, or without a replica in
rotation, every read is on the primary as before. Only a query may carry it (GraphQL
validation refuses it on a mutation or a subscription): a request that writes reads its
own writes on the primary. Row-level security and the scope tags are the same on a
replica (``tests/api/test_replicas.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import strawberry
from graphql import OperationDefinitionNode, OperationType, get_operation_ast
from strawberry.directive import DirectiveLocation
from strawberry.extensions import SchemaExtension

from closedloop.db.replicas import Freshness

NAME = "lagTolerant"


@strawberry.directive(
    locations=[DirectiveLocation.QUERY],
    name=NAME,
    description=(
        "本查询可接受只读副本上稍旧的数据；响应的 extensions.freshness 说明数据来源与时效 / "
        "this query may be answered from a streaming replica, with data up to the replica "
        "lag bound old; extensions.freshness in the response says where it was read and "
        "as of when"
    ),
)
def lag_tolerant() -> None:
    """Marks an operation; it does nothing itself (``LagTolerance`` reads it)."""


def marked(operation: OperationDefinitionNode | None) -> bool:
    """Whether ``operation`` is a query carrying ``@lagTolerant``."""
    return (
        operation is not None
        and operation.operation is OperationType.QUERY
        and any(d.name.value == NAME for d in operation.directives or ())
    )


class LagTolerance(SchemaExtension):
    """Before a marked query runs, points its context's database at a replica
    (``Database.lag_tolerant``); afterwards reports the freshness in ``extensions``."""

    def __init__(self) -> None:
        self.freshness: Freshness | None = None
        self.read_at: dt.datetime | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        request = context.context
        if (
            document is not None
            and context.result is None
            and hasattr(request, "db")
            and marked(get_operation_ast(document, context.operation_name))
        ):
            request.db, self.freshness = await request.db.lag_tolerant()
            self.read_at = dt.datetime.now(dt.UTC)
        yield

    def get_results(self) -> dict[str, Any]:
        if self.freshness is None or self.read_at is None:
            return {}
        read = self.freshness
        return {
            "freshness": {
                "fromReplica": read.from_replica,
                "asOf": read.data_as_of(self.read_at).isoformat(),
            }
        }
