"""``CompiledExecutor``: which operations compile, the plan cache, and the executor that
runs a plan (falling back to graphql-core for anything else)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
)
from graphql.execution.collect_fields import (
    DeferUsage,
    GroupedFieldSet,
)
from graphql.language import (
    FragmentDefinitionNode,
    Node,
    OperationDefinitionNode,
    Visitor,
    visit,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from closedloop.caches import BoundedCache, text_size
from closedloop.schema.execution.compiler import PlanCompiler
from closedloop.schema.execution.infos import Executor
from closedloop.schema.execution.plans import SelectionPlan

MAX_PLANS = 256
MAX_PLAN_BYTES = 16 * 1024 * 1024

# --- which operations compile ------------------------------------------------------


class _DirectiveFinder(Visitor):
    found = False

    def enter_directive(self, *args: Any) -> Any:
        self.found = True
        return self.BREAK


def _compilable(ex: Executor) -> bool:
    """Queries without directives or fragment variables (their selection does not
    depend on the variables)."""
    if ex.operation.operation is not OperationType.QUERY:
        return False
    definitions: list[Node] = [ex.operation, *ex.fragment_definitions.values()]
    for definition in definitions:
        if isinstance(definition, FragmentDefinitionNode) and definition.variable_definitions:
            return False
        finder = _DirectiveFinder()
        visit(definition, finder)
        if finder.found:
            return False
    return True


_REFUSED = SelectionPlan(())
PlanEntry = tuple[GraphQLSchema, OperationDefinitionNode, SelectionPlan]


def _plan_size(key: tuple[int, int], entry: PlanEntry) -> int:
    """A plan grows with its operation, whose size follows the query text."""
    loc = entry[1].loc
    return text_size(loc.source.body) if loc is not None else MAX_PLAN_BYTES // MAX_PLANS


_plans: BoundedCache[tuple[int, int], PlanEntry] = BoundedCache(
    "plans", MAX_PLANS, MAX_PLAN_BYTES, _plan_size
)


def plan_for(
    ex: Executor, root_type: GraphQLObjectType, fields: GroupedFieldSet
) -> SelectionPlan | None:
    """The operation's compiled root selection, compiled on first use; ``None`` when it
    does not compile."""
    key = (id(ex.schema), id(ex.operation))
    cached = _plans.get(key)
    if cached is not None and cached[0] is ex.schema and cached[1] is ex.operation:
        plan = cached[2]
    else:
        plan = PlanCompiler(ex).root(root_type, fields) if _compilable(ex) else _REFUSED
        # The entry keeps the schema and the operation alive, so their ids stay theirs.
        _plans[key] = (ex.schema, ex.operation, plan)
    return None if plan is _REFUSED else plan


class CompiledExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with the compiled fast path for queries."""

    def execute_collected_root_fields(
        self,
        root_type: GraphQLObjectType,
        root_value: Any,
        grouped_field_set: GroupedFieldSet,
        serially: bool,
        new_defer_usages: Sequence[DeferUsage],
    ) -> Any:
        plan = None
        if not serially and not new_defer_usages and self._plain():
            plan = plan_for(self, root_type, grouped_field_set)
        if plan is None:
            return super().execute_collected_root_fields(
                root_type, root_value, grouped_field_set, serially, new_defer_usages
            )
        return plan.execute(self, root_value, None)

    def build_response(self, data: dict[str, Any] | None) -> Any:
        result = super().build_response(data)
        if isinstance(result, ExecutionResult):
            # The executor holds bound methods of itself (graphql-core's async helpers): a
            # reference cycle that kept the whole request (context, loaders, the page's
            # records) alive until the garbage collector found it, ~180 objects a page.
            # A plain result is complete: nothing asks for the helpers any more.
            self.__dict__.pop("async_helpers", None)
        return result

    def _plain(self) -> bool:
        """No middleware, abort signal or disabled error propagation to honour."""
        middleware = self.middleware_manager
        return (
            (middleware is None or not middleware.middlewares)
            and self.abort_signal is None
            and self.error_propagation
        )
