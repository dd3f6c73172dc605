"""Logs and request ids, for every layer.

One log configuration for the process (``configure_logging``): structlog's JSON lines in
production or when ``CLOSEDLOOP_LOG_FORMAT=json``, its console renderer otherwise; the
standard library's loggers (uvicorn, strawberry, alembic) go through the same renderer.
Every line written while a request is served carries its ``request_id`` (bound by the HTTP
layer with ``bind_request_id``), which is also sent back in the ``X-Request-ID`` header
and in masked errors, so a user can quote it and an operator find the lines.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar, Token
from typing import IO, Any

import structlog

from closedloop.settings import Settings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# An incoming X-Request-ID is kept when it is short and plain (it ends up in log lines
# and response headers); anything else is replaced by a fresh id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/@-]{0,127}")


def request_id_for(incoming: str | None) -> str:
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def bind_request_id(request_id: str) -> Token[str | None]:
    return REQUEST_ID.set(request_id)


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


# Before the renderer: what every line gets, from structlog and the standard library alike.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    _add_request_id,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def route_structlog_to_stdlib() -> None:
    """structlog's loggers hand their events to the standard library's ``logging``, whose
    handlers (``configure_logging``'s, or a test runner's) render them. Done at import, so
    that every log line takes that way even before ``configure_logging``."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: module-level loggers follow a later configuration.
        cache_logger_on_first_use=False,
    )


route_structlog_to_stdlib()


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on ``stream`` (standard output by default) for every logger, replacing
    the root logger's handlers: JSON lines or the console renderer. Returns the handler."""
    stream = stream or sys.stdout
    renderer: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if settings.json_logs
        else [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    )
    route_structlog_to_stdlib()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        # uvicorn silences its access log (``--no-access-log``) by leaving it without
        # handlers and not propagating; each worker configures logging again after that,
        # and must not turn it back on (it did: every request was logged regardless).
        silenced = not logger.handlers and not logger.propagate
        logger.handlers = []
        logger.propagate = not silenced
    # Casbin prints its model and policy line by line at INFO when the enforcer loads.
    logging.getLogger("casbin").setLevel(logging.WARNING)
    return handler
