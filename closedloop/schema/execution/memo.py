"""Completed selections kept per object: the part of an object's selection that its memo
key decides, completed once per (selection, key) and reused by every request that selects
the same on an object with the same key.

Why: a kept dashboard (``services.evaluation.dashboard_cache``) is served to many requests,
and completing its ~1,000 fields again for each was most of a hit's CPU after its one
statement (bench/RESULTS.md, "Province dashboard at 16 concurrent requests").

A type opts in with two attributes of its Python class:

- ``memo_fields`` (class): the Python names of the fields whose values its memo key
  decides, with everything under them;
- ``memo_key`` (instance): a hashable that two instances share only when those fields'
  values are the same and complete the same (``None``: nothing kept for this one). It must
  cover the locale when a resolver below reads it (``pure`` resolvers may).

A field of ``memo_fields`` is kept only when its whole sub-selection is *pure*, decided when
the operation compiles: plain attributes (strawberry's default resolver), ``__typename``,
and synchronous resolvers marked ``@pure`` (a function of the object and the request's
locale only), without arguments, down to the leaves. Anything else — a resolver that reads
the database, one with arguments, an abstract type, a field outside ``memo_fields`` (the
dashboard's ``asOf``) — is completed for every request as before, and the response keeps
the selection's order. A completion that records an error or does not finish synchronously
is not kept. Kept parts are shared between responses, read-only: nothing writes to a
completed value after completion.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from graphql import TypeNameMetaFieldDef, get_named_type, is_leaf_type
from graphql.pyutils import Path
from strawberry.types.field import StrawberryField

from closedloop.caches import BoundedCache
from closedloop.schema.execution.infos import Executor
from closedloop.schema.execution.plans import FieldPlan, SelectionPlan
from closedloop.schema.execution.runs import definition_of

F = TypeVar("F", bound=Callable[..., Any])

_PURE = "__closedloop_pure__"

MAX_KEPT = 256
MAX_KEPT_BYTES = 32 * 1024 * 1024
# A dashboard's completed fields as Python objects: ~10x its 21 kB of JSON.
KEPT_BYTES = 256 * 1024


def pure(func: F) -> F:
    """Marks a resolver whose value follows from its object and the request's locale only
    (no I/O, no clock, no caller): its completion may be kept with its object's memo key."""
    setattr(func, _PURE, True)
    return func


def is_pure(plan: FieldPlan) -> bool:
    """Whether the field's completed value follows from its object (and locale) alone."""
    field_def = plan.field_def
    if field_def is TypeNameMetaFieldDef:
        return True
    definition = definition_of(field_def)
    if not isinstance(definition, StrawberryField) or field_def.args:
        return False
    if plan.details[0].node.arguments:
        return False
    if not getattr(field_def.resolve, "_is_default", False):
        resolver = definition.base_resolver
        if (
            resolver is None
            or resolver.is_async
            or not getattr(resolver.wrapped_func, _PURE, False)
            or definition.extensions
        ):
            return False
    if plan.selection is not None:
        return all(is_pure(p) for p in plan.selection.fields)
    return is_leaf_type(get_named_type(plan.return_type))


# (the memo plan, the object's key) -> (the memo plan, its completed pure fields)
_kept: BoundedCache[tuple[int, Hashable], tuple[MemoPlan, dict[str, Any]]] = BoundedCache(
    "completed-selections", MAX_KEPT, MAX_KEPT_BYTES, lambda key, entry: KEPT_BYTES
)


class MemoPlan:
    """One memoized object selection: its pure fields (kept) and the rest (run each time)."""

    __slots__ = ("full", "order", "pure", "rest")

    def __init__(self, full: SelectionPlan, pure: SelectionPlan, rest: SelectionPlan) -> None:
        self.full = full
        self.pure = pure
        self.rest = rest
        self.order = tuple(p.response_name for p in full.fields)

    def execute(self, ex: Executor, source: Any, path: Path) -> Any:
        key = source.memo_key
        if key is None:
            return self.full.execute(ex, source, path)
        kept = _kept.get((id(self), key))
        found = kept[1] if kept is not None and kept[0] is self else None
        if found is None:
            errors = len(ex.collected_errors.errors)
            found = self.pure.execute(ex, source, path)
            if type(found) is not dict:
                # Something pure did not finish synchronously: not kept, and the whole
                # selection completes the usual way.
                ex.settle_in_background([found])
                return self.full.execute(ex, source, path)
            if len(ex.collected_errors.errors) == errors:
                _kept[(id(self), key)] = (self, found)
        rest = self.rest.execute(ex, source, path)
        if type(rest) is not dict:
            return self._merge_later(found, rest)
        return self._merge(found, rest)

    def _merge(self, found: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
        return {name: found[name] if name in found else rest[name] for name in self.order}

    async def _merge_later(self, found: dict[str, Any], rest: Any) -> dict[str, Any]:
        return self._merge(found, await rest)


def memo_plan(
    origin: type | None, fields: Sequence[FieldPlan], full: SelectionPlan
) -> MemoPlan | None:
    """The memo plan of an object selection whose class opts in and selects some pure
    field of its ``memo_fields``; else ``None``."""
    names = getattr(origin, "memo_fields", None)
    if not names:
        return None
    kept = [p for p in fields if _python_name(p) in names and is_pure(p)]
    if not kept:
        return None
    rest = [p for p in fields if all(p is not k for k in kept)]
    return MemoPlan(full, SelectionPlan(kept), SelectionPlan(rest))


def _python_name(plan: FieldPlan) -> str | None:
    definition = definition_of(plan.field_def)
    return definition.python_name if isinstance(definition, StrawberryField) else None
