"""Builds the GraphQL schema: the root types of ``closedloop.resolvers``, the execution of
``closedloop.schema.execution``, and the protective extensions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
import structlog
from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.directives import DirectivesExtension, DirectivesExtensionSync
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult

from closedloop.observability import current_request_id
from closedloop.resolvers.root import Mutation, Query
from closedloop.schema import tenancy as _tenancy  # noqa: F401  (registers node types)
from closedloop.schema.budget import BudgetMask, within_budget
from closedloop.schema.context import Context
from closedloop.schema.enterprises import Enterprise
from closedloop.schema.errors import should_mask
from closedloop.schema.execution.executor import CompiledExecutor
from closedloop.schema.execution.prepared import PreparedQueries, QueryGate, RequestLimits
from closedloop.schema.extension_runner import ExtensionsRunner
from closedloop.schema.inputs import ArgumentBoundsRule, guard_arguments
from closedloop.schema.issues import Issue
from closedloop.schema.lag import LagTolerance, lag_tolerant
from closedloop.schema.payloads import IssueError
from closedloop.schema.scalars import SCALAR_OVERRIDES
from closedloop.schema.shape import ShapeLimits, shape_rule
from closedloop.schema.subscription import Subscription
from closedloop.schema.tenancy import Board, Center, Department, Region
from closedloop.services.rate_limit import RateLimiter
from closedloop.settings import Settings

log = structlog.get_logger("closedloop.graphql")

MASKED_MESSAGE = "Unexpected error / 服务器内部错误"

NODE_TYPES: list[Any] = [Region, Center, Board, Department, Enterprise, Issue, IssueError]


def _masked(error: GraphQLError) -> bool:
    return should_mask(error)


class HideSuggestions(ValidationRule):
    """Switches on graphql-core's ``hide_suggestions`` for the validation it takes part in:
    no "Did you mean …" in validation errors (they leak field names when introspection is
    off). Strawberry calls ``validate`` without the flag, so the rule sets it on the
    validation context, before any rule visits the document. Reports nothing itself."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        context._hide_suggestions = True


class QuietExecutor(CompiledExecutor):
    """The compiled executor with graphql-core's ``hide_suggestions`` on: no "Did you
    mean …" in errors about variable values (an enum value misspelt, say)."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class RequestMaskErrors(BudgetMask):
    """Masks unexpected errors, keeping the request id so a user can quote it (a statement
    PostgreSQL cancelled is the request's TIMEOUT: ``BudgetMask``)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        request_id = current_request_id()
        if request_id is not None:
            masked.extensions = {**(masked.extensions or {}), "requestId": request_id}
        return masked


class Schema(strawberry.Schema):
    """The API's schema, with its prepared queries (``closedloop.schema.execution.prepared``)
    and its rate limiter (``None``: off)."""

    prepared: PreparedQueries
    limiter: RateLimiter | None
    budget_seconds: float = 0.0

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """strawberry's execution, within the request's budget (``schema.budget``); the
        request's connection goes back to the pool as soon as the answer is complete."""
        try:
            return await within_budget(super().execute(*args, **kwargs), self.budget_seconds)
        finally:
            context = kwargs.get("context_value")
            if isinstance(context, Context):
                await context.release()

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """The same hooks, looked up once per extension class (``extension_runner``)."""
        return ExtensionsRunner(execution_context=execution_context, extensions=extensions)

    def get_extensions(self, sync: bool = False) -> list[SchemaExtension]:
        """strawberry's, without the field-directive middleware it adds whenever a schema
        declares directives: the only one here (``@lagTolerant``) marks operations, and a
        middleware would keep every query off the compiled executor
        (``CompiledExecutor._plain``)."""
        return [
            e
            for e in super().get_extensions(sync)
            if not isinstance(e, DirectivesExtension | DirectivesExtensionSync)
        ]

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """The client's own errors (validation, typed errors, refusals) as one line each;
        unexpected ones with their traceback."""
        for error in errors:
            if should_mask(error):
                log.error(
                    "graphql.unexpected_error",
                    error=error.message,
                    path=error.path,
                    exc_info=error.original_error or error,
                )
            else:
                code = (error.extensions or {}).get("code")
                log.info("graphql.client_error", error=error.message, path=error.path, code=code)


def request_limits(settings: Settings) -> RequestLimits:
    # The limit rules are built once: the validation cache is keyed by the rule classes, and
    # a limiter built per request would make a new class each time and never hit.
    shape = ShapeLimits(settings.max_query_depth, settings.max_aliases, settings.max_directives)
    rules: list[type[ASTValidationRule]] = [shape_rule(shape), ArgumentBoundsRule]
    if not settings.introspection_on:
        rules.append(NoSchemaIntrospectionCustomRule)
    if not settings.suggestions_on:
        rules.append(HideSuggestions)
    return RequestLimits(tuple(rules), settings.max_tokens, settings.max_query_cost)


def _executor(settings: Settings, compiled: bool) -> type[CompiledExecutor] | None:
    if not compiled:
        return None
    return CompiledExecutor if settings.suggestions_on else QuietExecutor


def build_schema(settings: Settings | None = None, *, compiled: bool = True) -> Schema:
    """The API's schema; ``compiled=False`` executes with graphql-core's executor only (the
    reference the compiled executor is tested against)."""
    settings = settings or Settings()
    limiter = RateLimiter.for_settings(settings)
    budget = settings.request_timeout_seconds
    # Factories, not instances: a fresh extension per request. The gate comes first: it
    # parses and validates (from the prepared documents) before the others see the request.
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: QueryGate(prepared, limiter),
        lambda: RequestMaskErrors(_masked, MASKED_MESSAGE, budget),
        LagTolerance,
    ]
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        directives=[lag_tolerant],
        extensions=extensions,
        execution_context_class=_executor(settings, compiled),
        config=StrawberryConfig(batching_config=None),
        scalar_overrides=SCALAR_OVERRIDES,
    )
    guard_arguments(schema._schema)
    prepared = PreparedQueries(schema, request_limits(settings))
    schema.prepared = prepared
    schema.limiter = limiter
    schema.budget_seconds = budget
    return schema
