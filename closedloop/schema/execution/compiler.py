"""``PlanCompiler``: turns one validated operation into a tree of field plans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    TypeNameMetaFieldDef,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    GroupedFieldSet,
    collect_subfields,
)
from graphql.execution.executor import invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE as CAST
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info as StrawberryInfo

from closedloop.schema.execution.infos import (
    PLAIN,
    CompiledInfo,
    Complete,
    CompleteLeaf,
    Executor,
    Fetch,
    LazyInfo,
    LazyResolveInfo,
)
from closedloop.schema.execution.memo import memo_plan
from closedloop.schema.execution.plans import FieldPlan, SelectionPlan
from closedloop.schema.execution.runs import (
    attribute_fetch,
    attribute_leaf_run,
    await_item,
    caller_of,
    close_awaitable,
    copier,
    definition_of,
    fresh,
    gather_items,
    generic_completer,
    has_variables,
    is_exactly,
    leaf_completer,
    mark_inline,
    method_run,
    non_null_message,
    plain_method,
    resolver_fetch,
)

new_tuple = tuple.__new__
CAST_ANY = {CAST: None}  # stands in for a missing ``__dict__``: reads as cast


class PlanCompiler:
    """Builds the plan of one operation; refuses (``None``) what it does not handle."""

    def __init__(self, ex: Executor) -> None:
        self.ex = ex
        self.schema: GraphQLSchema = ex.schema
        # Completers of an object type (or a non-null one) that complete an exact instance
        # of its class by ``run(ex, item, path)``: a list of them calls ``run`` itself.
        self._objects: dict[Complete, tuple[type, Callable[[Executor, Any, Path], Any]]] = {}
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
                plan.run = attribute_leaf_run(plan, plan.complete_leaf)
                mark_inline(plan)
            method = self._method(plan)
            if method is not None:
                plan.run = method_run(plan, *method, self._origin(plan.return_type))
            plans.append(plan)
        return SelectionPlan(plans)

    def _origin(self, return_type: GraphQLOutputType) -> type | None:
        """The Python class whose exact instances complete as this (nullable) object type
        without asking ``is_type_of`` (see ``is_exactly``); ``None`` otherwise."""
        if not is_object_type(return_type):
            return None
        definition = definition_of(return_type)
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
        definition = definition_of(field_def)
        has_args = bool(field_def.args or plan.details[0].node.arguments)
        if isinstance(definition, StrawberryField) and resolve is not None and not has_args:
            if getattr(resolve, "_is_default", False):
                return attribute_fetch(definition), False
            direct = self._direct_fetch(definition)
            if direct is not None:
                return direct, True
        if isinstance(definition, StrawberryField) and resolve is not None and has_args:
            literal = self._literal_arguments_fetch(plan, definition)
            if literal is not None:
                return literal, True
        return resolver_fetch(plan, resolve, has_args), True

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
            or any(has_variables(a.value) for a in plan.details[0].node.arguments or ())
        ):
            return None
        info_class = self.info_class
        assert info_class is not None  # _callable_directly checked
        call = caller_of(field)
        resolver_general = resolver_fetch(plan, plan.field_def.resolve, True)
        field_def = plan.field_def
        first = plan.details[0]
        converted: dict[str, Any] | None = None
        copy: Callable[[dict[str, Any]], dict[str, Any]] = fresh
        refused = False
        # With strawberry's own ``Info`` class, the plan hands this fetch a ``CompiledInfo``
        # (``FieldPlan.run_general``): the resolver's info without a second object per call.
        compiled = info_class is StrawberryInfo
        if compiled:
            plan.info_field = field

        def general(ex: Executor, source: Any, info: Any) -> Any:
            # strawberry's wrapper wants graphql-core's info, which a ``CompiledInfo`` is not
            if type(info) is CompiledInfo:
                info = LazyResolveInfo(ex, plan, info._parent)
            return resolver_general(ex, source, info)

        def fetch(ex: Executor, source: Any, info: Any) -> Any:
            nonlocal converted, copy, refused
            if refused:
                return general(ex, source, info)
            strawberry_info = info if compiled else info_class(_raw_info=info, _field=field)
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
                    fresh(converted)
                    copy = copier(converted)
                except Exception:
                    converted, refused = None, True
                    return general(ex, source, info)
            return call(source, strawberry_info, copy(converted))

        return fetch

    def _method(self, plan: FieldPlan) -> tuple[Callable[..., Any], StrawberryField] | None:
        """For the usual method resolver ``def f(self, info)`` that may be called directly
        with a ``CompiledInfo`` (strawberry's own ``Info`` class): the function and the
        field."""
        definition = definition_of(plan.field_def)
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
        func = plain_method(definition)
        return None if func is None else (func, definition)

    def _direct_fetch(self, field: StrawberryField) -> Fetch | None:
        """Call a resolver without arguments without strawberry's wrapper (see
        ``_callable_directly``)."""
        resolver = field.base_resolver
        info_class = self.info_class
        if not self._callable_directly(field) or resolver is None or resolver.arguments:
            return None
        assert info_class is not None  # _callable_directly checked
        func = plain_method(field)
        if func is not None:
            # The usual method resolver, ``def f(self, info)``: one positional call.
            return lambda ex, source, info: func(source, info_class(_raw_info=info, _field=field))
        call = caller_of(field)
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
            message = non_null_message(plan)

            def complete_non_null(result: Any) -> Any:
                if isinstance(result, Exception):
                    raise result
                completed = inner(result)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null
        if is_leaf_type(return_type):
            return leaf_completer(return_type)
        return None

    def _completer(self, plan: FieldPlan, return_type: GraphQLOutputType) -> Complete:
        if is_non_null_type(return_type):
            return self._non_null(plan, return_type)
        if is_list_type(return_type):
            return self._list(plan, return_type)
        if is_leaf_type(return_type):
            leaf = leaf_completer(return_type)
            return lambda ex, result, path, info: leaf(result)
        if is_object_type(return_type):
            return self._object(plan, return_type)
        if is_abstract_type(return_type):
            return generic_completer(plan, return_type)
        raise TypeError(f"unexpected output type {return_type}")  # pragma: no cover

    def _non_null(self, plan: FieldPlan, return_type: GraphQLNonNull[Any]) -> Complete:
        inner = self._completer(plan, return_type.of_type)
        message = non_null_message(plan)

        def complete(ex: Executor, result: Any, path: Path, info: LazyInfo) -> Any:
            if isinstance(result, Exception):
                raise result
            completed = inner(ex, result, path, info)
            if completed is None:
                raise TypeError(message)
            return completed

        # An exact instance completes to a dict or an awaitable, never None.
        if inner in self._objects:
            self._objects[complete] = self._objects[inner]
        return complete

    def _list(self, plan: FieldPlan, return_type: GraphQLList[Any]) -> Complete:
        item_type = return_type.of_type
        complete_item = self._completer(plan, item_type)
        generic = generic_completer(plan, return_type)
        details = plan.details
        # Items and completed values of these types are never awaitable (the item type's
        # own class has no ``__await__``: ``_origin``): no call to ``is_awaitable`` for them.
        origin = self._origin(get_nullable_type(item_type))
        synchronous = PLAIN if origin is None else PLAIN | {origin}
        # Items of the object type's own class complete by its ``run`` called here, without
        # the item completers' frames (a timeline's hundreds of events on a nested page).
        direct_class, direct_run = self._objects.get(complete_item, (None, None))

        def complete(ex: Executor, result: Any, path: Path, info: LazyInfo) -> Any:
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
                    # ``Path(path, index, None)`` without the named tuple's Python ``__new__``
                    item_path = new_tuple(Path, (path, index, None))
                    # ``is_exactly(item)`` inline (no ``__dict__``: not exactly, as there)
                    if type(item) is direct_class and CAST not in getattr(
                        item, "__dict__", CAST_ANY
                    ):
                        try:
                            value = direct_run(ex, item, item_path)  # type: ignore[misc]
                        except Exception as raw_error:
                            ex.handle_field_error(raw_error, item_type, details, item_path)
                            completed.append(None)
                            continue
                        if type(value) is not dict and is_awaitable(value):
                            value = await_item(ex, value, item_type, details, item_path)
                            pending.append(index)
                        completed.append(value)
                        continue
                    if type(item) not in synchronous and is_awaitable(item):
                        completed.append(
                            ex.complete_awaitable_list_item_value(
                                item, item_type, details, info.real(), item_path, None
                            )
                        )
                        pending.append(index)
                        continue
                    try:
                        value = complete_item(ex, item, item_path, info)
                        if type(value) not in PLAIN and is_awaitable(value):
                            value = await_item(ex, value, item_type, details, item_path)
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
            return gather_items(completed, pending)

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
        generic = generic_completer(plan, return_type)
        details = plan.details
        origin = self._origin(return_type)
        # A type whose objects say what they are made of: what that decides is kept.
        memo = memo_plan(origin, selection.fields, selection)
        run = memo.execute if memo is not None else selection.execute

        def complete(ex: Executor, result: Any, path: Path, info: LazyInfo) -> Any:
            if type(result) is origin and is_exactly(result):
                return run(ex, result, path)
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                return None
            if is_type_of is not None:
                matches = is_type_of(result, info)  # type: ignore[arg-type]
                if ex.is_awaitable(matches):
                    close_awaitable(matches)
                    return generic(ex, result, path, info)
                if not matches:
                    raise invalid_return_type_error(return_type, result, details)
            return selection.execute(ex, result, path)  # not the class itself: nothing kept

        if origin is not None:
            self._objects[complete] = (origin, run)
        return complete
