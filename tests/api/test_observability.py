"""What operators see: request ids (header, log lines, masked errors), JSON logs where the
client's own errors are one line and unexpected ones carry their traceback, /metrics
protection, and optional OpenTelemetry tracing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from closedloop.db.database import Database
from closedloop.domain.clock import FrozenClock
from closedloop.http.app import Runtime, create_app
from closedloop.http.observability import MetricsServer
from closedloop.identity.tokens import TokenVerifier, mint_token
from closedloop.observability import configure_logging
from closedloop.services import tenancy
from closedloop.settings import Settings
from tests.conftest import Api

FAIL = "{ regions { totalCount } }"


@pytest.fixture
def broken_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(tenancy, "list_regions", fail)


@pytest.fixture
def log_lines(settings: Settings) -> Iterator[io.StringIO]:
    """The process's logs as JSON lines in a buffer; the logging set-up is restored after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json"}), buffer)
    yield buffer
    root.handlers, root.level = saved_handlers, saved_level


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_every_response_carries_a_request_id(api: Api) -> None:
    generated = {(await api.client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    kept = await api.client.get("/healthz", headers={"X-Request-ID": "portal-7f3a:42"})
    assert kept.headers["x-request-id"] == "portal-7f3a:42"
    for insane in ("a" * 200, "has space", "-leading-dash", 'quo"te', "semi;colon", ""):
        response = await api.client.get("/healthz", headers={"X-Request-ID": insane})
        assert response.headers["x-request-id"] != insane
        assert len(response.headers["x-request-id"]) == 32


@pytest.mark.usefixtures("broken_regions")
@pytest.mark.parametrize("path", ["prepared", "strawberry"])
async def test_masked_errors_carry_the_request_id(api: Api, path: str) -> None:
    # Operation extensions send a query through strawberry's own pipeline.
    body: dict[str, Any] = {"query": FAIL, **({"extensions": {}} if path == "strawberry" else {})}
    response = await api.client.post(
        "/graphql",
        json=body,
        headers={
            "Authorization": f"Bearer {api.token('admin')}",
            "X-Request-ID": f"quote-me-{path}",
        },
    )
    error = response.json()["errors"][0]
    assert "Unexpected error" in error["message"]
    assert "secret" not in response.text
    assert error["extensions"] == {"requestId": f"quote-me-{path}"}
    assert response.headers["x-request-id"] == f"quote-me-{path}"


async def test_client_errors_are_one_line_unexpected_ones_have_their_traceback(
    api: Api, log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    client_errors = [
        ({"query": "{ viewer { usernam } }"}, admin),  # validation
        ({"query": '{ problemListPushes(region: "abc") { totalCount } }'}, admin),  # typed error
        ({"query": "{ viewer { username } }"}, {"Authorization": "Bearer not.a.token"}),  # 401
    ]
    events = [
        ("graphql.client_error", None),
        ("graphql.client_error", "INVALID_REGION_CODE"),
        ("auth.rejected", None),
    ]
    for number, (body, headers) in enumerate(client_errors):
        await api.client.post(
            "/graphql", json=body, headers={**headers, "X-Request-ID": f"client-{number}"}
        )

    async def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(tenancy, "list_regions", fail)
    boom = {**admin, "X-Request-ID": "boom"}
    await api.client.post("/graphql", json={"query": FAIL}, headers=boom)

    records = _records(log_lines)
    for number in range(len(client_errors)):
        mine = [r for r in records if r.get("request_id") == f"client-{number}"]
        assert len(mine) == 1, mine
        assert mine[0]["level"] == "info"
        assert (mine[0]["event"], mine[0].get("code")) == events[number]
        assert "exception" not in mine[0] and "Traceback" not in json.dumps(mine[0])
    (unexpected,) = [r for r in records if r.get("request_id") == "boom"]
    assert unexpected["level"] == "error"
    assert unexpected["event"] == "graphql.unexpected_error"
    (raised,) = [e for e in unexpected["exception"] if e["exc_type"] == "RuntimeError"]
    assert any(frame["name"] == "fail" for frame in raised["frames"])


def test_console_logs_in_development(settings: Settings) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    try:
        configure_logging(settings.model_copy(update={"environment": "development"}), buffer)
        structlog.get_logger("closedloop").info("hello", answer=42)
        logging.getLogger("uvicorn.error").warning("from the standard library")
        json_settings = settings.model_copy(update={"environment": "production"})
        assert json_settings.json_logs and not settings.json_logs
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        lines = buffer.getvalue().splitlines()
    assert len(lines) == 2
    assert "hello" in lines[0] and "answer=42" in lines[0]
    assert "from the standard library" in lines[1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_no_access_log_stays_off_when_a_worker_configures_logging(settings: Settings) -> None:
    """``closedloop serve --no-access-log``: uvicorn silences ``uvicorn.access`` before the
    worker's lifespan configures logging again; the access log stays off."""
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.handlers[:], root.level, access.handlers[:], access.propagate
    level, disabled, off = access.level, access.disabled, logging.root.manager.disable
    buffer = io.StringIO()
    try:
        # as a served process has it (another test may have run uvicorn with its own
        # logging settings, or disabled logging)
        access.setLevel(logging.INFO)
        access.disabled = False
        logging.disable(logging.NOTSET)
        access.handlers, access.propagate = [], False  # what uvicorn does for access_log=False
        configure_logging(settings, buffer)
        access.info('127.0.0.1:1 - "POST /graphql HTTP/1.1" 200')
        assert not access.propagate
        access.propagate = True  # the access log wanted: it goes to the root handler
        configure_logging(settings, buffer)
        access.info('127.0.0.1:2 - "POST /graphql HTTP/1.1" 200')
    finally:
        root.handlers, root.level, access.handlers, access.propagate = saved
        access.setLevel(level)
        access.disabled = disabled
        logging.disable(off)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and "127.0.0.1:2" in lines[0], lines


@pytest.fixture
async def client_for(db: Database, clock: FrozenClock) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings, **kw: Any) -> httpx.AsyncClient:
        app: Starlette = create_app(settings, database=db, clock=clock, **kw)
        app.state.runtime = Runtime(settings, db, clock, TokenVerifier(settings))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def _production(settings: Settings, **over: Any) -> Settings:
    return settings.model_copy(
        update={
            "environment": "production",
            "jwt_secret": "p" * 48,
            "webhook_secret": "w" * 40,
            "database_url": "postgresql://x@db/closedloop",
            **over,
        }
    )


async def test_metrics_protection(settings: Settings, client_for: Any) -> None:
    # Development: open.
    assert (await client_for(settings).get("/metrics")).status_code == 200
    # Production without token or port: refused.
    refused = await client_for(_production(settings)).get("/metrics")
    assert refused.status_code == 403
    assert "CLOSEDLOOP_METRICS_TOKEN" in refused.text
    # A token: needed in every environment once set.
    for configured in (
        _production(settings, metrics_token="m" * 24),
        settings.model_copy(update={"metrics_token": "m" * 24}),
    ):
        client = client_for(configured)
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + "n" * 24})
        assert wrong.status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 24})
        assert ok.status_code == 200
        assert "closedloop_http_requests_total" in ok.text


async def test_metrics_on_a_port_of_their_own(settings: Settings, client_for: Any) -> None:
    on_port = _production(settings, metrics_port=9)
    assert (await client_for(on_port).get("/metrics")).status_code == 404
    server = MetricsServer(0, host="127.0.0.1")
    try:
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert scraped.status_code == 200
    assert "closedloop_http_requests_total" in scraped.text


async def test_tracing_is_optional_and_off_by_default(settings: Settings, client_for: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    query = {"query": "{ viewer { username } }"}
    headers = {"Authorization": f"Bearer {mint_token(settings, 'deqing.center')}"}

    await client_for(settings, tracer_provider=provider).post("/graphql", json=query)
    assert exporter.get_finished_spans() == ()

    traced = client_for(settings.model_copy(update={"otel": True}), tracer_provider=provider)
    response = await traced.post("/graphql", json=query, headers=headers)
    assert response.json()["data"]["viewer"]["username"] == "deqing.center"
    await traced.get("/healthz")  # excluded
    spans = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert [s.name for s in spans] == ["POST /graphql"]
    assert spans[0].attributes is not None
    assert spans[0].attributes.get("http.response.status_code", 200) == 200
