"""Queries prepared once: parsed, checked against the request limits and validated, then
executed straight on the compiled executor.

Strawberry runs every request through its schema extensions (parser cache, validation
cache, token limit, extra validation rules, error masking): generator hooks, an
execution context and several look-ups, about a tenth of a pool page's CPU time. Most
requests repeat a few query texts, and for a query text that parsed and validated once
the answer of those hooks is known. ``PreparedQueries`` keeps that answer per query text
and operation name, and runs such a query with exactly the steps that remain: execute,
log the errors, mask the unexpected ones.

Anything else (a document that fails to parse or validate, a mutation, a subscription, an
unknown operation name) is not prepared: the caller sends it through strawberry as
before, which answers it with the usual errors. ``tests/api/test_prepared_queries.py``
checks that both ways answer the same, byte for byte.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import MaskErrors
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult

MAX_PREPARED = 512


@dataclass(frozen=True)
class RequestLimits:
    """What every request document must pass before it runs: the extra validation rules
    (depth, aliases, introspection when disabled) and the token limit of the parser. The
    schema's extensions and ``PreparedQueries`` are built from the same instance."""

    rules: tuple[type[ASTValidationRule], ...]
    max_tokens: int


class _Rejected:
    """A query text that is not prepared (strawberry answers it)."""


_REJECTED = _Rejected()


class PreparedQueries:
    def __init__(
        self,
        schema: strawberry.Schema,
        limits: RequestLimits,
        mask: MaskErrors,
        maxsize: int = MAX_PREPARED,
    ) -> None:
        self.schema = schema
        self.rules = (*specified_rules, *limits.rules)
        self.max_tokens = limits.max_tokens
        self.mask = mask
        self.maxsize = maxsize
        self._documents: dict[tuple[str, str | None], DocumentNode | _Rejected] = {}

    def document(self, query: str, operation_name: str | None) -> DocumentNode | None:
        """The prepared document of a query (its operation a query), or ``None``."""
        key = (query, operation_name)
        found = self._documents.get(key)
        if found is None:
            found = self._prepare(query, operation_name)
            if len(self._documents) >= self.maxsize:
                self._documents.clear()
            self._documents[key] = found
        return None if isinstance(found, _Rejected) else found

    def _prepare(self, query: str, operation_name: str | None) -> DocumentNode | _Rejected:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return _REJECTED
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return _REJECTED
        if validate_document(self.schema._schema, document, self.rules):
            return _REJECTED
        return document

    async def execute(
        self,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> ExecutionResult:
        """What ``strawberry.Schema.execute`` answers for this prepared document."""
        schema = self.schema
        data: dict[str, Any] | None
        errors: list[GraphQLError] | None
        try:
            result = execute(
                schema._schema,
                document,
                root_value=None,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                executor_class=schema.execution_context_class,
                operation_extensions=None,
            )
            if isinstance(result, Awaitable):
                result = await result
            data, errors = result.data, result.errors
        except Exception as exc:  # as strawberry: the error in the response, not a 500
            if not isinstance(exc, GraphQLError):
                exc = GraphQLError(str(exc), original_error=exc)
            data, errors = None, [exc]
        if errors:
            # As strawberry does: log the errors as raised, then send masked copies.
            schema._process_errors(errors)
            errors = [
                self.mask.anonymise_error(e) if self.mask.should_mask_error(e) else e
                for e in errors
            ]
        return ExecutionResult(data=data, errors=errors)
