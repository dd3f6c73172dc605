"""A compiled fast path for query execution, in the spirit of graphql-jit.

graphql-core completes every field of every object through the same generic code: it looks
the field up, builds a ``GraphQLResolveInfo`` and a ``Path``, goes through strawberry's
resolver wrapper (which builds an ``Info`` and converts arguments), and inspects the return
type at each level. A page of 50 issues has ~900 fields, and that machinery was most of
its CPU time.

``CompiledExecutor`` compiles a validated query once (per schema and operation node; the
parser cache hands back the same document for the same text) into a tree of field plans:
each field knows how to fetch its value and how to complete it for its return type. Plain
attributes are read directly, resolvers without arguments are called directly, any other
resolver goes through its usual (strawberry) wrapper with the same arguments, so every
check in resolvers and services still runs. The info object is built only when a resolver
reads more than its ``context``.

It runs on the executor itself and falls back to graphql-core's code for anything it does
not compile: mutations and subscriptions, documents with directives (``@skip``,
``@include``, ``@defer``, …), middleware, an abort signal, abstract types (interfaces and
unions complete through graphql-core below that field), values that are not lists where a
list is expected, awaitable ``is_type_of`` results. Errors are located, nulled and
propagated exactly as graphql-core does it (its own ``handle_field_error``), so responses
are identical; ``tests/api/test_compiled_execution.py`` checks that over many queries.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import inspect
from collections.abc import Awaitable, Callable, Sequence
from operator import attrgetter
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationType,
    TypeNameMetaFieldDef,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    DeferUsage,
    FieldDetailsList,
    GroupedFieldSet,
    collect_subfields,
)
from graphql.execution.executor import Executor as GenericExecutor
from graphql.execution.executor import invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.language import (
    FragmentDefinitionNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.base_scalars import isoformat
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info as StrawberryInfo
from strawberry.types.unset import UnsetType

MAX_PLANS = 512

Executor = GenericExecutor[Any]
ResolveInfo = GraphQLResolveInfo[Any]

# (executor, source, info) -> the field's raw value (or an awaitable of it)
Fetch = Callable[[Executor, Any, "LazyResolveInfo"], Any]
# (executor, raw value, the field's path, info) -> the completed value (or an awaitable)
Complete = Callable[[Executor, Any, Path, "_LazyInfo"], Any]
# raw value -> the completed value of a scalar or enum (raises like graphql-core)
CompleteLeaf = Callable[[Any], Any]

# Where a field sits: its parent's path, or the parent field's info, which builds that
# path only when something asks (errors, ``info.path``).
Parent = Any  # Path | LazyResolveInfo | CompiledInfo | None

# Values that are certainly not awaitable: no need to ask.
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})


class _LazyInfo:
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


class LazyResolveInfo(_LazyInfo):
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


class CompiledInfo(_LazyInfo, StrawberryInfo[Any, Any]):
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


class FieldPlan:
    """One response key of an object's selection: how to fetch and complete it."""

    __slots__ = (
        "attribute",
        "complete",
        "complete_leaf",
        "details",
        "enum_names",
        "fetch",
        "field_def",
        "iso_class",
        "needs_info",
        "nodes",
        "parent_type",
        "response_name",
        "return_type",
        "run",
        "selection",
    )

    def __init__(
        self,
        response_name: str,
        parent_type: GraphQLObjectType,
        field_def: GraphQLField,
        details: FieldDetailsList,
    ) -> None:
        self.response_name = response_name
        self.parent_type = parent_type
        self.field_def = field_def
        self.details = details
        self.nodes = [d.node for d in details]
        self.return_type: GraphQLOutputType = field_def.type
        self.fetch: Fetch = _no_fetch
        self.needs_info = True
        self.complete: Complete = _no_complete
        # Set for scalars and enums: completed from the value alone.
        self.complete_leaf: CompleteLeaf | None = None
        # Set for a plain attribute of a string, enum or date/time type: the generated
        # selection reads it inline (``source.<attribute>``) and falls back to ``run``.
        self.attribute: str | None = None
        self.enum_names: dict[Any, Any] | None = None
        # Set for strawberry's Date, DateTime and Time: the class written with isoformat().
        self.iso_class: type | None = None
        # Set for an object type: the selection its values complete into.
        self.selection: SelectionPlan | None = None
        # How the field runs: the general way, or a shortcut chosen when compiling.
        self.run: Callable[[Executor, Any, Parent], Any] = self.run_general

    def path_in(self, parent: Parent) -> Path:
        if parent is not None and type(parent) is not Path:
            parent = parent.path
        return Path(parent, self.response_name, self.parent_type.name)

    def run_general(self, ex: Executor, source: Any, parent: Parent) -> Any:
        """The completed value of this field on ``source`` (graphql-core's
        ``execute_field``). Paths and infos are built only when something needs them."""
        info = LazyResolveInfo(ex, self, parent) if self.needs_info else None
        try:
            result = self.fetch(ex, source, info)  # type: ignore[arg-type]
            if type(result) not in _PLAIN and ex.is_awaitable(result):
                return self._complete_awaited(ex, result, info or LazyResolveInfo(ex, self, parent))
            if self.complete_leaf is not None:
                return self.complete_leaf(result)
            info = info or LazyResolveInfo(ex, self, parent)
            completed = self.complete(ex, result, info.path, info)
            if type(completed) not in _PLAIN and ex.is_awaitable(completed):
                return self._await_completed(ex, completed, info.path)
        except Exception as raw_error:
            path = info.path if info is not None else self.path_in(parent)
            ex.handle_field_error(raw_error, self.return_type, self.details, path)
            return None
        return completed

    async def _complete_awaited(self, ex: Executor, result: Awaitable[Any], info: _LazyInfo) -> Any:
        try:
            value = await result
            if self.complete_leaf is not None:
                return self.complete_leaf(value)
            completed = self.complete(ex, value, info.path, info)
            if ex.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            ex.handle_field_error(raw_error, self.return_type, self.details, info.path)
            completed = None
        return completed

    async def _await_completed(self, ex: Executor, completed: Awaitable[Any], path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            ex.handle_field_error(raw_error, self.return_type, self.details, path)
            return None


def _no_fetch(ex: Executor, source: Any, info: LazyResolveInfo) -> Any:  # pragma: no cover
    raise AssertionError("field plan not compiled")


def _no_complete(ex: Executor, result: Any, path: Path, info: _LazyInfo) -> Any:  # pragma: no cover
    raise AssertionError("field plan not compiled")


class SelectionPlan:
    """The fields of one object type's selection, in response order.

    ``execute`` is generated Python for this selection (one function per selection, built
    once per plan): string, enum and date/time attributes are read inline, every other field calls
    its ``run``. A value that is not plainly a string (or a member of the enum) goes
    through the field's ``run``, which reads it again and handles it the general way
    (awaitables, coercion, errors); reading an attribute has no side effect. Like
    graphql-core's ``execute_fields``, it returns a dict, or an awaitable of it when some
    field is asynchronous (those run concurrently)."""

    __slots__ = ("execute",)

    def __init__(self, fields: Sequence[FieldPlan]) -> None:
        self.execute: Callable[[Executor, Any, Parent], Any] = _generate(fields)


_UNREAD: Any = object()  # an attribute that raised when read inline: its run handles it


def _generate(fields: Sequence[FieldPlan]) -> Callable[[Executor, Any, Parent], Any]:
    """The selection's ``execute`` as one generated function (see ``SelectionPlan``)."""
    namespace: dict[str, Any] = {
        "_PLAIN": _PLAIN,
        "_UNREAD": _UNREAD,
        "_gather_fields": _gather_fields,
    }
    lines = ["def execute(ex, source, path):", "    awaiting = {}", "    try:", "        pass"]
    for index, plan in enumerate(fields):
        value, run, key = f"v{index}", f"run{index}", f"key{index}"
        namespace[run] = plan.run
        namespace[key] = plan.response_name
        slow = [
            f"            {value} = {run}(ex, source, path)",
            f"            if type({value}) not in _PLAIN and ex.is_awaitable({value}):",
            f"                awaiting[{key}] = {value}",
        ]
        if plan.attribute is not None and plan.attribute.isidentifier():
            lines += [
                "        try:",
                f"            {value} = source.{plan.attribute}",
                "        except Exception:",
                f"            {value} = _UNREAD",
            ]
            if plan.iso_class is not None:
                iso_class = f"iso{index}"
                namespace[iso_class] = plan.iso_class
                lines += [
                    f"        if type({value}) is {iso_class}:",
                    f"            {value} = {value}.isoformat()",
                    "        else:",
                ]
            elif plan.enum_names is None:
                lines.append(f"        if type({value}) is not str:")
            else:
                names, enum_class = f"names{index}", f"enum{index}"
                namespace[names] = plan.enum_names
                namespace[enum_class] = type(next(iter(plan.enum_names)))
                lines += [
                    f"        if type({value}) is {enum_class}:",
                    f"            {value} = {names}[{value}]",
                    "        else:",
                ]
            lines += slow
        else:
            lines += [line[4:] for line in slow]
    lines += [
        "    except Exception:",
        "        if awaiting:",
        "            ex.settle_in_background(list(awaiting.values()))",
        "        raise",
        "    results = {" + ", ".join(f"key{i}: v{i}" for i in range(len(fields))) + "}",
        "    if not awaiting:",
        "        return results",
        "    return _gather_fields(results, list(awaiting))",
    ]
    exec(compile("\n".join(lines), "<closedloop compiled selection>", "exec"), namespace)
    execute: Callable[[Executor, Any, Parent], Any] = namespace["execute"]
    return execute


async def _gather_fields(results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
    if len(pending) == 1:
        results[pending[0]] = await results[pending[0]]
    else:
        values = await gather_with_cancel(*(results[name] for name in pending))
        results.update(zip(pending, values, strict=True))
    return results


class PlanCompiler:
    """Builds the plan of one operation; refuses (``None``) what it does not handle."""

    def __init__(self, ex: Executor) -> None:
        self.ex = ex
        self.schema: GraphQLSchema = ex.schema
        converter = getattr(self.schema, "_strawberry_schema", None)
        converter = getattr(converter, "schema_converter", None)
        # Resolvers are called directly only when no field exception handler could
        # apply; unknown strawberry internals mean: always go through its wrapper.
        self.direct_calls = getattr(converter, "_exception_handler_specs", None) == ()
        self.info_class = getattr(getattr(converter, "config", None), "info_class", None)
        self.converter: GraphQLCoreConverter | None = (
            converter if isinstance(converter, GraphQLCoreConverter) else None
        )

    def root(self, root_type: GraphQLObjectType, fields: GroupedFieldSet) -> SelectionPlan:
        return self._selection(root_type, fields)

    def _selection(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> SelectionPlan:
        plans = []
        for response_name, details in fields.items():
            field_name = details[0].node.name.value
            field_def = self.schema.get_field(parent_type, field_name)
            if field_def is None:  # pragma: no cover (validation rejects unknown fields)
                continue
            plan = FieldPlan(response_name, parent_type, field_def, details)
            plan.fetch, plan.needs_info = self._fetch(plan)
            plan.complete_leaf = self._leaf_completer(plan, plan.return_type)
            if plan.complete_leaf is None:
                plan.complete = self._completer(plan, plan.return_type)
            elif not plan.needs_info:
                plan.run = _attribute_leaf_run(plan, plan.complete_leaf)
                _mark_inline(plan)
            method = self._method(plan)
            if method is not None:
                plan.run = _method_run(plan, *method, self._origin(plan.return_type))
            plans.append(plan)
        return SelectionPlan(plans)

    def _origin(self, return_type: GraphQLOutputType) -> type | None:
        """The Python class whose exact instances complete as this (nullable) object type
        without asking ``is_type_of`` (see ``_is_exactly``); ``None`` otherwise."""
        if not is_object_type(return_type):
            return None
        definition = _definition(return_type)
        origin = getattr(definition, "origin", None)
        if not isinstance(origin, type) or hasattr(origin, "__await__"):
            return None
        return origin

    # --- fetching -------------------------------------------------------------------

    def _fetch(self, plan: FieldPlan) -> tuple[Fetch, bool]:
        """How to get the raw value, and whether that needs the info."""
        field_def = plan.field_def
        if field_def is TypeNameMetaFieldDef:
            name = plan.parent_type.name
            return (lambda ex, source, info: name), False
        resolve = field_def.resolve
        definition = _definition(field_def)
        has_args = bool(field_def.args or plan.details[0].node.arguments)
        if isinstance(definition, StrawberryField) and resolve is not None and not has_args:
            if getattr(resolve, "_is_default", False):
                return _attribute_fetch(definition), False
            direct = self._direct_fetch(definition)
            if direct is not None:
                return direct, True
        if isinstance(definition, StrawberryField) and resolve is not None and has_args:
            literal = self._literal_arguments_fetch(plan, definition)
            if literal is not None:
                return literal, True
        return _resolver_fetch(plan, resolve, has_args), True

    def _callable_directly(self, field: StrawberryField) -> bool:
        """Whether strawberry's wrapper around this resolver would do nothing but build
        ``Info`` and convert arguments (no extensions, permissions or handlers)."""
        return (
            self.direct_calls
            and self.info_class is not None
            and field.base_resolver is not None
            and not field.extensions
            and not field.is_subscription
        )

    def _literal_arguments_fetch(self, plan: FieldPlan, field: StrawberryField) -> Fetch | None:
        """A resolver whose arguments are literals in the query (no variables): strawberry
        converts them to Python values (input objects, enums) on every call, the same each
        time. Here they are converted once per plan, and each call gets its own copy of
        them, so a resolver may still change what it was given. Anything the copy does not
        know (an input type that builds its own value, a global id, ...) and any argument
        error go through strawberry's wrapper every time, as before."""
        converter = self.converter
        if (
            not self._callable_directly(field)
            or converter is None
            or getattr(plan.field_def.resolve, "_is_default", False)
            or any(_has_variables(a.value) for a in plan.details[0].node.arguments or ())
        ):
            return None
        info_class = self.info_class
        assert info_class is not None  # _callable_directly checked
        call = _caller(field)
        general = _resolver_fetch(plan, plan.field_def.resolve, True)
        field_def = plan.field_def
        first = plan.details[0]
        converted: dict[str, Any] | None = None
        refused = False

        def fetch(ex: Executor, source: Any, info: LazyResolveInfo) -> Any:
            nonlocal converted, refused
            if refused:
                return general(ex, source, info)
            strawberry_info = info_class(_raw_info=info, _field=field)
            if converted is None:
                try:
                    values = get_argument_values(
                        field_def,
                        first.node,
                        ex.variable_values,
                        first.fragment_variable_values,
                        ex.hide_suggestions,
                    )
                    converted = convert_arguments(
                        values,
                        field.arguments,
                        scalar_registry=converter.scalar_registry,
                        config=converter.config,
                        info=strawberry_info,
                    )
                    _fresh(converted)
                except Exception:
                    converted, refused = None, True
                    return general(ex, source, info)
            return call(source, strawberry_info, _fresh(converted))

        return fetch

    def _method(self, plan: FieldPlan) -> tuple[Callable[..., Any], StrawberryField] | None:
        """For the usual method resolver ``def f(self, info)`` that may be called directly
        with a ``CompiledInfo`` (strawberry's own ``Info`` class): the function and the
        field."""
        definition = _definition(plan.field_def)
        if (
            not isinstance(definition, StrawberryField)
            or plan.field_def.resolve is None
            or plan.field_def.args
            or plan.details[0].node.arguments
            or getattr(plan.field_def.resolve, "_is_default", False)
            or self.info_class is not StrawberryInfo
            or not self._callable_directly(definition)
        ):
            return None
        func = _plain_method(definition)
        return None if func is None else (func, definition)

    def _direct_fetch(self, field: StrawberryField) -> Fetch | None:
        """Call a resolver without arguments without strawberry's wrapper (see
        ``_callable_directly``)."""
        resolver = field.base_resolver
        info_class = self.info_class
        if not self._callable_directly(field) or resolver is None or resolver.arguments:
            return None
        assert info_class is not None  # _callable_directly checked
        func = _plain_method(field)
        if func is not None:
            # The usual method resolver, ``def f(self, info)``: one positional call.
            return lambda ex, source, info: func(source, info_class(_raw_info=info, _field=field))
        call = _caller(field)
        return lambda ex, source, info: call(source, info_class(_raw_info=info, _field=field), {})

    # --- completing -----------------------------------------------------------------

    def _leaf_completer(
        self, plan: FieldPlan, return_type: GraphQLOutputType
    ) -> CompleteLeaf | None:
        """For a scalar or enum (or a non-null one), completion from the value alone."""
        if is_non_null_type(return_type):
            inner = self._leaf_completer(plan, return_type.of_type)
            if inner is None:
                return None
            message = _non_null_message(plan)

            def complete_non_null(result: Any) -> Any:
                if isinstance(result, Exception):
                    raise result
                completed = inner(result)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null
        if is_leaf_type(return_type):
            return _leaf(return_type)
        return None

    def _completer(self, plan: FieldPlan, return_type: GraphQLOutputType) -> Complete:
        if is_non_null_type(return_type):
            return self._non_null(plan, return_type)
        if is_list_type(return_type):
            return self._list(plan, return_type)
        if is_leaf_type(return_type):
            leaf = _leaf(return_type)
            return lambda ex, result, path, info: leaf(result)
        if is_object_type(return_type):
            return self._object(plan, return_type)
        if is_abstract_type(return_type):
            return _generic(plan, return_type)
        raise TypeError(f"unexpected output type {return_type}")  # pragma: no cover

    def _non_null(self, plan: FieldPlan, return_type: GraphQLNonNull[Any]) -> Complete:
        inner = self._completer(plan, return_type.of_type)
        message = _non_null_message(plan)

        def complete(ex: Executor, result: Any, path: Path, info: _LazyInfo) -> Any:
            if isinstance(result, Exception):
                raise result
            completed = inner(ex, result, path, info)
            if completed is None:
                raise TypeError(message)
            return completed

        return complete

    def _list(self, plan: FieldPlan, return_type: GraphQLList[Any]) -> Complete:
        item_type = return_type.of_type
        complete_item = self._completer(plan, item_type)
        generic = _generic(plan, return_type)
        details = plan.details

        def complete(ex: Executor, result: Any, path: Path, info: _LazyInfo) -> Any:
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                return None
            if type(result) is not list and type(result) is not tuple:
                return generic(ex, result, path, info)  # iterables, async iterables, errors
            is_awaitable = ex.is_awaitable
            completed: list[Any] = []
            pending: list[int] = []
            try:
                for index, item in enumerate(result):
                    item_path = Path(path, index, None)
                    if is_awaitable(item):
                        completed.append(
                            ex.complete_awaitable_list_item_value(
                                item, item_type, details, info.real(), item_path, None
                            )
                        )
                        pending.append(index)
                        continue
                    try:
                        value = complete_item(ex, item, item_path, info)
                        if is_awaitable(value):
                            value = _await_item(ex, value, item_type, details, item_path)
                            pending.append(index)
                        completed.append(value)
                    except Exception as raw_error:
                        ex.handle_field_error(raw_error, item_type, details, item_path)
                        completed.append(None)
            except Exception:
                if pending:
                    ex.settle_in_background([completed[i] for i in pending])
                raise
            if not pending:
                return completed
            return _gather_items(completed, pending)

        return complete

    def _object(self, plan: FieldPlan, return_type: GraphQLObjectType) -> Complete:
        collected = collect_subfields(
            self.schema,
            self.ex.fragments,
            self.ex.variable_values,
            self.ex.operation,
            return_type,
            plan.details,
            self.ex.hide_suggestions,
        )
        grouped_field_set, _defer_usages, _forbidden = collected
        selection = self._selection(return_type, grouped_field_set)
        plan.selection = selection
        is_type_of = return_type.is_type_of
        generic = _generic(plan, return_type)
        details = plan.details
        origin = self._origin(return_type)

        def complete(ex: Executor, result: Any, path: Path, info: _LazyInfo) -> Any:
            if type(result) is origin and _is_exactly(result):
                return selection.execute(ex, result, path)
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                return None
            if is_type_of is not None:
                matches = is_type_of(result, info)  # type: ignore[arg-type]
                if ex.is_awaitable(matches):
                    _close(matches)
                    return generic(ex, result, path, info)
                if not matches:
                    raise invalid_return_type_error(return_type, result, details)
            return selection.execute(ex, result, path)

        return complete


class _NotCopied(Exception):
    """A converted argument value ``_fresh`` does not know how to copy."""


_ATOMS = frozenset(
    {str, int, float, bool, type(None), dt.datetime, dt.date, dt.time, decimal.Decimal, UnsetType}
)


def _fresh(value: Any) -> Any:
    """A copy of converted argument values: lists, dicts and strawberry input objects are
    new, plain values are shared; raises ``_NotCopied`` for anything else."""
    kind = type(value)
    if kind in _ATOMS or isinstance(value, enum.Enum):
        return value
    if kind is list:
        return [_fresh(item) for item in value]
    if kind is dict:
        return {key: _fresh(item) for key, item in value.items()}
    definition = getattr(kind, "__strawberry_definition__", None)
    if (
        isinstance(definition, StrawberryObjectDefinition)
        and definition.is_input
        and definition.from_input is None
        and hasattr(value, "__dict__")
    ):
        copy = object.__new__(kind)
        copy.__dict__.update({key: _fresh(item) for key, item in value.__dict__.items()})
        return copy
    raise _NotCopied(kind.__name__)


def _has_variables(node: Node) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_has_variables(item) for item in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_has_variables(item.value) for item in node.fields)
    return False


def _plain_method(field: StrawberryField) -> Callable[..., Any] | None:
    """The function of a resolver written ``def f(self, info)``, else ``None``."""
    resolver = field.base_resolver
    if resolver is None or resolver.self_parameter is None or resolver.info_parameter is None:
        return None
    func = resolver.wrapped_func
    parameters = list(resolver.signature.parameters.values())
    if (
        callable(func)
        and resolver.parent_parameter is None
        and resolver.root_parameter is None
        and [p.name for p in parameters[1:]] == [resolver.info_parameter.name]
        and parameters[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        return func
    return None


def _caller(field: StrawberryField) -> Callable[[Any, Any, dict[str, Any]], Any]:
    """Calls the field's resolver as strawberry's wrapper would: the source as ``self``,
    ``root`` or ``parent`` and the info where its signature asks for them, plus the given
    (converted) arguments."""
    resolver = field.base_resolver
    assert resolver is not None
    passes_self = resolver.self_parameter is not None
    source_names = [
        p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None
    ]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def call(source: Any, info: Any, kwargs: dict[str, Any]) -> Any:
        kwargs.update(dict.fromkeys(source_names, source))
        if info_name is not None:
            kwargs[info_name] = info
        return resolver(source, **kwargs) if passes_self else resolver(**kwargs)

    return call


def _definition(graphql: GraphQLField | GraphQLOutputType) -> Any:
    """The strawberry definition behind a graphql-core field or type, if any."""
    return (getattr(graphql, "extensions", None) or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def _is_exactly(result: Any) -> bool:
    """An instance of the type's own class answers ``is_type_of`` with yes, unless
    ``strawberry.cast`` marked it as something else."""
    attributes = getattr(result, "__dict__", None)
    return attributes is not None and TYPE_CAST_ATTRIBUTE not in attributes


# strawberry's own scalars that it writes with ``value.isoformat()``
_ISO_CLASSES: dict[str, type] = {"DateTime": dt.datetime, "Date": dt.date, "Time": dt.time}


def _mark_inline(plan: FieldPlan) -> None:
    """A string, enum or date/time attribute read with ``getattr`` can be read inline."""
    definition = _definition(plan.field_def)
    if not isinstance(definition, StrawberryField) or definition.default_resolver is not getattr:
        return
    named = get_nullable_type(plan.return_type)
    if named is GraphQLString or named is GraphQLID:
        plan.attribute = definition.python_name
        return
    iso_class = _ISO_CLASSES.get(getattr(named, "name", ""))
    if iso_class is not None and getattr(named, "coerce_output_value", None) is isoformat:
        plan.attribute = definition.python_name
        plan.iso_class = iso_class
        return
    enum_class = getattr(named, "wrapped_cls", None)
    if isinstance(named, GraphQLEnumType) and isinstance(enum_class, enum.EnumMeta):
        members = list[Any](enum_class)
        if members:
            plan.attribute = definition.python_name
            plan.enum_names = {member: named.coerce_output_value(member) for member in members}


def _method_run(
    plan: FieldPlan,
    func: Callable[..., Any],
    field: StrawberryField,
    origin: type | None,
) -> Callable[[Executor, Any, Parent], Any]:
    """A field whose resolver is ``def f(self, info)``, called directly; a result that is
    an exact instance of the nullable object type's class completes straight into its
    selection. Anything else completes the general way."""
    return_type = plan.return_type
    details = plan.details
    complete_leaf = plan.complete_leaf
    complete = plan.complete
    selection = plan.selection if origin is not None else None

    def run(ex: Executor, source: Any, parent: Parent) -> Any:
        info = CompiledInfo(ex, plan, parent, field)
        try:
            result = func(source, info)
            if selection is not None:
                if result is None:
                    return None
                if type(result) is origin and _is_exactly(result):
                    completed = selection.execute(ex, result, info)
                    if type(completed) is not dict:
                        return plan._await_completed(ex, completed, info.path)
                    return completed
            if type(result) not in _PLAIN and ex.is_awaitable(result):
                return plan._complete_awaited(ex, result, info)
            if complete_leaf is not None:
                return complete_leaf(result)
            completed = complete(ex, result, info.path, info)
            if type(completed) not in _PLAIN and ex.is_awaitable(completed):
                return plan._await_completed(ex, completed, info.path)
        except Exception as raw_error:
            ex.handle_field_error(raw_error, return_type, details, info.path)
            return None
        return completed

    return run


def _attribute_leaf_run(
    plan: FieldPlan, complete_leaf: CompleteLeaf
) -> Callable[[Executor, Any, Parent], Any]:
    """The commonest field, a scalar attribute, without the general path's bookkeeping."""
    fetch = plan.fetch
    named = get_nullable_type(plan.return_type)
    strings = named is GraphQLString or named is GraphQLID

    def run(ex: Executor, source: Any, parent: Parent) -> Any:
        try:
            value = fetch(ex, source, None)  # type: ignore[arg-type]
            if strings and type(value) is str:
                return value
            if type(value) not in _PLAIN and ex.is_awaitable(value):
                return plan._complete_awaited(ex, value, LazyResolveInfo(ex, plan, parent))
            return complete_leaf(value)
        except Exception as raw_error:
            ex.handle_field_error(raw_error, plan.return_type, plan.details, plan.path_in(parent))
            return None

    return run


def _non_null_message(plan: FieldPlan) -> str:
    return (
        f"Cannot return null for non-nullable field {plan.parent_type}.{plan.nodes[0].name.value}."
    )


def _attribute_fetch(field: StrawberryField) -> Fetch:
    """A field without a resolver: the attribute of the source (strawberry's default)."""
    name = field.python_name
    default = field.default_resolver
    if default is getattr:
        read = attrgetter(name)
        return lambda ex, source, info: read(source)
    return lambda ex, source, info: default(source, name)


def _resolver_fetch(plan: FieldPlan, resolve: Any, has_args: bool) -> Fetch:
    """Any other field: its resolver as graphql-core calls it, with its arguments."""
    field_def = plan.field_def
    first = plan.details[0]

    def fetch(ex: Executor, source: Any, info: LazyResolveInfo) -> Any:
        resolve_fn = resolve or ex.field_resolver
        if not has_args:
            return resolve_fn(source, info)
        args = get_argument_values(
            field_def,
            first.node,
            ex.variable_values,
            first.fragment_variable_values,
            ex.hide_suggestions,
        )
        return resolve_fn(source, info, **args)

    return fetch


def _leaf(return_type: GraphQLLeafType) -> CompleteLeaf:
    coerce = return_type.coerce_output_value
    strings = return_type is GraphQLString or return_type is GraphQLID
    # Enum members map to their names through a dict, not strawberry's linear scan. (An
    # enum class with members has no subclasses: the type test is the isinstance test.)
    enum_class = getattr(return_type, "wrapped_cls", None)
    names: dict[Any, Any] = {}
    if isinstance(return_type, GraphQLEnumType) and isinstance(enum_class, enum.EnumMeta):
        names = {member: coerce(member) for member in list[Any](enum_class)}

    def complete(result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        if strings and type(result) is str:
            return result
        if names and type(result) is enum_class:
            return names[result]
        coerced = coerce(result)
        if coerced is None or coerced is Undefined:
            # graphql-core's own completion raises the error it would raise
            return GenericExecutor.complete_leaf_value(return_type, result)
        return coerced

    return complete


def _generic(plan: FieldPlan, return_type: GraphQLOutputType) -> Complete:
    """graphql-core's own completion for this value (abstract types and the rare cases)."""
    details = plan.details

    def complete(ex: Executor, result: Any, path: Path, info: _LazyInfo) -> Any:
        return ex.complete_value(return_type, details, info.real(), path, result, None)

    return complete


async def _await_item(
    ex: Executor, value: Awaitable[Any], item_type: Any, details: FieldDetailsList, path: Path
) -> Any:
    try:
        return await value
    except Exception as raw_error:
        ex.handle_field_error(raw_error, item_type, details, path)
        return None


async def _gather_items(completed: list[Any], pending: list[int]) -> list[Any]:
    if len(pending) == 1:
        completed[pending[0]] = await completed[pending[0]]
    else:
        values = await gather_with_cancel(*(completed[i] for i in pending))
        for index, value in zip(pending, values, strict=True):
            completed[index] = value
    return completed


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


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
_plans: dict[tuple[int, int], tuple[GraphQLSchema, OperationDefinitionNode, SelectionPlan]] = {}


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
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
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
