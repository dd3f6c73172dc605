"""The shape of a query, checked before anything runs: depth, aliases, directives (a
validation rule), and its cost (a plan evaluated with the request's variables).

Depth counts the fields on the longest path from the operation to a leaf (``{ viewer {
username } }`` is 2); aliases and directives are counted over the whole document. The
thresholds are ``Settings``' (GraphQL Armor's defaults).

**Cost** is the number of objects the answer can hold, GitHub's node limit applied to every
object: each object-typed field counts once per object of its parent, a list counts its
largest size, and sizes multiply through nesting. A connection counts one, its ``nodes`` and
``edges`` the page size (``first``, or the argument's default); a list with a ``first``
argument its ``first``; ``nodes(ids:)`` the number of ids; any other list of objects its
bound in ``LIST_BOUNDS`` (``tests/api/test_query_shape.py`` fails when a list of objects
has neither). Scalars are free. The plan is built once per document and operation; only
the sizes given by variables are read per request. While it reads the sizes it checks them
(``first`` 1–100, at most 100 ids), so a bad page size is refused before any SQL runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    is_list_type,
)

from closedloop import i18n
from closedloop.catalog import get_catalog
from closedloop.domain.bounds import LIST_MAX
from closedloop.domain.issues import IssueState, RatingGrade
from closedloop.domain.periods import MAX_HISTORY, MAX_RANGE_DAYS
from closedloop.domain.problem_lists import PushState
from closedloop.domain.regions import MAX_CHILDREN, MAX_DEPARTMENTS, RegionLevel
from closedloop.domain.schemes import (
    MAX_PROBLEMS,
    available_schemes,
    beyond_bounds,
    load_scheme,
    served_bounds,
)
from closedloop.schema.relay import InvalidPaging, check_ids, page_size
from closedloop.services.evaluation.dashboard import LIST_LIMIT, TOP_TAGS
from closedloop.services.issues.problem_list_queries import LATEST as LATEST_PUSHES

# services.evaluation.records: listEntries answers its newest 100, indicatorRecords 1,000.
LIST_ENTRIES_LIMIT = 100
RECORDS_LIMIT = 1000

i18n.register(
    "RequestErrorCode",
    {
        "QUERY_TOO_DEEP": ("查询嵌套过深", "Query is nested too deeply"),
        "TOO_MANY_ALIASES": ("查询别名过多", "Too many aliases in the query"),
        "TOO_MANY_DIRECTIVES": ("查询指令过多", "Too many directives in the query"),
        "TOO_MANY_TOKENS": ("查询过长", "Query has too many tokens"),
        "QUERY_TOO_COSTLY": ("查询代价超出上限", "Query cost exceeds the limit"),
        "RATE_LIMITED": ("请求过于频繁，请稍后再试", "Too many requests; retry later"),
        "BODY_TOO_LARGE": ("请求体过大", "Request body too large"),
    },
)

# A region's boards are the catalog's (``tenancy.seed`` inserts no others).
MAX_BOARDS = len(get_catalog().boards)
# Lists that grow with the data and have no page yet (a callback sample's items, an indicator
# record's versions) and the tag library: counted at this size (see bench/RESULTS.md, left
# to do: paginate them).
UNPAGED = 1000
MAX_LIBRARY_TAGS = UNPAGED
MAX_SAMPLE = UNPAGED
# A mutation's payload lists at most one error per input field.
MAX_PAYLOAD_ERRORS = 20
# Enums and their values, the policy's actions, the shipped schemes: data of the code
# itself, far below this.
CODE_DATA = 100
# Scoring schemes: the largest lists of the shipped ones (closedloop/data/schemes); a scheme
# of the operator's folder or uploaded through the API is held to them.
MAX_INDICATORS = served_bounds().indicators
MAX_ADJUSTMENTS = served_bounds().adjustments
MAX_CHECKS = served_bounds().checks


def scheme_beyond_bounds() -> str | None:
    """A served scheme (e.g. from ``CLOSEDLOOP_SCHEME_DIR``) with longer lists than the
    query cost assumes, named with what is too long; None when every scheme fits."""
    for key in available_schemes():
        problem = beyond_bounds(load_scheme(key))
        if problem is not None:
            return problem.label.en
    return None


# Lists of objects that take no page size, with the most items each can hold (the cost of a
# query multiplies by these). Each bound is kept where the data are made (see the constant).
LIST_BOUNDS: dict[tuple[str, str], int] = {
    ("Region", "children"): MAX_CHILDREN,
    ("Region", "boards"): MAX_BOARDS,
    ("Region", "departments"): MAX_DEPARTMENTS,
    ("Center", "boards"): MAX_BOARDS,
    ("Center", "departments"): MAX_DEPARTMENTS,
    ("Dashboard", "children"): MAX_CHILDREN,
    ("Dashboard", "byState"): len(IssueState),
    ("Dashboard", "byTier"): len(RegionLevel),
    ("Dashboard", "boards"): MAX_BOARDS,
    ("Dashboard", "departments"): MAX_DEPARTMENTS,
    ("Dashboard", "topTags"): TOP_TAGS,
    ("Dashboard", "redList"): LIST_LIMIT,
    ("Dashboard", "blackList"): LIST_LIMIT,
    ("Dashboard", "trend"): MAX_RANGE_DAYS // 28 + 1,  # months of the longest period
    ("Query", "listEntries"): LIST_ENTRIES_LIMIT,
    ("Query", "indicatorRecords"): RECORDS_LIMIT,
    ("Query", "labels"): CODE_DATA,
    ("Query", "schemesInForce"): CODE_DATA,
    ("Query", "tags"): MAX_LIBRARY_TAGS,
    ("EnumLabels", "values"): CODE_DATA,
    ("Viewer", "permissions"): CODE_DATA,
    ("ScoringScheme", "indicators"): MAX_INDICATORS,
    ("SchemeIndicator", "checks"): MAX_CHECKS,
    ("IndicatorValue", "checks"): MAX_CHECKS,
    ("TargetScore", "indicators"): MAX_INDICATORS,
    ("TargetScore", "adjustments"): MAX_ADJUSTMENTS,
    ("ScoreCounters", "ratings"): len(RatingGrade),
    ("ScoreHistory", "points"): MAX_HISTORY,
    ("Scoreboard", "entries"): max(MAX_CHILDREN, MAX_DEPARTMENTS),  # a peer group
    ("IndicatorRecord", "history"): UNPAGED,
    ("CallbackSample", "items"): MAX_SAMPLE,
    ("IssuePayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("CasePayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("CallbackSamplePayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("AddListEntryPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("ProblemListPushPayload", "errors"): MAX_PAYLOAD_ERRORS,
    # One push per tier (uq_problem_list_push_issue_region).
    ("Issue", "problemListPushes"): len(RegionLevel),
    ("ProblemListSummary", "byState"): len(PushState),
    ("ProblemListSummary", "latest"): LATEST_PUSHES,
    ("RecordIndicatorPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("AccountPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("EnterprisePayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("TimeLimitRulePayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("WebhookEndpointPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("SubmitChannelIssuesPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("ChannelCredentialsPayload", "errors"): MAX_PAYLOAD_ERRORS,
    ("SubmitChannelIssuesPayload", "results"): LIST_MAX,  # one per record of the batch
    ("ChannelRecordResult", "errors"): MAX_PAYLOAD_ERRORS,
    # One error per problem of an invalid scheme document.
    ("ScoringSchemePayload", "errors"): MAX_PROBLEMS,
    ("SchemeValidation", "problems"): MAX_PROBLEMS,
}


def bilingual(code: str, detail: str) -> str:
    """A message for errors found before a request has a locale (validation, which is
    cached per document): both labels."""
    zh = i18n.label(code, i18n.ZH, "RequestErrorCode")
    en = i18n.label(code, i18n.EN, "RequestErrorCode")
    return f"{zh} / {en}: {detail}"


def shape_error(code: str, detail: str, node: Any = None, **extra: Any) -> GraphQLError:
    return GraphQLError(bilingual(code, detail), node, extensions={"code": code, **extra})


@dataclass(frozen=True)
class ShapeLimits:
    """Thresholds of the document rule; 0 turns a limit off."""

    max_depth: int
    max_aliases: int
    max_directives: int


def shape_rule(limits: ShapeLimits) -> type[ASTValidationRule]:
    """A validation rule for depth, aliases and directives, built once per schema (the
    validation cache is keyed by rule classes)."""

    class QueryShapeRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.aliases = 0
            self.directives = 0

        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth = _depth(definition.selection_set, fragments, frozenset())
                if limits.max_depth and depth > limits.max_depth:
                    self.report_error(
                        shape_error(
                            "QUERY_TOO_DEEP",
                            f"depth {depth} exceeds {limits.max_depth}",
                            definition,
                            depth=depth,
                            maxDepth=limits.max_depth,
                        )
                    )

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            self.directives += 1

        def leave_document(self, node: DocumentNode, *_: Any) -> None:
            if limits.max_aliases and self.aliases > limits.max_aliases:
                self.report_error(
                    shape_error(
                        "TOO_MANY_ALIASES",
                        f"{self.aliases} aliases exceed {limits.max_aliases}",
                        aliases=self.aliases,
                        maxAliases=limits.max_aliases,
                    )
                )
            if limits.max_directives and self.directives > limits.max_directives:
                self.report_error(
                    shape_error(
                        "TOO_MANY_DIRECTIVES",
                        f"{self.directives} directives exceed {limits.max_directives}",
                        directives=self.directives,
                        maxDirectives=limits.max_directives,
                    )
                )

    return QueryShapeRule


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    """Fields on the longest path below ``selection_set`` (fragments inlined; a fragment
    cycle, which validation reports, counts once)."""
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue  # introspection (bounded by the schema) and __typename
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
    return deepest


# --- cost ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    """How many objects a field holds per object of its parent: ``fixed``, or read from an
    argument (``page``: a page size; ``ids``: the length of a list), given as a literal or
    a variable, else the argument's default."""

    kind: str  # "fixed" | "page" | "ids"
    fixed: int = 1
    literal: Any = None
    variable: str | None = None
    path: str = ""

    def value(self, variables: Mapping[str, Any]) -> int:
        if self.kind == "fixed":
            return self.fixed
        raw = variables.get(self.variable, self.literal) if self.variable else self.literal
        if self.kind == "ids":
            ids = raw if isinstance(raw, list) else [raw]
            try:
                check_ids(len(ids), self.path)
            except InvalidPaging as exc:
                raise PagingRefused(self.path, str(exc)) from exc
            return len(ids)
        first = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if raw is not None and first is None:
            return 1  # not an Int: graphql-core refuses the variable before anything runs
        try:
            return page_size(first)
        except InvalidPaging as exc:
            raise PagingRefused(self.path, str(exc)) from exc


