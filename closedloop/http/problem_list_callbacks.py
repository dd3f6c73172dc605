"""``POST /callbacks/problem-lists``: a tier's 七张问题清单 application reports the state of a
problem that was pushed to it, and the loop keeps tracking the issue with that state.

The request is signed as our own pushes are (``closedloop.services.outbox_relay.sign``):
``X-Closedloop-Timestamp: <Unix seconds>`` and ``X-Closedloop-Signature: sha256=<hex
HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` with the secret shared with the
applications (``CLOSEDLOOP_PROBLEM_LIST_SECRET``). The body::

    {"region": "330521", "reference": "<the receipt it gave>", "state": "IN_PROGRESS",
     "message": "已转交县发改局牵头办理"}

``state`` is one of ACCEPTED, IN_PROGRESS, RESOLVED, REJECTED. Answers (JSON, nothing
written unless 200):

* 200 ``{"region", "reference", "state", "changed"}`` (``changed`` false for a repeat);
* 401 ``BAD_SIGNATURE``: no signature, a wrong one, or a timestamp outside the replay
  window (``CLOSEDLOOP_PROBLEM_LIST_REPLAY_WINDOW_SECONDS``); checked before the body is
  read as JSON, so an unsigned caller learns nothing;
* 400 ``INVALID_REPORT`` with the ``field`` at fault;
* 404 ``UNKNOWN_REFERENCE``: no push of that tier has that receipt (a push of another
  tier answers the same);
* 409 ``STALE_REPORT``: the state is older than the recorded one (an out-of-order or
  replayed report), with the recorded ``state``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from closedloop import i18n
from closedloop.db.database import Database
from closedloop.domain.clock import Clock
from closedloop.domain.problem_lists import InvalidReport, ReportErrorCode, parse_report
from closedloop.services.issues.problem_lists import apply_report
from closedloop.services.outbox_relay import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from closedloop.settings import Settings

PATH = "/callbacks/problem-lists"
_STATUS = {
    ReportErrorCode.BAD_SIGNATURE: 401,
    ReportErrorCode.INVALID_REPORT: 400,
    ReportErrorCode.UNKNOWN_REFERENCE: 404,
    ReportErrorCode.STALE_REPORT: 409,
}
_NO_STORE = {"Cache-Control": "no-store"}


class _Runtime(Protocol):
    settings: Settings
    db: Database
    clock: Clock


def _error(
    code: ReportErrorCode, locale: str, field: str | None = None, **extra: Any
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": code.value,
        "message": i18n.label(code, locale, "ProblemListReportError"),
        **extra,
    }
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=_STATUS[code], headers=_NO_STORE)


async def problem_list_callback(request: Request) -> JSONResponse:
    runtime: _Runtime = request.app.state.runtime
    settings = runtime.settings
    locale = i18n.negotiate(request.headers.get("accept-language"))
    body = await request.body()
    signed = settings.problem_list_secret_usable and verify_signature(
        settings.problem_list_secret,
        request.headers.get(TIMESTAMP_HEADER, ""),
        body,
        request.headers.get(SIGNATURE_HEADER, ""),
        now=runtime.clock.now().timestamp(),
        tolerance=settings.problem_list_replay_window_seconds,
    )
    if not signed:
        return _error(ReportErrorCode.BAD_SIGNATURE, locale)
    try:
        report = parse_report(json.loads(body))
    except ValueError as exc:  # InvalidReport, or a body that is not JSON
        field = exc.field if isinstance(exc, InvalidReport) else "body"
        return _error(ReportErrorCode.INVALID_REPORT, locale, field)
    result = await apply_report(runtime.db, runtime.clock, settings, report)
    if result.error is not None:
        extra = {"state": result.state.value} if result.state is not None else {}
        return _error(result.error, locale, **extra)
    assert result.state is not None
    return JSONResponse(
        {
            "region": report.region_code,
            "reference": report.reference,
            "state": result.state.value,
            "changed": result.changed,
        },
        headers=_NO_STORE,
    )


routes: list[Route] = [Route(PATH, problem_list_callback, methods=["POST"])]
