"""The compiled executor's vocabulary: what a plan's functions take, and the info objects
that build a field's path and ``GraphQLResolveInfo`` only when something reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
)
from graphql.execution.executor import Executor as GenericExecutor
from graphql.pyutils import Path
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info as StrawberryInfo

Executor = GenericExecutor[Any]
ResolveInfo = GraphQLResolveInfo[Any]

# (executor, source, info) -> the field's raw value (or an awaitable of it)
Fetch = Callable[[Executor, Any, "LazyResolveInfo"], Any]
# (executor, raw value, the field's path, info) -> the completed value (or an awaitable)
Complete = Callable[[Executor, Any, Path, "LazyInfo"], Any]
# raw value -> the completed value of a scalar or enum (raises like graphql-core)
CompleteLeaf = Callable[[Any], Any]

# Where a field sits: its parent's path, or the parent field's info, which builds that
# path only when something asks (errors, ``info.path``).
Parent = Any  # Path | LazyResolveInfo | CompiledInfo | None


class FieldPlan(Protocol):
    """What an info reads of its field's plan (``plans.FieldPlan``)."""

    field_def: GraphQLField
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType

    def path_in(self, parent: Parent) -> Path: ...


# Values that are certainly not awaitable: no need to ask.
PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


class LazyInfo:
    """The path and the real ``GraphQLResolveInfo`` of a field, built on first use,
    exactly as graphql-core would build them."""

    __slots__ = ("_executor", "_parent", "_path", "_plan", "_real")

    _executor: Executor
    _plan: FieldPlan
    _parent: Parent
    _path: Path | None
    _real: ResolveInfo | None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = self._plan.path_in(self._parent)
        return self._path

    def real(self) -> ResolveInfo:
        if self._real is None:
            f = self._plan
            self._real = self._executor.build_resolve_info(
                f.field_def, f.nodes, f.parent_type, self.path
            )
        return self._real


class LazyResolveInfo(LazyInfo):
    """Stands in for ``GraphQLResolveInfo``: the context is at hand; anything else comes
    from the real info."""

    __slots__ = ("context",)

    def __init__(self, executor: Executor, plan: FieldPlan, parent: Parent) -> None:
        self._executor = executor
        self._plan = plan
        self._parent = parent
        self._path = None
        self._real = None
        self.context = executor.context_value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


class CompiledInfo(LazyInfo, StrawberryInfo[Any, Any]):
    """Strawberry's ``Info`` for a resolver called directly, standing in for the lazy
    resolve info as well (one object instead of two): the context is an attribute, and
    everything else comes from the real resolve info."""

    context: Any = None  # an instance attribute here, not strawberry's property

    def __init__(
        self, executor: Executor, plan: FieldPlan, parent: Parent, field: StrawberryField
    ) -> None:
        self.context = executor.context_value
        self._field = field
        self._executor = executor
        self._plan = plan
        self._parent = parent
        self._path = None
        self._real = None

    @property
    def _raw_info(self) -> ResolveInfo:  # type: ignore[override]
        return self.real()
