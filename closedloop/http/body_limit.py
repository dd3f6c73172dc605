"""Request bodies above ``Settings.max_body_bytes`` are refused with 413, before they are
read in full: at once when ``Content-Length`` says so, else as soon as the bytes received
pass the cap (a chunked upload is counted, never buffered past it)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from closedloop.schema.shape import bilingual


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the cap."""


def too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": bilingual("BODY_TOO_LARGE", f"more than {limit} bytes"),
                    "extensions": {"code": "BODY_TOO_LARGE", "maxBodyBytes": limit},
                }
            ]
        },
        status_code=413,
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.max_bytes:
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await too_large(limit)(scope, receive, send)
                    return
                break
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await too_large(limit)(scope, receive, send)