class PagingRefused(ValueError):
    """A page size or an id list out of range, found while costing the request."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(detail)
        self.path = path
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PlanNode:
    size: Size
    children: tuple[PlanNode, ...]


@dataclass(frozen=True, slots=True)
class CostPlan:
    roots: tuple[PlanNode, ...]
    # The cost when no size depends on a variable (the usual case): computed once.
    constant: int | None

    def cost(self, variables: Mapping[str, Any] | None) -> int:
        if self.constant is not None:
            return self.constant
        return _total(self.roots, 1, variables or {})


def _total(nodes: tuple[PlanNode, ...], multiplier: int, variables: Mapping[str, Any]) -> int:
    total = 0
    for node in nodes:
        here = multiplier * node.size.value(variables)
        total += here
        if node.children and here:
            total += _total(node.children, here, variables)
    return total


def cost_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> CostPlan | None:
    """The cost plan of a validated document's operation (``None``: no such operation).
    Page sizes given as literals are checked here already: a bad one raises
    ``PagingRefused``."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {
        d.variable.name.value: _literal(d.default_value) if d.default_value else None
        for d in operation.variable_definitions or ()
    }
    builder = _Builder(schema, fragments, defaults)
    roots = tuple(builder.selections(operation.selection_set, root, None, ""))
    constant = _total(roots, 1, {}) if not builder.variable_sizes else None
    return CostPlan(roots, constant)


