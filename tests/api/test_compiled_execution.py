"""The compiled executor answers exactly like graphql-core's: same data, same errors (message,
locations, path, extensions), in the same order, byte for byte.

Two sets of queries, each run once through ``CompiledExecutor`` and once through strawberry's
default executor, with a fresh context each: the API's own schema over issues in several
states, and a small schema whose resolvers misbehave on purpose (errors, nulls in non-null
positions, awaitables in lists, interfaces, unions, enums, arguments, info use)."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from typing import Any

import orjson
import pytest
import strawberry
from strawberry.types import ExecutionResult

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.schema import build_schema
from closedloop.identity.accounts import principal_for
from closedloop.schema.context import Context
from closedloop.schema.execution import executor as compiled_module
from closedloop.schema.execution.executor import CompiledExecutor
from closedloop.settings import Settings
from tests.api.issue_helpers import step, submit, unit_id
from tests.conftest import Api


def response(result: ExecutionResult) -> bytes:
    """What the HTTP layer sends for a result (errors as formatted by graphql-core)."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    return orjson.dumps(body)


# --- the API's schema -----------------------------------------------------------------

ISSUE = """id number title content state stateLabel channel channelLabel proactive category
  tags handlingLevel handlingLevelLabel route version createdAt dueAt light overdue reply rating
  urgeCount nextUrgeAllowedAt reopenCount recurred escalationCount viewerActions
  enterprise { id name creditCode region { code name levelLabel } }
  board { id key name nameZh } department { id key name isKey }
  holdingRegion { code name level parent { code } } originRegion { code name }
  lastEvent { id type typeLabel occurredAt actorName fromState toState public message payload }"""

API_QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    (f"{{ issues(filter: {{pool: true}}, first: 5) {{ totalCount nodes {{ {ISSUE} }} }} }}", None),
    (
        """query($n: Int!) { issues(first: $n) { totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id title light enterprise { name } lastEvent { type } } } } }""",
        {"n": 3},
    ),
    (
        """{ a: issues(first: 2) { nodes { ...F } } b: issues(filter: {pool: true}) {
        totalCount } } fragment F on Issue { id t: title state __typename
        ... on Issue { board { name } holdingRegion { ... on Region { name } } } }""",
        None,
    ),
    ("{ issues(first: 500) { totalCount } }", None),  # a typed error from the resolver
    ('{ issues(first: 2, after: "garbage") { totalCount } }', None),
    ('{ issues(filter: {holdingRegion: "x"}) { totalCount } }', None),
    (
        """{ issues(first: 3) { nodes { id timeline { type typeLabel public }
        custody { handlingLevel heldSeconds overdueSeconds region { name } } } } }""",
        None,
    ),
    ("{ viewer { username roleLabel region { name children { code } } } }", None),
    ('{ regions(parentCode: "3305") { totalCount nodes { code name level } } }', None),
    (
        """{ node(id: "SXNzdWU6MQ") { id __typename ... on Issue { title mergedInto { id } } }
        nodes: issues(first: 1) { nodes { id } } }""",
        None,
    ),
    ('{ node(id: "not-an-id") { id } }', None),
    ('{ labels(enums: ["IssueState", "Light"]) { enum values { value zh en label } } }', None),
    ("{ __typename issues(first: 1) { __typename nodes { __typename id } } }", None),
    ('{ __type(name: "Issue") { name fields { name type { kind name ofType { name } } } } }', None),
    (
        """query Pool($pool: Boolean!, $first: Int) { issues(filter: {pool: $pool},
        first: $first) { totalCount nodes { id state } } }""",
        {"pool": True, "first": None},
    ),
    (
        """{ issues(first: 2) { nodes { id ... on Issue @include(if: true) { title } } } }""",
        None,
    ),  # a directive: the compiled executor hands it to graphql-core
]


async def _issues_in_several_states(api: Api) -> None:
    talent = await unit_id(api, "330521102", "boards", "TALENT")
    for n in range(6):
        issue = await submit(api, title=f"差分测试{n}")
        if n % 3 >= 1:
            issue = await step(api, "acceptIssue", issue, "xinshi.center")
        if n % 3 == 2:
            await step(api, "assignIssue", issue, "xinshi.center", boardId=talent)


