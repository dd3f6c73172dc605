"""How a planned field fetches and completes its value: argument copies, direct calls,
leaves, and the generic fallback to graphql-core."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import inspect
from collections.abc import Awaitable, Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLOutputType,
    GraphQLString,
    get_nullable_type,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
)
from graphql.execution.executor import Executor as GenericExecutor
from graphql.execution.values import get_argument_values
from graphql.language import (
    ListValueNode,
    Node,
    ObjectValueNode,
    VariableNode,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.base_scalars import isoformat
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UnsetType

from closedloop.schema.execution.infos import (
    PLAIN,
    CompiledInfo,
    Complete,
    CompleteLeaf,
    Executor,
    Fetch,
    LazyInfo,
    LazyResolveInfo,
    Parent,
)
from closedloop.schema.execution.plans import FieldPlan


class _NotCopied(Exception):
    """A converted argument value ``fresh`` does not know how to copy."""


_ATOMS = frozenset(
    {str, int, float, bool, type(None), dt.datetime, dt.date, dt.time, decimal.Decimal, UnsetType}
)


def fresh(value: Any) -> Any:
    """A copy of converted argument values: lists, dicts and strawberry input objects are
    new, plain values are shared; raises ``_NotCopied`` for anything else."""
    kind = type(value)
    if kind in _ATOMS or isinstance(value, enum.Enum):
        return value
    if kind is list:
        return [fresh(item) for item in value]
    if kind is dict:
        return {key: fresh(item) for key, item in value.items()}
    definition = getattr(kind, "__strawberry_definition__", None)
    if (
        isinstance(definition, StrawberryObjectDefinition)
        and definition.is_input
        and definition.from_input is None
        and hasattr(value, "__dict__")
    ):
        copy = object.__new__(kind)
        copy.__dict__.update({key: fresh(item) for key, item in value.__dict__.items()})
        return copy
    raise _NotCopied(kind.__name__)


def copier(arguments: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What ``fresh`` does for these converted arguments, the quickest way: a shallow copy
    when every value is plain (``first: 100``: nothing inside could be changed)."""
    if all(type(v) in _ATOMS or isinstance(v, enum.Enum) for v in arguments.values()):
        return dict.copy
    return fresh


def has_variables(node: Node) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(has_variables(item) for item in node.values)
    if isinstance(node, ObjectValueNode):
        return any(has_variables(item.value) for item in node.fields)
    return False


def plain_method(field: StrawberryField) -> Callable[..., Any] | None:
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


def caller_of(field: StrawberryField) -> Callable[[Any, Any, dict[str, Any]], Any]:
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
    # What ``StrawberryResolver.__call__`` calls, without its frame (it only checks that
    # the function is callable: otherwise it is left to raise its own error).
    func = resolver.wrapped_func if callable(resolver.wrapped_func) else resolver

    def call(source: Any, info: Any, kwargs: dict[str, Any]) -> Any:
        if source_names:
            kwargs.update(dict.fromkeys(source_names, source))
        if info_name is not None:
            kwargs[info_name] = info
        return func(source, **kwargs) if passes_self else func(**kwargs)

    return call


def definition_of(graphql: GraphQLField | GraphQLOutputType) -> Any:
    """The strawberry definition behind a graphql-core field or type, if any."""
    return (getattr(graphql, "extensions", None) or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)


def is_exactly(result: Any) -> bool:
    """An instance of the type's own class answers ``is_type_of`` with yes, unless
    ``strawberry.cast`` marked it as something else."""
    attributes = getattr(result, "__dict__", None)
    return attributes is not None and TYPE_CAST_ATTRIBUTE not in attributes


# strawberry's own scalars that it writes with ``value.isoformat()``
_ISO_CLASSES: dict[str, type] = {"DateTime": dt.datetime, "Date": dt.date, "Time": dt.time}


def mark_inline(plan: FieldPlan) -> None:
    """A string, enum or date/time attribute read with ``getattr`` can be read inline."""
    definition = definition_of(plan.field_def)
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


def method_run(
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
                if type(result) is origin and is_exactly(result):
                    completed = selection.execute(ex, result, info)
                    if type(completed) is not dict:
                        return plan._await_completed(ex, completed, info.path)
                    return completed
            if type(result) not in PLAIN and ex.is_awaitable(result):
                return plan._complete_awaited(ex, result, info)
            if complete_leaf is not None:
                return complete_leaf(result)
            completed = complete(ex, result, info.path, info)
            if type(completed) not in PLAIN and ex.is_awaitable(completed):
                return plan._await_completed(ex, completed, info.path)
        except Exception as raw_error:
            ex.handle_field_error(raw_error, return_type, details, info.path)
            return None
        return completed

    return run


def attribute_leaf_run(
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
            if type(value) not in PLAIN and ex.is_awaitable(value):
                return plan._complete_awaited(ex, value, LazyResolveInfo(ex, plan, parent))
            return complete_leaf(value)
        except Exception as raw_error:
            ex.handle_field_error(raw_error, plan.return_type, plan.details, plan.path_in(parent))
            return None

    return run


def non_null_message(plan: FieldPlan) -> str:
    return (
        f"Cannot return null for non-nullable field {plan.parent_type}.{plan.nodes[0].name.value}."
    )


def attribute_fetch(field: StrawberryField) -> Fetch:
    """A field without a resolver: the attribute of the source (strawberry's default)."""
    name = field.python_name
    default = field.default_resolver
    if default is getattr:
        read = attrgetter(name)
        return lambda ex, source, info: read(source)
    return lambda ex, source, info: default(source, name)


def resolver_fetch(plan: FieldPlan, resolve: Any, has_args: bool) -> Fetch:
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


def leaf_completer(return_type: GraphQLLeafType) -> CompleteLeaf:
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


def generic_completer(plan: FieldPlan, return_type: GraphQLOutputType) -> Complete:
    """graphql-core's own completion for this value (abstract types and the rare cases)."""
    details = plan.details

    def complete(ex: Executor, result: Any, path: Path, info: LazyInfo) -> Any:
        return ex.complete_value(return_type, details, info.real(), path, result, None)

    return complete


async def await_item(
    ex: Executor, value: Awaitable[Any], item_type: Any, details: FieldDetailsList, path: Path
) -> Any:
    try:
        return await value
    except Exception as raw_error:
        ex.handle_field_error(raw_error, item_type, details, path)
        return None


async def gather_items(completed: list[Any], pending: list[int]) -> list[Any]:
    if len(pending) == 1:
        completed[pending[0]] = await completed[pending[0]]
    else:
        values = await gather_with_cancel(*(completed[i] for i in pending))
        for index, value in zip(pending, values, strict=True):
            completed[index] = value
    return completed


def close_awaitable(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
