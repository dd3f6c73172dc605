"""The ASGI application: ``/graphql``, ``/healthz``, ``/readyz``, ``/metrics`` (see
``closedloop.http.observability``)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from closedloop import caches, i18n
from closedloop.authz.enforcer import get_enforcer
from closedloop.authz.roles import ANONYMOUS, Principal, Role
from closedloop.db.database import Database
from closedloop.db.embedded import EmbeddedPostgres
from closedloop.db.migrate import is_at_head
from closedloop.db.setup import open_database, url_of
from closedloop.domain.clock import Clock, SystemClock
from closedloop.http.body_limit import BodyLimitMiddleware
from closedloop.http.cold import install_cold_signal
from closedloop.http.exports import routes as export_routes
from closedloop.http.fanout import IN_FLIGHT, Fanout, RawSendMiddleware
from closedloop.http.graphql_http import answer_prepared, encode_json_bytes
from closedloop.http.oauth import routes as oauth_routes
from closedloop.http.observability import (
    MetricsServer,
    RequestIdMiddleware,
    WorkerMiddleware,
    install_tracing,
    metrics_routes,
    tracing_middleware,
)
from closedloop.http.problem_list_callbacks import routes as callback_routes
from closedloop.http.process import (
    load_schemes,
    prepare_data,
    start_background,
    tune_garbage_collector,
)
from closedloop.http.report_http import routes as report_routes
from closedloop.http.schema import build_schema
from closedloop.http.sessions import EXPIRES_AT, SessionHandler, Sessions
from closedloop.http.throttle import throttled_failure
from closedloop.http.web import graphiql_page
from closedloop.http.web import routes as web_routes
from closedloop.identity.accounts import principal_for
from closedloop.identity.principal_cache import PrincipalCache
from closedloop.identity.tokens import (
    CREDENTIALS_CLAIM,
    KeysUnavailable,
    TokenError,
    TokenVerifier,
)
from closedloop.observability import configure_logging
from closedloop.schema.context import Context
from closedloop.schema.reference import REFERENCE
from closedloop.services.event_bus import EventBus
from closedloop.services.learning import redaction
from closedloop.services.schemes.catalog import SchemeCatalog
from closedloop.services.sign_in import SignInRefused, provision
from closedloop.settings import Settings, UnsafeSettings

log = structlog.get_logger("closedloop")

REQUESTS = Counter("closedloop_http_requests_total", "HTTP requests", ["path", "status"])
LATENCY = Histogram("closedloop_http_request_seconds", "HTTP request latency", ["path"])
# The process's CPU while each request was in flight, added up: with one request at a time,
# that request's own cost (bench/subscribers.py: a mutation's, apart from the fan-out that
# follows its answer); with several at once they share it.
REQUEST_CPU = Counter(
    "closedloop_http_request_cpu_seconds", "Process CPU while HTTP requests ran", ["path"]
)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    verifier: TokenVerifier
    embedded: EmbeddedPostgres | None = None
    bus: EventBus | None = None
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    sessions: Sessions = field(init=False)
    # Subscription frames made once per group (``None``: every operation alone).
    fanout: Fanout | None = field(default_factory=Fanout)
    schemes: SchemeCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.principal)
        self.schemes = SchemeCatalog(self.db, self._listening)

    def _listening(self) -> bool:
        return self.bus is not None and self.bus.connected

    async def principal(self, username: str) -> Principal | None:
        """The active account, remembered until it changes: the account NOTIFY drops it in
        every process, so a deactivation bites at the next request. Nothing is remembered
        while the bus is not listening (a change could go unheard)."""
        live = self.bus is not None and self.bus.connected
        return await self.principals.get(username, self._load_principal, live=live)

    async def _load_principal(self, username: str) -> Principal | None:
        """One read-only statement, so safe to repeat: when it fails (its backend was
        terminated under it), it is read once more on another connection."""
        try:
            async with self.db.read_reference() as conn:
                return await principal_for(conn, username)
        except (sa.exc.DBAPIError, OSError) as exc:
            log.warning("auth.account_read_retried", error=type(exc).__name__)
        async with self.db.read_reference() as conn:
            return await principal_for(conn, username)

    def account_changed(self, username: str) -> None:
        self.principals.forget(username)
        self.verifier.forget(username)
        self.sessions.recheck(username)

    def resync(self) -> None:
        """The bus was disconnected: any account may have changed meanwhile."""
        self.principals.clear()
        self.sessions.recheck(None)
        self.schemes.changed()

    def empty_caches(self) -> None:
        """Makes this process cold again, as if just started (its pooled connections and
        PostgreSQL's own caches aside): parsed and validated documents, cost and execution
        plans, page selections, compiled SQL (ours and SQLAlchemy's), reference rows,
        accounts and verified tokens. Sent ``SIGUSR1``, the server does this
        (``install_cold_signal``); ``bench/mixed.py`` uses it to measure cold requests."""
        dropped = caches.empty_all()
        REFERENCE.clear()
        self.principals.clear()
        self.verifier.clear()
        for engine in {self.db.engine, self.db.admin, self.db.system}:
            engine.sync_engine.clear_compiled_cache()
        log.info("caches.emptied", entries=dropped, worker=os.getpid())

    def open_bus(self) -> EventBus:
        self.bus = EventBus(
            url_of(self.db),
            on_account=self.account_changed,
            on_resync=self.resync,
            on_scheme=self.schemes.changed,
        )
        return self.bus


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _keys_unavailable(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE"}}]},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def authenticate(runtime: Runtime, authorization: str | None) -> Principal:
    """The caller for an ``Authorization`` header; raises ``TokenError`` for a bad token
    (``KeysUnavailable`` when the identity provider cannot be reached)."""
    return (await authenticate_session(runtime, authorization))[0]


async def authenticate_session(
    runtime: Runtime, authorization: str | None
) -> tuple[Principal, float | None]:
    """The caller and when its token stops being accepted (Unix seconds: ``exp`` plus the
    clock-skew leeway the verifier allows; ``None`` for anonymous)."""
    if not authorization:
        return ANONYMOUS, None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("expected 'Authorization: Bearer <token>'")
    verifier = runtime.verifier
    claims = await verifier.verify(token.strip())
    name = verifier.account_name(claims)
    principal = await runtime.principal(name)
    if principal is None and verifier.external(claims):
        # First sign-in through the identity provider: an account from its claims.
        try:
            provisioned = await provision(runtime.db, runtime.clock, runtime.settings, claims, name)
        except SignInRefused as exc:
            raise TokenError(str(exc)) from None
        if provisioned:
            runtime.account_changed(name)  # the cache may hold "no such account"
        principal = await runtime.principal(name)
    # A channel system's token names a channel account, and no other token does.
    from_channel = claims["iss"] == runtime.settings.channel_token_issuer
    if principal is None or from_channel != (principal.role is Role.CHANNEL):
        raise TokenError("unknown or inactive account")
    # Issued under a secret that has been replaced since (the check runs on every request,
    # after the verified-token cache: a rotation stops the tokens it holds at once).
    if from_channel and claims.get(CREDENTIALS_CLAIM) != principal.credentials:
        raise TokenError("the client's secret has changed: ask for a new token")
    return principal, float(claims["exp"]) + runtime.settings.jwt_leeway_seconds


class AuthMiddleware:
    """Resolves the caller once per HTTP request; a bad token stops here with 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/graphql", "/export")):
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        try:
            principal = await authenticate(runtime, raw.decode("latin-1") if raw else None)
        except TokenError as exc:
            log.info("auth.rejected", reason=str(exc), path=scope["path"])
            throttled = await throttled_failure(scope)
            await (throttled or _unauthorized(str(exc)))(scope, receive, send)
            return
        except KeysUnavailable as exc:
            log.error("auth.keys_unavailable", reason=str(exc.__cause__ or exc))
            await _keys_unavailable(str(exc))(scope, receive, send)
            return
        except (sa.exc.DBAPIError, OSError) as exc:  # the account look-up lost its database
            log.warning("auth.database_unavailable", error=type(exc).__name__)
            await _keys_unavailable("database unavailable")(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionHandler

    def __init__(self, schema: Any, **options: Any) -> None:
        # graphql-transport-ws only: the legacy protocol has no place to refuse a socket.
        super().__init__(schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prepared = getattr(self.schema, "prepared", None)
        if scope["type"] == "http" and scope["method"] == "POST" and prepared is not None:
            handed_on = await answer_prepared(self, prepared, scope, receive, send)
            if handed_on is None:
                return
            receive = handed_on
        await super().__call__(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()  # bundled in the package: no CDN

    # Text, not bytes, so that subscriptions keep sending text frames.
    def encode_json(self, data: object) -> str:
        return encode_json_bytes(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        runtime: Runtime = request.app.state.runtime
        principal = getattr(request.state, "principal", ANONYMOUS)
        return Context(
            principal=principal,
            db=runtime.db,
            clock=runtime.clock,
            settings=runtime.settings,
            locale=i18n.negotiate(request.headers.get("accept-language")),
            request=request,
            response=response,
            bus=runtime.bus,
            on_account_change=runtime.account_changed,
            schemes=runtime.schemes,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate with ``{"Authorization": "Bearer …"}`` in
        connection_init (browsers cannot set headers on a WebSocket); without a valid token
        the socket is refused (4403). The token's expiry ends the session
        (``closedloop.http.sessions``)."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if not header:
            raise ConnectionRejectionError({"message": "authentication required"})
        runtime: Runtime = context.request.app.state.runtime
        try:
            context.principal, expires_at = await authenticate_session(runtime, str(header))
        except (TokenError, KeysUnavailable) as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        context.extras[EXPIRES_AT] = expires_at
        return None


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.db.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        # The request role may not read migration bookkeeping; the system role, which the
        # sweeper and the relay need, may (and so is checked too).
        at_head = await is_at_head(runtime.db.system)
    except Exception as exc:  # any failure means "not ready", never a crash
        log.warning("readyz.database_unavailable", error=type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
    if not at_head:
        return JSONResponse(
            {"status": "unavailable", "database": True, "migrations": "behind"}, status_code=503
        )
    # Without its LISTEN connection the process neither pushes events nor hears account
    # changes: not ready until the bus has reconnected (it keeps trying).
    listening = runtime.bus is not None and runtime.bus.connected
    body = {"status": "ready", "database": True, "migrations": "head", "listening": listening}
    if not listening:
        return JSONResponse({**body, "status": "unavailable"}, status_code=503)
    return JSONResponse(body)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        started_cpu = time.process_time()
        status = {"code": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        IN_FLIGHT.enter()  # subscription frames wait for it (``http.fanout``)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            IN_FLIGHT.leave()
            path = scope["path"] if scope["path"] in _KNOWN_PATHS else "other"
            REQUESTS.labels(path, str(status["code"])).inc()
            LATENCY.labels(path).observe(time.perf_counter() - started)
            REQUEST_CPU.labels(path).inc(time.process_time() - started_cpu)


_KNOWN_PATHS = {
    "/graphql",
    "/healthz",
    "/readyz",
    "/metrics",
    "/export/report.html",
    "/export/report.pdf",
}


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    tracer_provider: Any = None,
) -> Starlette:
    settings = settings or Settings()
    settings.check()  # refuses unsafe production settings, listing every problem
    scheme_problems = load_schemes(settings)
    if scheme_problems:
        raise UnsafeSettings(scheme_problems)
    schema = build_schema(settings)
    graphql = GraphQLApp(schema, graphql_ide="graphiql" if settings.graphiql_on else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        configure_logging(settings)
        install_tracing(settings)
        metrics_server = (
            MetricsServer(settings.metrics_port) if settings.metrics_port is not None else None
        )
        if database is not None:
            db, embedded = database, None
        else:
            db, embedded = await open_database(settings)
        get_enforcer()  # the policy loads once, at start
        # so does the redaction's tagger (~1 s), not in the first shareCase
        await asyncio.to_thread(redaction.warm)
        if embedded is not None or settings.demo:
            await prepare_data(db, demo=settings.demo)
        runtime = Runtime(settings, db, clock or SystemClock(), TokenVerifier(settings), embedded)
        bus = runtime.open_bus()
        await bus.start()
        app.state.runtime = runtime
        uninstall_cold_signal = install_cold_signal(runtime)
        tune_garbage_collector()
        stop = asyncio.Event()
        workers = start_background(runtime.db, runtime.clock, settings, stop)
        if db.replicas is not None:
            await db.replicas.check(db.system)  # in rotation from the first request
            workers.append(
                asyncio.create_task(
                    db.replicas.watch(db.system, settings.replica_check_seconds, stop),
                    name="replicas",
                )
            )
        try:
            yield
        finally:
            stop.set()
            uninstall_cold_signal()
            await asyncio.gather(*workers, return_exceptions=True)
            await bus.stop()
            if database is None:
                await db.dispose()
            if embedded is not None:
                embedded.stop()
            if metrics_server is not None:
                metrics_server.stop()

    middleware = [
        Middleware(RawSendMiddleware),
        Middleware(RequestIdMiddleware),
        Middleware(WorkerMiddleware),
        *tracing_middleware(settings, tracer_provider),
        Middleware(MetricsMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Accept-Language"],
                max_age=600,
            )
        )
    middleware.append(Middleware(AuthMiddleware))
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *metrics_routes(settings),
        *report_routes,
        *callback_routes,
        *export_routes,
        *oauth_routes,
        *web_routes,
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.limiter = schema.limiter
    return app