@pytest.mark.usefixtures("clean_issues")
async def test_the_api_answers_the_same_with_both_executors(
    api: Api, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    await _issues_in_several_states(api)
    fast, plain = build_schema(settings), build_schema(settings, compiled=False)
    assert fast.execution_context_class is CompiledExecutor
    compared = 0
    for username in ("xinshi.center", "deqing.center", "ent.xinshi-silk", "province.monitor"):
        async with db.read_reference() as conn:
            principal = await principal_for(conn, username)
        assert principal is not None
        for locale in ("zh-CN", "en"):
            for query, variables in API_QUERIES:
                answers = []
                for schema in (fast, plain):
                    context = Context(principal, db, clock, settings, locale)
                    result = await schema.execute(query, variables, context_value=context)
                    answers.append(response(result))
                assert answers[0] == answers[1], (username, locale, query)
                compared += 1
    assert compared == 4 * 2 * len(API_QUERIES)
    assert compiled_module._plans, "the compiled executor compiled nothing"


# --- a schema that misbehaves on purpose ----------------------------------------------


@strawberry.enum
class Mood(enum.Enum):
    CALM = "calm"
    GRUMPY = "grumpy"


@strawberry.input
class Label:
    text: str
    marks: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class Box:
    label: Label
    tags: list[str] = strawberry.field(default_factory=list)
    mood: Mood = Mood.CALM
    size: int | None = None


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Pet(Named):
    name: str
    age: int | None
    mood: Mood
    owner: strawberry.Private[str | None] = None
    born: dt.datetime | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError(f"{self.name} is broken")

    @strawberry.field
    def strict_broken(self) -> str:
        raise ValueError(f"{self.name} is strictly broken")

    @strawberry.field
    def missing(self) -> str:
        return None  # type: ignore[return-value]

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name[::-1]

    @strawberry.field
    async def later_broken(self) -> int:
        await asyncio.sleep(0)
        raise RuntimeError("late failure")

    @strawberry.field
    def greet(self, prefix: str = "hi", times: int = 1) -> str:
        return " ".join([f"{prefix} {self.name}"] * times)

    # Literal arguments are converted once per compiled plan; each call must still get
    # its own copy (these resolvers change theirs).
    @strawberry.field
    def unbox(self, box: Box, extra: list[Box] | None = None) -> str:
        box.tags.append("seen")
        box.label.marks.append("!")
        box.label.text += "?"
        for other in extra or []:
            other.tags.append("also")
        return f"{self.name} {box} {extra}"

    @strawberry.field
    def where_with(self, info: strawberry.Info, suffix: str, mood: Mood | None = None) -> str:
        # (a literal-argument resolver's info is the compiled executor's own ``CompiledInfo``)
        names = [f.name for f in info.selected_fields]
        return (
            f"{info.path.as_list()} {info.field_name} {names} {suffix} {mood} {info.context['tag']}"
        )

    @strawberry.field
    def global_id(self, id: strawberry.relay.GlobalID) -> str:
        return f"{id.type_name}/{id.node_id}"

    @strawberry.field
    def where(self, info: strawberry.Info) -> str:
        return f"{info.path.as_list()} {info.field_name} {info.context['tag']}"

    @strawberry.field
    def friends(self) -> list[Pet | None]:
        return [PETS[1], None, PETS[0]] if self.name != "Rex" else []

    @strawberry.field
    def strict_friends(self) -> list[Pet]:
        return [PETS[0], Pet(name="Ghost", age=None, mood=Mood.CALM), PETS[2]]

    @strawberry.field
    def scores(self) -> list[int | None]:
        return [1, "x", 3]  # type: ignore[list-item]

    @strawberry.field
    def strict_scores(self) -> list[int]:
        return [1, None, 3]  # type: ignore[list-item]

    @strawberry.field
    def awaited_items(self) -> list[str]:
        async def item(n: int) -> str:
            await asyncio.sleep(0)
            return f"{self.name}-{n}"

        return [item(1), "plain", item(2)]  # type: ignore[list-item]

    @strawberry.field
    def not_a_list(self) -> list[str] | None:
        return 42  # type: ignore[return-value]

    @strawberry.field
    def tuple_tags(self) -> list[str]:
        return ("a", "b")  # type: ignore[return-value]

    @strawberry.field
    def mood_text(self) -> Mood:
        return "grumpy"  # type: ignore[return-value]

    @strawberry.field
    def wrong_object(self) -> Pet | None:
        return "not a pet"  # type: ignore[return-value]

    # ``def f(self, info)`` resolvers are called directly by the compiled executor, and
    # an exact instance of a nullable object type skips ``is_type_of``: every other
    # result must still complete the general way.
    @strawberry.field
    def buddy(self, info: strawberry.Info) -> Pet | None:
        picks: dict[str, Any] = {"Rex": PETS[1], "Tom": None, "Kit": "not a pet"}
        return picks.get(self.name)  # type: ignore[no-any-return]

    @strawberry.field
    def odd_buddy(self, info: strawberry.Info) -> Pet | None:
        picks: dict[str, Any] = {
            "Rex": strawberry.cast(Rock, Pet(name="Cast", age=1, mood=Mood.CALM)),
            "Tom": ODD_PETS[0],
            "Kit": ODD_PETS[1],
        }
        return picks.get(self.name)  # type: ignore[no-any-return]

    @strawberry.field
    def broken_buddy(self, info: strawberry.Info) -> Pet | None:
        raise ValueError(f"{self.name} has no buddy ({info.path.as_list()})")

    @strawberry.field
    async def later_buddy(self, info: strawberry.Info) -> Pet | None:
        await asyncio.sleep(0)
        return PETS[2] if self.name != "Kit" else None

    @strawberry.field
    def strict_buddy(self, info: strawberry.Info) -> Pet:
        return None if self.name == "Tom" else PETS[0]  # type: ignore[return-value]

    @strawberry.field
    def buddy_mood(self, info: strawberry.Info) -> Mood | None:
        return Mood.GRUMPY if self.name == "Rex" else None

    @strawberry.field
    def buddies(self, info: strawberry.Info) -> list[Pet | None]:
        return [PETS[0], None, ODD_PETS[0], "not a pet"]  # type: ignore[list-item]


@strawberry.type
class Rock(Named):
    name: str
    weight: float


PETS = [
    Pet(name="Rex", age=3, mood=Mood.CALM),
    Pet(name="Tom", age=None, mood=Mood.GRUMPY),
    Pet(name="Kit", age=1, mood=Mood.CALM),
]


class Haunted(Pet):
    """A pet whose name cannot be read."""

    @property  # type: ignore[override]
    def name(self) -> str:
        raise RuntimeError("the name is haunted")


def _haunted() -> Pet:
    pet = object.__new__(Haunted)
    pet.__dict__.update(age=2, mood=Mood.CALM, owner=None)
    return pet


# Attribute values that are not what the schema says: the inline reads of string and
# enum attributes must hand them to the general completion.
class Moment(dt.datetime):
    """A datetime subclass (the inline isoformat applies to exact datetimes only)."""


ODD_PETS: list[Pet] = [
    Pet(name=7, age=None, mood="calm", born="2020-01-01"),  # type: ignore[arg-type]
    _haunted(),
    Pet(name="Odd", age="x", mood=Mood.GRUMPY, born=dt.date(2021, 5, 4)),  # type: ignore[arg-type]
    Pet(name="Now", age=1, mood=Mood.CALM, born=Moment(2022, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    Pet(name="Then", age=1, mood=Mood.CALM, born=dt.datetime(2023, 6, 7, 8, 9, 10, 11)),
]


@strawberry.type
class Query:
    @strawberry.field
    def pets(self) -> list[Pet]:
        return PETS

    @strawberry.field
    async def pet(self, name: str) -> Pet | None:
        await asyncio.sleep(0)
        return next((p for p in PETS if p.name == name), None)

    @strawberry.field
    def things(self) -> list[Named]:
        return [PETS[0], Rock(name="Stone", weight=2.5)]

    @strawberry.field
    def either(self) -> list[Pet | Rock]:
        return [Rock(name="Pebble", weight=0.1), PETS[1]]

    @strawberry.field
    def fail(self) -> Pet:
        raise LookupError("no pet for you")

    @strawberry.field
    def odd(self) -> list[Pet | None]:
        return [*ODD_PETS, *PETS]

    @strawberry.field
    def number(self, n: int) -> int:
        return n * 2


TOY_QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ pets { name age mood shout } }", None),
    ("{ pets { name broken } }", None),
    ("{ pets { name strictBroken } }", None),  # non-null error nulls the whole list
    ("{ pets { name missing } }", None),
    ("{ pets { name later laterBroken } }", None),
    ('{ pets { greet g2: greet(prefix: "yo", times: 2) } }', None),
    ("query($p: String!, $t: Int) { pets { greet(prefix: $p, times: $t) } }", {"p": "ho", "t": 3}),
    ("{ pets { where a: where } }", None),
    ("{ pets { name friends { name friends { name } } } }", None),
    ("{ pets { name strictFriends { name age missing } } }", None),
    ("{ pets { scores strictScores } }", None),
    ("{ pets { awaitedItems } }", None),
    ("{ pets { notAList tupleTags } }", None),
    ("{ pets { moodText } }", None),
    ("{ pets { wrongObject { name } } }", None),
    ("{ pets { name buddy { name mood buddy { name } } } }", None),
    ('{ pets { unbox(box: {label: {text: "a", marks: ["x"]}, tags: ["t"]}) } }', None),
    (
        '{ pets { unbox(box: {label: {text: "b"}, mood: GRUMPY, size: 2},'
        ' extra: [{label: {text: "c"}}, {label: {text: "d"}, tags: []}]) } }',
        None,
    ),
    ("query($t: String!) { pets { unbox(box: {label: {text: $t}}) } }", {"t": "var"}),
    ('{ pets { w: whereWith(suffix: "s") m: whereWith(suffix: "t", mood: CALM) } }', None),
    ('{ pets { globalId(id: "UGV0OjE=") } }', None),
    ('{ pets { globalId(id: "not base64") } }', None),  # a conversion error
    ("{ pets { name oddBuddy { __typename name mood } } }", None),
    ("{ pets { name oddBuddy { age } brokenBuddy { name } } }", None),
    ("{ pets { name laterBuddy { name laterBuddy { name } } buddyMood } }", None),
    ("{ pets { name strictBuddy { name } } }", None),
    ("{ pets { buddies { name mood } } }", None),
    ("{ odd { name mood } }", None),
    ("{ odd { name born } }", None),
    ("{ odd { age } }", None),
    (
        '{ pet(name: "Tom") { name later friends { name later } }'
        ' nobody: pet(name: "X") { name } }',
        None,
    ),
    ("{ things { __typename name ... on Pet { age } ... on Rock { weight } } }", None),
    ("{ either { __typename ... on Named { name } ... on Rock { weight } } }", None),
    ("{ fail { name } pets { name } }", None),
    ("{ number(n: 21) pets { ...P } } fragment P on Pet { name ... on Pet { mood } }", None),
    ("{ a: pets { name } b: pets { name: shout } }", None),
    ("{ pets { name @skip(if: true) age } }", None),
    ("query($n: Int!) { number(n: $n) }", {"n": "not a number"}),  # variable coercion error
    ("{ __typename pets { __typename } }", None),
    ("{ __schema { queryType { name } types { name kind fields { name args { name } } } } }", None),
    (
        '{ __type(name: "Pet") { name interfaces { name }'
        " fields { name type { kind ofType { name } } } } }",
        None,
    ),
]


async def test_misbehaving_resolvers_answer_the_same_with_both_executors() -> None:
    fast = strawberry.Schema(query=Query, types=[Rock], execution_context_class=CompiledExecutor)
    plain = strawberry.Schema(query=Query, types=[Rock])
    for query, variables in TOY_QUERIES:
        for _ in range(3):  # later runs take the cached plan
            answers = []
            for schema in (fast, plain):
                result = await schema.execute(query, variables, context_value={"tag": "ctx"})
                answers.append(response(result))
            assert answers[0] == answers[1], query
