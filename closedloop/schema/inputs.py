"""One check of every argument's strings, ids and lists, before any resolver runs.

Each field's arguments get a checker compiled from their GraphQL types once, when the
schema is built: every ``String`` and ``ID`` (inside input objects and lists too) is
refused when it holds a NUL character or an unpaired surrogate (PostgreSQL cannot store
either) or is longer than its cap, and every list when it has more than ``LIST_MAX``
items. Caps are ``TEXT_MAX`` (the issue content cap, the longest text the API takes)
unless ``STRING_CAPS`` names a tighter one for that argument or input field.

Arguments written in the document are checked by a validation rule (once per document:
validation is cached; this also covers arguments the compiled executor converts once per
plan), and every call of a field with checked arguments by a wrapper around its resolver
(values that came in variables). Dates, times
and decimals are bounded by their scalars (``closedloop.schema.scalars``).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from graphql import (
    ArgumentNode,
    ASTValidationRule,
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    ValidationContext,
    get_nullable_type,
)
from graphql.language import ListValueNode, ObjectValueNode, ValueNode, VariableNode
from graphql.pyutils import Undefined
from graphql.utilities import value_from_ast

from closedloop import i18n
from closedloop.domain.bounds import (
    LIST_MAX,
    NAME_MAX,
    SEARCH_TEXT_MAX,
    TAG_MAX,
    TEXT_MAX,
)
from closedloop.schema.errors import PublicError
from closedloop.schema.relay import MAX_ID_LENGTH

# Tighter caps than ``TEXT_MAX``, by schema coordinate (``Type.field(argument:)`` or
# ``InputType.field``); for a list, the cap of each item.
STRING_CAPS: dict[str, int] = {
    "IssueFilterInput.text": SEARCH_TEXT_MAX,
    "IssueFilterInput.tagsAny": TAG_MAX,
    "IssueFilterInput.tagsAll": TAG_MAX,
    "Query.cases(text:)": SEARCH_TEXT_MAX,
    "Query.cases(tag:)": TAG_MAX,
    "Query.regions(nameContains:)": NAME_MAX,
    "SubmitIssueInput.title": NAME_MAX,
    "SubmitIssueInput.enterpriseName": NAME_MAX,
    "SubmitIssueInput.tags": TAG_MAX,
}

i18n.register(
    "InputProblem",
    {
        "TOO_LONG": ("内容过长", "Too long"),
        "TOO_MANY": ("条目过多", "Too many items"),
        "INVALID_CHARACTER": ("含有不允许的字符", "Contains a character that is not allowed"),
    },
)


class Refused(Exception):
    def __init__(self, path: str, problem: str, limit: int | None = None) -> None:
        super().__init__(path, problem)
        self.path = path
        self.problem = problem
        self.limit = limit

    def detail(self, locale: str) -> str:
        text = i18n.label(self.problem, locale, "InputProblem")
        limit = f" (≤ {self.limit})" if self.limit is not None else ""
        return f"{self.path}: {text}{limit}"

    def extensions(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"field": self.path, "reason": self.problem}
        if self.limit is not None:
            extra["limit"] = self.limit
        return extra


# (value, path) -> None; raises ``Refused``
Check = Callable[[Any, str], None]


def _text_check(cap: int) -> Check:
    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if len(value) > cap:
            raise Refused(path, "TOO_LONG", cap)
        if "\x00" in value:
            raise Refused(path, "INVALID_CHARACTER")
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:  # an unpaired surrogate
                raise Refused(path, "INVALID_CHARACTER") from None

    return check


def _list_check(item: Check | None) -> Check:
    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if len(value) > LIST_MAX:
            raise Refused(path, "TOO_MANY", LIST_MAX)
        if item is not None:
            for index, each in enumerate(value):
                item(each, f"{path}.{index}")

    return check


def _object_check(fields: list[tuple[str, str, Check]]) -> Check:
    def check(value: Any, path: str) -> None:
        if value is None:
            return
        for key, name, field_check in fields:
            if key in value:
                field_check(value[key], f"{path}.{name}")

    return check


def compile_check(type_: GraphQLInputType, coordinate: str) -> Check | None:
    """The check of a value of this type at this coordinate; ``None`` when there is
    nothing to check (numbers, booleans, enums: graphql-core and the scalars bound them)."""
    nullable = get_nullable_type(type_)
    if isinstance(nullable, GraphQLList):
        return _list_check(compile_check(nullable.of_type, coordinate))
    if nullable is GraphQLString:
        return _text_check(STRING_CAPS.get(coordinate, TEXT_MAX))
    if nullable is GraphQLID:
        return _text_check(MAX_ID_LENGTH)
    if isinstance(nullable, GraphQLInputObjectType):
        fields: list[tuple[str, str, Check]] = []
        for name, field in nullable.fields.items():
            inner = compile_check(field.type, f"{nullable.name}.{name}")
            if inner is not None:
                fields.append((field.out_name or name, name, inner))
        return _object_check(fields) if fields else None
    return None


# id(GraphQLField) -> [(coerced key, argument name, check)]
FieldChecks = dict[int, list[tuple[str, str, Check]]]

_CHECKS: weakref.WeakKeyDictionary[GraphQLSchema, FieldChecks] = weakref.WeakKeyDictionary()


def field_checks(schema: GraphQLSchema) -> FieldChecks:
    """The checks of every field with checked arguments, compiled once per schema."""
    found = _CHECKS.get(schema)
    if found is not None:
        return found
    found = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for field_name, field in type_.fields.items():
            checks = []
            for arg_name, arg in field.args.items():
                check = compile_check(arg.type, f"{type_.name}.{field_name}({arg_name}:)")
                if check is not None:
                    checks.append((arg.out_name or arg_name, arg_name, check))
            if checks:
                found[id(field)] = checks
    _CHECKS[schema] = found
    return found


def _run(checks: list[tuple[str, str, Check]], args: dict[str, Any]) -> None:
    for key, name, check in checks:
        if key in args:
            check(args[key], name)


def _guarded(resolve: Callable[..., Any], checks: list[tuple[str, str, Check]]) -> Any:
    @functools.wraps(resolve)
    def guarded(source: Any, info: Any, **args: Any) -> Any:
        try:
            _run(checks, args)
        except Refused as refused:
            locale = getattr(info.context, "locale", i18n.ZH)
            raise PublicError(
                "INVALID_ARGUMENT", refused.detail(locale), locale, **refused.extensions()
            ) from None
        return resolve(source, info, **args)

    return guarded


def guard_arguments(schema: GraphQLSchema) -> None:
    """Wrap the resolver of every field with checked arguments (values from variables;
    ``ArgumentBoundsRule`` checks the literal ones when the document is validated)."""
    checks = field_checks(schema)
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for field in type_.fields.values():
            found = checks.get(id(field))
            if found is None:
                continue
            if field.resolve is not None:
                field.resolve = _guarded(field.resolve, found)
            if field.subscribe is not None:
                field.subscribe = _guarded(field.subscribe, found)


def _has_variables(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ListValueNode):
        return any(_has_variables(value) for value in node.values)
    if isinstance(node, ObjectValueNode):
        return any(_has_variables(field.value) for field in node.fields)
    return False


class ArgumentBoundsRule(ASTValidationRule):
    """Literal arguments outside their bounds: the same checks as at execution, reported
    when the document is validated (and cached with it)."""

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        context = self.context
        assert isinstance(context, ValidationContext)
        field, argument = context.get_field_def(), context.get_argument()
        if field is None or argument is None or context.get_directive() is not None:
            return
        checks = field_checks(context.schema).get(id(field))
        if not checks or _has_variables(node.value):
            return
        name = node.name.value
        for _key, arg_name, check in checks:
            if arg_name != name:
                continue
            value = value_from_ast(node.value, argument.type)
            if value is Undefined:
                return  # not of its type: ValuesOfCorrectTypeRule reports it
            try:
                check(value, name)
            except Refused as refused:
                context.report_error(
                    GraphQLError(
                        f"{_BOTH_LABELS}: {refused.detail(i18n.EN)}",
                        node,
                        extensions={"code": "INVALID_ARGUMENT", **refused.extensions()},
                    )
                )


_BOTH_LABELS = " / ".join(
    i18n.label("INVALID_ARGUMENT", locale, "RequestErrorCode") for locale in (i18n.ZH, i18n.EN)
)
