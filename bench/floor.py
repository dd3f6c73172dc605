"""The floor for the county pool page (issue 7): Starlette + asyncpg, no GraphQL engine.

It answers the harness's ``county_pool`` request (``issues(filter: {pool: true}, first: N)``
with enterprise, board, department, holding region and last event) with the same JSON as
``closedloop serve``, doing only what any server must do for it:

- verify the HS256 bearer token (pyjwt, the same secret, audience and issuer as the API);
- look up the account's scope once and cache it (the API caches it for 30 s);
- one transaction on a pool of connections as ``closedloop_app`` (row-level security
  applies): ``set_config`` of the scope, the page (the app's own visibility predicate, the
  pool filter, newest first, LIMIT N, joined with enterprise, board, department, region and
  a LATERAL for the last event), and the count;
- build the same response: global ids ``base64url("Issue:<id>")`` without padding,
  ISO 8601 datetimes, ``light`` computed from warn_at/due_at against now when a clock runs,
  ``dueAt`` only while a clock runs, names in zh-CN unless Accept-Language asks for English.

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
(statements sent, ``BEGIN``/``ROLLBACK`` not counted, as the API counts them) for the
harness; ``/healthz`` answers ok.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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

# closedloop.db.database._SET_SCOPE
SET_SCOPE = (
    "SELECT set_config('closedloop.role', $1, true),"
    " set_config('closedloop.region', $2, true),"
    " set_config('closedloop.enterprise', $3, true),"
    " set_config('closedloop.board', $4, true),"
    " set_config('closedloop.department', $5, true)"
)

# closedloop.identity.accounts._PRINCIPAL_QUERY
PRINCIPAL = (
    "SELECT a.role, coalesce(a.region_code, e.region_code) AS region_code, a.board_id,"
    " a.department_id, a.enterprise_id FROM account a"
    " LEFT JOIN enterprise e ON e.id = a.enterprise_id"
    " WHERE a.username = $1 AND a.active"
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
        return "(i.holding_region_code = $2 AND i.board_id = $3)", [region, scope["board_id"]]
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
    """The page (parameters: region, visibility, LIMIT, public-only) and its count."""
    where = f"{visible} AND i.holding_region_code = $1 AND i.state IN {OPEN_STATES_SQL}"
    page = f"""
SELECT i.id, i.number, i.title, i.state, i.clock_kind, i.warn_at, i.due_at,
       e.name AS enterprise_name, e.credit_code,
       b.name_zh AS board_zh, b.name_en AS board_en,
       d.name_zh AS department_zh, d.name_en AS department_en,
       r.name AS region_name,
       le.type AS event_type, le.occurred_at AS event_at, le.actor_name AS event_actor
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
    count = f"SELECT count(*) FROM issue i WHERE {where}"
    return page, count


@dataclass(frozen=True, slots=True)
class Caller:
    """An account's scope and its SQL, built once per account."""

    settings: tuple[str, str, str, str, str]
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


def error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = urlsplit(os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://"))
    dsn = urlunsplit(
        ("postgresql", f"{DB_USER}@{url.hostname}:{url.port or 5432}", url.path, "", "")
    )
    app.state.pool = await asyncpg.create_pool(
        dsn,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        server_settings={"application_name": "closedloop-floor", "timezone": "UTC"},
    )
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
            settings=(
                scope["role"] or "",
                scope["region_code"] or "",
                str(scope["enterprise_id"] or ""),
                str(scope["board_id"] or ""),
                str(scope["department_id"] or ""),
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
        claims = jwt.decode(
            token.strip(),
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.InvalidTokenError as exc:
        return error(401, f"token is invalid: {exc}", "UNAUTHENTICATED")
    caller = await caller_for(request.app, str(claims["sub"]))
    if caller is None:
        return error(401, "unknown or inactive account", "UNAUTHENTICATED")

    try:
        query = json.loads(await request.body())["query"]
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

    async with request.app.state.pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(SET_SCOPE, *caller.settings)
        rows = await conn.fetch(
            caller.page, caller.region, *caller.vparams, first, caller.public_only
        )
        total = await conn.fetchval(caller.count, caller.region, *caller.vparams)
    Stats.statements += 3

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
                "enterprise": {"name": r["enterprise_name"], "creditCode": r["credit_code"]},
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
    return JSONResponse({"data": {"issues": {"totalCount": total, "nodes": nodes}}})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


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
