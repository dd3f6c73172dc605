"""``POST /graphql`` for prepared queries, without strawberry's HTTP request handling.

A JSON request whose query is prepared (see ``closedloop.schema.execution.prepared``) is answered
here with the view's own hooks (context, sub-response, result processing, response), so
the answer is the one strawberry's view would give; the operation itself runs through the
schema's whole pipeline (``Schema.execute``: every extension) as any other. Anything else
(another content type, a streaming ``Accept``, a batch, operation extensions, a query that
is not prepared) goes to the view with its body replayed.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http.parse_content_type import parse_content_type

from closedloop.schema.execution.prepared import PreparedQueries

_FIELDS = frozenset({"query", "variables", "operationName", "extensions"})


async def answer_prepared(
    view: GraphQL[Any, Any], prepared: PreparedQueries, scope: Scope, receive: Receive, send: Send
) -> Receive | None:
    """Answers the request when it can (``None``); otherwise the ``receive`` to hand on."""
    content_type = accept = ""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.decode("latin-1")
        elif key == b"accept":
            accept = value.decode("latin-1")
    # The usual header as clients send it needs no parsing (the email parser behind
    # strawberry's parse_content_type costs ~10 µs a request); anything else is parsed.
    if content_type != "application/json" and (
        "application/json" not in parse_content_type(content_type)[0]
    ):
        return receive
    if accept and view._get_stream_transport_from_headers({"accept": accept}) is not None:
        return receive
    body, replay = await _read_body(receive)
    request = _prepared_request(body)
    if request is None:
        return replay
    query, variables, operation_name = request
    if prepared.document(query, operation_name) is None:
        return replay
    http_request = Request(scope, replay)
    sub_response = await view.get_sub_response(http_request)
    context = await view.get_context(http_request, sub_response)
    result = await prepared.execute(query, variables, operation_name, context)
    response_data = await view.process_result(http_request, result)
    if result.errors:
        view._handle_errors(result.errors, response_data)
    if sub_response.status_code or sub_response.background:
        # A resolver set a status or a background task: the view's own response.
        response = view.create_response(response_data, sub_response)
        await response(scope, replay, send)
        return None
    # What the view's response would send, without building it: the JSON as bytes.
    body = encode_json_bytes(response_data)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                *sub_response.headers.raw,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return None


def encode_json_bytes(data: object) -> bytes:
    """orjson: a tenth of the standard library's time on a page of 50 issues; anything it
    refuses (an integer beyond 64 bits in a JSON scalar, say) goes through the standard
    library."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def _prepared_request(body: bytes) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """The query, variables and operation name of a plain single request, else ``None``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    query = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    if (
        type(query) is not str
        or not (variables is None or type(variables) is dict)
        or not (operation_name is None or type(operation_name) is str)
        or data.get("extensions") is not None
    ):
        return None
    return query, variables, operation_name


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it out again."""
    chunks: list[bytes] = []
    first: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            first = message  # a disconnect: handed on as it came
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if first is not None:
        pending.append(first)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return body, replay
