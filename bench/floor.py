"""The floor for the county pool page (issue 7, without the handicaps of issue 18):
Starlette + asyncpg, no GraphQL engine.

It answers the harness's ``county_pool`` request (``issues(filter: {pool: true}, first: N)``
with enterprise, board, department, holding region and last event) with the same JSON as
``closedloop serve``, doing only what any server must do for it, and no more than
closedloop does:

- verify the HS256 bearer token (pyjwt, the same secret, audience and issuer as the API)
  once per token, as closedloop's token cache does (its time claims checked on every use);
- look up the account's scope once and cache it (the API caches it for 30 s);
- three round trips on a connection of its own pool as ``closedloop_app`` (row-level
  security applies), as few as the same per-transaction scoping allows and as many as
  closedloop makes: ``BEGIN READ ONLY`` with the ``set_config`` of the scope in one simple
  query; the page (the app's own visibility predicate, the pool filter, newest first,
  LIMIT N, joined with enterprise, board, department, region and a LATERAL for the last
  event) with its count as a scalar subquery; ``ROLLBACK``. The pool hands connections out
  without asyncpg's reset query on release (the transaction ended with ``ROLLBACK``; the
  scope was transaction-local);
- build the same response with orjson (as closedloop): global ids ``base64url("Issue:<id>")``
  without padding, ISO 8601 datetimes, ``light`` computed from warn_at/due_at against now
  when a clock runs, ``dueAt`` only while a clock runs, names in zh-CN unless
  Accept-Language asks for English.

It does not parse GraphQL: the body must be a JSON object whose ``query`` asks for the pool
(``pool: true``); ``first: N`` is read from it (default 100, at most 100, like the API).
Anything else answers 400. That is what "floor" means: the cost of the data and the
protocol, without a query language.

    CLOSEDLOOP_JWT_SECRET=... \\
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m \\
        .venv/bin/uvicorn --app-dir bench floor:app --port 8002 --workers 1 --no-access-log

Environment: ``DATABASE_URL`` (its host, port and database; the user is replaced by
``FLOOR_DB_USER``, default ``closedloop_app``), ``CLOSEDLOOP_JWT_SECRET``,
``FLOOR_POOL_SIZE`` (default 16). ``/metrics`` exposes ``closedloop_sql_statements_total``
(statements sent, ``ROLLBACK`` not counted, ``BEGIN`` with the scope counted as one, as the
API counts them) for the harness; ``/healthz`` answers ok.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from closedloop.domain.sla import running_light, running_limit

DEV_JWT_SECRET = "closedloop-development-secret-change-me"
SECRET = os.environ.get("CLOSEDLOOP_JWT_SECRET", DEV_JWT_SECRET)
AUDIENCE = os.environ.get("CLOSEDLOOP_JWT_AUDIENCE", "closedloop")
ISSUER = os.environ.get("CLOSEDLOOP_JWT_ISSUER", "closedloop")
POOL_SIZE = int(os.environ.get("FLOOR_POOL_SIZE", "16"))
DB_USER = os.environ.get("FLOOR_DB_USER", "closedloop_app")
MAX_PAGE = 100

# closedloop.domain.issues.OPEN_STATES, written out as literals so the planner can match
# the partial index ix_issue_pool (its predicate is the same IN list) in a generic plan.
OPEN_STATES_SQL = "('SUBMITTED','ACCEPTED','ASSIGNED','IN_PROGRESS','REOPENED')"

# closedloop.db.database.begin_in_scope: BEGIN and the scope in one simple query
SCOPE_SETTINGS = ("role", "region", "enterprise", "board", "department")


def begin_in_scope(values: tuple[str, ...]) -> str:
    settings = ", ".join(
        f"set_config('closedloop.{name}', {literal(value)}, true)"
        for name, value in zip(SCOPE_SETTINGS, values, strict=True)
    )
    return f"BEGIN READ ONLY; SELECT {settings}"


def literal(value: str) -> str:
    """closedloop.db.database._literal"""
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# closedloop.identity.accounts: the account as the function of migration 0012 answers it
# (row-level security hides the account table from the application's role)
PRINCIPAL = (
    "SELECT role, region_code, board_id, department_id, enterprise_id FROM closedloop_principal($1)"
)


def visibility(scope: dict[str, Any]) -> tuple[str, list[Any]]:
    """closedloop.tenancy.scope.issue_visibility as SQL text and its parameters, numbered
    from $2 ($1 is the pool's region)."""
    role = scope["role"]
    if role == "ENTERPRISE":
        if scope["enterprise_id"] is None:
            return "false", []
        return "i.enterprise_id = $2", [scope["enterprise_id"]]
    region = scope["region_code"]
    if region is None or role is None:
        return "false", []
    if role == "BOARD_HANDLER":
        return "(i.holding_region_code = $2 AND i.board_id = $3)", [
            region,
            scope["board_id"],
        ]
    if role == "DEPARTMENT_HANDLER":
        return "(i.holding_region_code = $2 AND i.department_id = $3)", [
            region,
            scope["department_id"],
        ]
    # in_subtree(): a btree range under the C collation ('~' sorts after every digit).
    return (
        "((i.origin_region_code >= $2 AND i.origin_region_code < $3)"
        " OR (i.holding_region_code >= $2 AND i.holding_region_code < $3))",
        [region, region + "~"],
    )


def page_sql(visible: str, limit_param: int) -> tuple[str, str]:
    """The page (parameters: region, visibility, LIMIT, public-only) with its count as a
    scalar subquery (evaluated once), like closedloop's page statement."""
    where = f"{visible} AND i.holding_region_code = $1 AND i.state IN {OPEN_STATES_SQL}"
    count = f"SELECT count(*) FROM issue i WHERE {where}"
    page = f"""
SELECT i.id, i.number, i.title, i.state, i.clock_kind, i.warn_at, i.due_at,
       e.name AS enterprise_name, e.credit_code,
       b.name_zh AS board_zh, b.name_en AS board_en,
       d.name_zh AS department_zh, d.name_en AS department_en,
       r.name AS region_name,
       le.type AS event_type, le.occurred_at AS event_at, le.actor_name AS event_actor,
       (SELECT count(*) FROM issue i WHERE {where}) AS total_count
FROM (SELECT i.id, i.number, i.title, i.state, i.clock_kind, i.warn_at, i.due_at,
             i.enterprise_id, i.board_id, i.department_id, i.holding_region_code, i.created_at
      FROM issue i
      WHERE {where}
      ORDER BY i.created_at DESC, i.id DESC
      LIMIT ${limit_param}) i
JOIN enterprise e ON e.id = i.enterprise_id
LEFT JOIN board b ON b.id = i.board_id
LEFT JOIN department d ON d.id = i.department_id
LEFT JOIN region r ON r.code = i.holding_region_code
LEFT JOIN LATERAL (
    SELECT ev.type, ev.occurred_at, ev.actor_name FROM issue_event ev
    WHERE ev.issue_id = i.id AND (ev.public OR NOT ${limit_param + 1}::boolean)
    ORDER BY ev.id DESC LIMIT 1) le ON true
ORDER BY i.created_at DESC, i.id DESC"""
    return page, count


@dataclass(frozen=True, slots=True)
class Caller:
    """An account's scope and its SQL, built once per account."""

    begin: str  # BEGIN READ ONLY and the scope
    region: str
    vparams: list[Any]
    page: str
    count: str
    public_only: bool


class Stats:
    statements = 0


def to_global_id(type_name: str, key: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def light(now: dt.datetime, clock_kind: str | None, warn_at: Any, due_at: Any) -> str | None:
    """The rule's home (``closedloop.domain.sla``), as ``Issue.light`` calls it."""
    lit = running_light(now, clock_kind, warn_at, due_at)
    return None if lit is None else lit.value


FIRST = re.compile(r"\bfirst\s*:\s*(\d+)")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code, media_type="application/json")


def error(status: int, message: str, code: str) -> Response:
    return json_response(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
    )


class Connections:
    """A fixed set of connections handed out in turn, without asyncpg's reset query on
    release (each request ends its transaction with ROLLBACK; its scope was local)."""

    def __init__(self, connections: list[Any]) -> None:
        self.all = connections
        self.free: asyncio.Queue[Any] = asyncio.Queue()
        for conn in connections:
            self.free.put_nowait(conn)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        conn = await self.free.get()
        try:
            yield conn
        except BaseException:
            if conn.is_in_transaction():
                await conn.close()  # never handed out again mid-transaction
                conn = await connect(self.dsn)
            raise
        finally:
            self.free.put_nowait(conn)

    dsn = ""

    async def close(self) -> None:
        for conn in self.all:
            await conn.close()


async def connect(dsn: str) -> Any:
    return await asyncpg.connect(
        dsn, server_settings={"application_name": "closedloop-floor", "timezone": "UTC"}
    )


# Verified tokens and their claims (closedloop.identity.tokens.TokenVerifier): checked once
# per token; the lifetime on every use.
VERIFIED: dict[str, dict[str, Any]] = {}
MAX_VERIFIED = 100_000


def verify(token: str) -> dict[str, Any]:
    claims = VERIFIED.get(token)
    now = time.time()
    if claims is not None and claims["exp"] > now and claims.get("nbf", now) <= now:
        return claims
    claims = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "sub", "aud", "iss"]},
    )
    if len(VERIFIED) >= MAX_VERIFIED:
        VERIFIED.clear()
    VERIFIED[token] = claims
    return claims


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = urlsplit(os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
    dsn = urlunsplit(
        ("postgresql", f"{DB_USER}@{url.hostname}:{url.port or 5432}", url.path, "", "")
    )
    app.state.pool = Connections([await connect(dsn) for _ in range(POOL_SIZE)])
    app.state.pool.dsn = dsn
    app.state.callers = {}
    try:
        yield
    finally:
        await app.state.pool.close()


async def caller_for(app: Starlette, username: str) -> Caller | None:
    callers: dict[str, Caller | None] = app.state.callers
    if username in callers:
        return callers[username]
    async with app.state.pool.acquire() as conn:
        row = await conn.fetchrow(PRINCIPAL, username)
    Stats.statements += 1
    found = None
    if row is not None:
        scope = dict(row)
        visible, vparams = visibility(scope)
        page, count = page_sql(visible, 2 + len(vparams))
        found = Caller(
            begin=begin_in_scope(
                (
                    scope["role"] or "",
                    scope["region_code"] or "",
                    str(scope["enterprise_id"] or ""),
                    str(scope["board_id"] or ""),
                    str(scope["department_id"] or ""),
                )
            ),
            region=scope["region_code"] or "",
            vparams=vparams,
            page=page,
            count=count,
            public_only=scope["role"] == "ENTERPRISE",
        )
    callers[username] = found
    return found


async def graphql(request: Request) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(401, "expected 'Authorization: Bearer <token>'", "UNAUTHENTICATED")
    try:
        claims = verify(token.strip())
    except jwt.InvalidTokenError as exc:
        return error(401, f"token is invalid: {exc}", "UNAUTHENTICATED")
    caller = await caller_for(request.app, str(claims["sub"]))
    if caller is None:
        return error(401, "unknown or inactive account", "UNAUTHENTICATED")

    try:
        query = orjson.loads(await request.body())["query"]
    except (ValueError, KeyError, TypeError):
        return error(400, "expected a JSON body with a query", "BAD_REQUEST")
    if not isinstance(query, str) or "pool: true" not in query:
        return error(400, "the floor answers the county pool page only", "BAD_REQUEST")
    m = FIRST.search(query)
    first = int(m.group(1)) if m else MAX_PAGE
    if first > MAX_PAGE:
        return error(400, f"first must be between 0 and {MAX_PAGE}", "BAD_REQUEST")
    lang = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    english = lang.startswith("en")

    async with request.app.state.pool.acquire() as conn:
        await conn.execute(caller.begin)
        try:
            rows = await conn.fetch(
                caller.page, caller.region, *caller.vparams, first, caller.public_only
            )
            Stats.statements += 2
            if rows:
                total = rows[0]["total_count"]
            else:  # the total rides on the rows: an empty page asks for it alone
                total = await conn.fetchval(caller.count, caller.region, *caller.vparams)
                Stats.statements += 1
        finally:
            await conn.execute("ROLLBACK")

    now = dt.datetime.now(dt.UTC)
    nodes = []
    for r in rows:
        board, department = r["board_zh"], r["department_zh"]
        nodes.append(
            {
                "id": to_global_id("Issue", r["id"]),
                "number": r["number"],
                "title": r["title"],
                "state": r["state"],
                "light": light(now, r["clock_kind"], r["warn_at"], r["due_at"]),
                "dueAt": iso(running_limit(r["clock_kind"], r["due_at"])),
                "enterprise": {
                    "name": r["enterprise_name"],
                    "creditCode": r["credit_code"],
                },
                "board": (None if board is None else {"name": r["board_en"] if english else board}),
                "department": (
                    None
                    if department is None
                    else {"name": r["department_en"] if english else department}
                ),
                "holdingRegion": (None if r["region_name"] is None else {"name": r["region_name"]}),
                "lastEvent": (
                    None
                    if r["event_type"] is None
                    else {
                        "type": r["event_type"],
                        "occurredAt": iso(r["event_at"]),
                        "actorName": r["event_actor"],
                    }
                ),
            }
        )
    return json_response({"data": {"issues": {"totalCount": total, "nodes": nodes}}})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    return PlainTextResponse(
        "# TYPE closedloop_sql_statements_total counter\n"
        f"closedloop_sql_statements_total {float(Stats.statements)}\n"
    )


app = Starlette(
    routes=[
        Route("/graphql", graphql, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ],
    lifespan=lifespan,
)
