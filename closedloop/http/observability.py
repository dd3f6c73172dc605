"""What operators see of the HTTP layer: request ids, ``/metrics``, optional tracing.

- Every request gets a request id (a sane incoming ``X-Request-ID`` is kept), bound for
  the log lines written while it is served and sent back in the ``X-Request-ID`` header.
- ``/metrics`` (Prometheus) is served on a port of its own (``CLOSEDLOOP_METRICS_PORT``,
  and then not on the API's port), or on the API's port behind a bearer token
  (``CLOSEDLOOP_METRICS_TOKEN``); with neither it is open in development and test and
  refused in production.
- With several worker processes (``closedloop serve --workers N``), ``/metrics`` adds up
  every worker's counters: serve points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
  before the workers start, each worker writes its samples there, and whichever worker
  answers ``/metrics`` reads them all (prometheus_client's multiprocess mode). Each
  response names the worker process that served it (``X-Closedloop-Worker``).
- With ``CLOSEDLOOP_OTEL=true`` every request is traced by OpenTelemetry's ASGI
  middleware (the ``otel`` extra).
"""

from __future__ import annotations

import hmac
import os
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from closedloop.observability import REQUEST_ID, request_id_for
from closedloop.settings import Settings

REQUEST_ID_HEADER = b"x-request-id"
WORKER_HEADER = b"x-closedloop-worker"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope["headers"]:
            if key == REQUEST_ID_HEADER:
                incoming = value.decode("latin-1")
                break
        request_id = request_id_for(incoming)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER),
                    header,
                ]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class WorkerMiddleware:
    """``X-Closedloop-Worker: <pid>`` on every response and WebSocket handshake: which
    process served it, when several share one address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (WORKER_HEADER, str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_worker(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_worker)


def registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's metrics, or every worker's added up when
    ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus_client's multiprocess mode)."""
    if not os.environ.get(MULTIPROC_DIR):
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def _exposition() -> Response:
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)


def metrics_routes(settings: Settings) -> list[Route]:
    """``/metrics`` on the API's port, as the settings allow (none with a metrics port)."""
    if settings.metrics_port is not None:
        return []
    token = settings.metrics_token

    async def metrics(request: Request) -> Response:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                return PlainTextResponse(
                    "metrics need 'Authorization: Bearer <CLOSEDLOOP_METRICS_TOKEN>'",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        elif not settings.metrics_open:
            return PlainTextResponse(
                "metrics are not served here in production: set CLOSEDLOOP_METRICS_TOKEN "
                "or CLOSEDLOOP_METRICS_PORT",
                status_code=403,
            )
        return _exposition()

    return [Route("/metrics", metrics)]


class MetricsServer:
    """Prometheus' own HTTP server on the metrics port, in a thread of this process."""

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        self._server, self._thread = start_http_server(port, addr=host)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if isinstance(self._thread, threading.Thread):
            self._thread.join(timeout=5)


def tracing_middleware(settings: Settings, tracer_provider: Any = None) -> list[Middleware]:
    """OpenTelemetry's ASGI middleware when tracing is on (spans to ``tracer_provider``,
    else to the global provider, which ``install_tracing`` sets up)."""
    if not settings.otel:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [
        Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=tracer_provider,
            excluded_urls="healthz,readyz,metrics",
        )
    ]


def install_tracing(settings: Settings) -> None:
    """The process's tracer provider: spans batched to the OTLP endpoint named by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables (service name ``closedloop``)."""
    if not settings.otel:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "closedloop"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
