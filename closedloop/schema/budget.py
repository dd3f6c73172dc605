"""The execution budget of one GraphQL request.

A request that runs past ``Settings.request_timeout_seconds`` ends with one typed error,
code ``TIMEOUT``: its task is cancelled at the next ``await`` (the transaction it holds is
rolled back and its connection closed or returned clean by SQLAlchemy's cancellation
handling), and PostgreSQL's ``statement_timeout`` on the API's connections, set from the
same setting, cancels a statement that outlives it (``closedloop.db.database.make_engine``).
CPU-bound work cannot be interrupted at an ``await``: it is bounded by the input bounds
(``closedloop.domain.bounds``) or runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionResult

from closedloop import i18n

TIMEOUT = "TIMEOUT"
# asyncpg's QueryCanceledError: statement_timeout, or a cancel request.
QUERY_CANCELED = "57014"

i18n.register(
    "RequestErrorCode",
    {
        TIMEOUT: (
            "请求处理超时，请缩小查询范围后重试",
            "The request took too long; narrow it and retry",
        )
    },
)


def timeout_error(seconds: float, error: GraphQLError | None = None) -> GraphQLError:
    """The error a request past its budget ends with (bilingual: no locale needed)."""
    message = " / ".join(i18n.label(TIMEOUT, loc, "RequestErrorCode") for loc in (i18n.ZH, i18n.EN))
    return GraphQLError(
        message,
        nodes=error.nodes if error else None,
        source=error.source if error else None,
        positions=error.positions if error else None,
        path=error.path if error else None,
        extensions={"code": TIMEOUT, "budgetSeconds": seconds},
    )


def is_statement_timeout(error: BaseException | None) -> bool:
    """Whether PostgreSQL cancelled a statement of this error's cause chain."""
    seen = 0
    while error is not None and seen < 10:
        if getattr(error, "sqlstate", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
        seen += 1
    return False


async def within_budget(run: Awaitable[ExecutionResult], seconds: float) -> ExecutionResult:
    """``run``'s result, or a result with the timeout error once ``seconds`` have passed."""
    if seconds <= 0:
        return await run
    try:
        async with asyncio.timeout(seconds) as budget:
            return await run
    except TimeoutError:
        if not budget.expired():
            raise  # a TimeoutError of the request's own work, not of the budget
        return ExecutionResult(data=None, errors=[timeout_error(seconds)])


class BudgetMask(MaskErrors):
    """strawberry's ``MaskErrors``, except that a statement PostgreSQL cancelled (the
    statement timeout, the budget's backstop) is the request's ``TIMEOUT``, not an
    unexpected error."""

    def __init__(
        self,
        should_mask_error: Callable[[GraphQLError], bool],
        error_message: str,
        budget_seconds: float,
    ) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=error_message)
        self.budget_seconds = budget_seconds

    def _process_result(self, result: object) -> None:
        """strawberry's, without its ``isinstance`` against a runtime-checkable protocol
        (about 10 µs a request, on every request): a result with errors is one whose
        ``errors`` attribute holds some."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if is_statement_timeout(error.original_error):
            return timeout_error(self.budget_seconds, error)
        return super().anonymise_error(error)
