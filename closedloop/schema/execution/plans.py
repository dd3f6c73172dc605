"""Field and selection plans, and the generated function that runs a selection's plain
fields inline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.types.field import StrawberryField

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
        "info_field",
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
        # Set when the fetch takes a ``CompiledInfo`` of this field as its info (strawberry's
        # ``Info`` and the lazy resolve info in one object: see ``_literal_arguments_fetch``).
        self.info_field: StrawberryField | None = None
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
        info: LazyResolveInfo | CompiledInfo | None = None
        if self.needs_info:
            field = self.info_field
            if field is None:
                info = LazyResolveInfo(ex, self, parent)
            else:
                info = CompiledInfo(ex, self, parent, field)
        try:
            result = self.fetch(ex, source, info)  # type: ignore[arg-type]
            if type(result) not in PLAIN and ex.is_awaitable(result):
                return self._complete_awaited(ex, result, info or LazyResolveInfo(ex, self, parent))
            if self.complete_leaf is not None:
                return self.complete_leaf(result)
            info = info or LazyResolveInfo(ex, self, parent)
            completed = self.complete(ex, result, info.path, info)
            if type(completed) not in PLAIN and ex.is_awaitable(completed):
                return self._await_completed(ex, completed, info.path)
        except Exception as raw_error:
            path = info.path if info is not None else self.path_in(parent)
            ex.handle_field_error(raw_error, self.return_type, self.details, path)
            return None
        return completed

    async def _complete_awaited(self, ex: Executor, result: Awaitable[Any], info: LazyInfo) -> Any:
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


def _no_complete(ex: Executor, result: Any, path: Path, info: LazyInfo) -> Any:  # pragma: no cover
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

    __slots__ = ("execute", "fields")

    def __init__(self, fields: Sequence[FieldPlan]) -> None:
        self.fields = tuple(fields)
        self.execute: Callable[[Executor, Any, Parent], Any] = _generate(fields)


_UNREAD: Any = object()  # an attribute that raised when read inline: its run handles it


def _generate(fields: Sequence[FieldPlan]) -> Callable[[Executor, Any, Parent], Any]:
    """The selection's ``execute`` as one generated function (see ``SelectionPlan``)."""
    namespace: dict[str, Any] = {
        "PLAIN": PLAIN,
        "_UNREAD": _UNREAD,
        "_gather_fields": _gather_fields,
        "_json": orjson.dumps,
        "_UTC": dt.UTC,
    }
    lines = ["def execute(ex, source, path):", "    awaiting = {}", "    try:", "        pass"]
    for index, plan in enumerate(fields):
        value, run, key = f"v{index}", f"run{index}", f"key{index}"
        namespace[run] = plan.run
        namespace[key] = plan.response_name
        slow = [
            f"            {value} = {run}(ex, source, path)",
            f"            if type({value}) not in PLAIN and ex.is_awaitable({value}):",
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
                # A UTC datetime (asyncpg's every timestamptz) is written by orjson, whose
                # RFC 3339 text is isoformat()'s for UTC (tests/schema/test_utc_iso.py) in a
                # third of the time: a nested page writes hundreds.
                text = f"{value}.isoformat()"
                if plan.iso_class is dt.datetime:
                    text = f"_json({value})[1:-1].decode() if {value}.tzinfo is _UTC else {text}"
                lines += [
                    f"        if type({value}) is {iso_class}:",
                    f"            {value} = {text}",
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
