"""Every request's pipeline: documents prepared once, then the same schema extensions for
every operation.

``PreparedQueries`` keeps, per query text, the parsed document (the token limit applied)
and its validation errors (graphql-core's rules, the query-shape rule of
``closedloop.schema.shape``, introspection when disabled), and per document and operation
its cost plan. ``QueryGate``, the schema's first extension, hands those to strawberry's
pipeline instead of parsing and validating again, and before execution reads the request's
page sizes, refuses a query over the cost budget, spends the caller's rate-limit points,
and afterwards reports the cost in the response's ``extensions``.

Every operation goes through ``strawberry.Schema.execute`` / ``subscribe`` and so through
every extension (gate, error masking, and any added later): the HTTP fast path
(``closedloop.http.graphql_http``) only skips the view's request parsing and response
building for a JSON query that is prepared, and calls ``PreparedQueries.execute``, which is
``Schema.execute``. ``tests/api/test_prepared_queries.py`` checks that both ways answer the
same, byte for byte, and that an extension runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from closedloop.caches import BoundedCache, text_size
from closedloop.schema.errors import PublicError
from closedloop.schema.shape import CostPlan, PagingRefused, cost_plan, shape_error
from closedloop.services.rate_limit import (
    Decision,
    RateLimiter,
    account_key,
    address_key,
    points_for,
)

if TYPE_CHECKING:
    import strawberry

MAX_PREPARED = 256
MAX_PREPARED_BYTES = 16 * 1024 * 1024

PlanEntry = tuple[DocumentNode, "CostPlan | PagingRefused | None"]


def _plan_size(key: object, entry: PlanEntry) -> int:
    loc = entry[0].loc
    return text_size(loc.source.body) if loc is not None else MAX_PREPARED_BYTES // MAX_PREPARED


_QUERIES = frozenset({StrawberryOperationType.QUERY})


@dataclass(frozen=True)
class RequestLimits:
    """What every request document must pass before it runs: the extra validation rules
    (query shape, introspection when disabled), the token limit of the parser and the cost
    budget (0: none)."""

    rules: tuple[type[ASTValidationRule], ...]
    max_tokens: int
    max_cost: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """A query text, parsed and validated: the document (``None`` when it did not parse)
    and its errors (empty: valid)."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class PreparedQueries:
    def __init__(
        self,
        schema: strawberry.Schema,
        limits: RequestLimits,
        maxsize: int = MAX_PREPARED,
    ) -> None:
        self.schema = schema
        self.rules = (*specified_rules, *limits.rules)
        self.max_tokens = limits.max_tokens
        self.max_cost = limits.max_cost
        self.maxsize = maxsize
        # Bounded in entries and bytes (closedloop.caches): a document's size follows its text.
        self._prepared: BoundedCache[str, Prepared] = BoundedCache(
            f"prepared-{id(self):x}",
            maxsize,
            MAX_PREPARED_BYTES,
            lambda query, found: text_size(query),
        )
        # A plan's entry keeps its document alive, so the id in its key stays the document's.
        self._plans: BoundedCache[tuple[int, str | None], PlanEntry] = BoundedCache(
            f"cost-plans-{id(self):x}", maxsize, MAX_PREPARED_BYTES, _plan_size
        )

    def prepared(self, query: str) -> Prepared:
        found = self._prepared.get(query)
        if found is None:
            found = self._prepare(query)
            self._prepared[query] = found
        return found

    def document(self, query: str, operation_name: str | None) -> DocumentNode | None:
        """The document of a valid query whose operation is a query, or ``None``."""
        found = self.prepared(query)
        if found.document is None or found.errors:
            return None
        operation = get_operation_ast(found.document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        return found.document

    def plan(self, document: DocumentNode, operation_name: str | None) -> CostPlan | PagingRefused:
        key = (id(document), operation_name)
        entry = self._plans.get(key)
        if entry is not None and entry[0] is document:
            found = entry[1]
        else:
            try:
                found = cost_plan(self.schema._schema, document, operation_name)
            except PagingRefused as refused:
                found = refused
            self._plans[key] = (document, found)
        # No such operation: graphql-core's executor says so.
        return found if found is not None else CostPlan((), 0)

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=self.max_tokens or None)
        except GraphQLError as error:
            if "tokens. Parsing aborted" in error.message:
                error = shape_error(
                    "TOO_MANY_TOKENS",
                    f"more than {self.max_tokens} tokens",
                    maxTokens=self.max_tokens,
                )
            return Prepared(None, (error,))
        errors = validate_document(self.schema._schema, document, self.rules)
        return Prepared(document, tuple(errors))

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> ExecutionResult:
        """A prepared query through the schema's whole pipeline."""
        return await self.schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=_QUERIES,
        )


class QueryGate(SchemaExtension):
    """Parse and validation from ``PreparedQueries``; cost, page sizes and the rate limit
    checked before execution; the cost reported after."""

    def __init__(self, prepared: PreparedQueries, limiter: RateLimiter | None) -> None:
        self.prepared = prepared
        self.limiter = limiter
        self.found: Prepared | None = None
        self.cost: int | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query is not None:
            self.found = self.prepared.prepared(context.query)
            if self.found.document is None:
                raise self.found.errors[0]
            context.graphql_document = self.found.document
        yield

    def on_validate(self) -> Iterator[None]:
        if self.found is not None:
            self.execution_context.pre_execution_errors = list(self.found.errors)
        yield

    async def on_execute(self) -> Any:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            refusal = await self._admit(document)
            if refusal is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    async def _admit(self, document: DocumentNode) -> GraphQLError | None:
        """``None`` when the request may run; else the error that refuses it."""
        context = self.execution_context
        request = context.context
        locale = getattr(request, "locale", "zh-CN")
        plan = self.prepared.plan(document, context.operation_name)
        try:
            if isinstance(plan, PagingRefused):
                raise plan
            cost = plan.cost(context.variables)
        except PagingRefused as refused:
            return PublicError("INVALID_PAGING", refused.detail, locale, field=refused.path)
        maximum = self.prepared.max_cost
        if maximum and cost > maximum:
            return PublicError(
                "QUERY_TOO_COSTLY",
                f"cost {cost} exceeds {maximum}",
                locale,
                cost=cost,
                maxCost=maximum,
            )
        self.cost = cost
        # A subscription group's own stream: its sockets each spent their points already.
        if self.limiter is None or getattr(request, "source", None) is not None:
            return None
        decision = await self.limiter.spend(_caller_key(request), points_for(cost))
        _send_headers(request, decision)
        if decision.allowed:
            return None
        self.cost = None
        response = getattr(request, "response", None)
        if isinstance(response, Response):
            response.status_code = 429
        return PublicError(
            "RATE_LIMITED",
            f"retry after {decision.retry_after} s",
            locale,
            cost=cost,
            retryAfter=decision.retry_after,
        )

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "maximum": self.prepared.max_cost}}


def _caller_key(context: Any) -> str:
    """Whose budget a request spends: the signed-in account's, else its client address's."""
    principal = getattr(context, "principal", None)
    account = getattr(principal, "account_id", None)
    if account is not None:
        return account_key(account)
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return address_key(client.host if client is not None else None)


def _send_headers(context: Any, decision: Decision) -> None:
    response = getattr(context, "response", None)
    if not isinstance(response, Response):
        return  # a WebSocket operation: no HTTP response to carry them
    headers = response.headers
    for name, value in decision.headers().items():
        headers[name] = value