class _Builder:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        defaults: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.defaults = defaults
        self.variable_sizes = False

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent: Any,
        page: Size | None,
        path: str,
        seen: frozenset[str] = frozenset(),
    ) -> list[PlanNode]:
        """Plan nodes of the object fields below ``selection_set`` on type ``parent``;
        ``page``: the page size when ``parent`` is a connection."""
        out: list[PlanNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                node = self.field(selection, parent, page, path)
                if node is not None:
                    out.append(node)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema_type(selection.type_condition.name.value, parent)
                out += self.selections(selection.selection_set, target, page, path, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema_type(fragment.type_condition.name.value, parent)
                out += self.selections(fragment.selection_set, target, page, path, seen | {name})
        return out

    def schema_type(self, name: str, fallback: Any) -> Any:
        return self.schema.type_map.get(name) or fallback

    def field(self, node: FieldNode, parent: Any, page: Size | None, path: str) -> PlanNode | None:
        name = node.name.value
        if name.startswith("__") or node.selection_set is None:
            return None  # scalars, __typename and introspection (bounded by the schema)
        definition: GraphQLField | None = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return None
        here = f"{path}.{name}" if path else name
        field_type = definition.type
        nullable = get_nullable_type(field_type)
        named = get_named_type(field_type)
        if not is_composite_type(named):
            return None
        if is_list_type(nullable):
            size = self.list_size(node, parent, definition, page, here)
        else:
            size = Size("fixed")
        child_page = self.page_of(node, definition, named, here)
        children = tuple(self.selections(node.selection_set, named, child_page, here))
        return PlanNode(size, children)

    def list_size(
        self, node: FieldNode, parent: Any, definition: GraphQLField, page: Size | None, path: str
    ) -> Size:
        name = node.name.value
        if page is not None and name in ("nodes", "edges"):
            return page
        if "first" in definition.args:
            return self.argument(node, definition, "first", "page", path)
        if "ids" in definition.args:
            return self.argument(node, definition, "ids", "ids", path)
        bound = LIST_BOUNDS.get((getattr(parent, "name", ""), name))
        if bound is None:
            raise LookupError(f"{parent}.{name}: a list of objects without a page or bound")
        return Size("fixed", fixed=bound)

    def page_of(
        self, node: FieldNode, definition: GraphQLField, named: Any, path: str
    ) -> Size | None:
        """The page size a connection field hands to its ``nodes`` and ``edges``."""
        if not (isinstance(named, GraphQLObjectType) and is_connection(named)):
            return None
        return self.argument(node, definition, "first", "page", path)

    def argument(
        self, node: FieldNode, definition: GraphQLField, name: str, kind: str, path: str
    ) -> Size:
        given: ValueNode | None = next(
            (a.value for a in node.arguments or () if a.name.value == name), None
        )
        if isinstance(given, VariableNode):
            variable = given.name.value
            self.variable_sizes = True
            default = self.defaults.get(variable)
            if default is None:
                default = _default(definition, name)
            return Size(kind, literal=default, variable=variable, path=path)
        literal = _literal(given) if given is not None else _default(definition, name)
        size = Size(kind, literal=literal, path=path)
        size.value({})  # a literal out of range is refused now
        return size


def is_connection(named: GraphQLObjectType) -> bool:
    return named.name.endswith("Connection") and "pageInfo" in named.fields


def _default(definition: GraphQLField, name: str) -> Any:
    argument = definition.args[name]
    default = argument.default_value
    return None if default is None or default.__class__.__name__ == "UndefinedType" else default


def _literal(node: ValueNode | None) -> Any:
    if node is None or isinstance(node, NullValueNode):
        return None
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return [_literal(v) for v in node.values]
    return getattr(node, "value", None)
