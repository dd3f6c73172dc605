"""A failed authentication spends a point of its client address's rate-limit budget."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from closedloop.schema.shape import bilingual
from closedloop.services.rate_limit import RateLimiter, address_key


async def throttled_failure(scope: Scope) -> Response | None:
    """A failed authentication spends a point of its client address's budget; 429 (instead
    of 401) once that is spent."""
    limiter: RateLimiter | None = scope["app"].state.limiter
    if limiter is None:
        return None
    client = scope.get("client")
    decision = await limiter.spend(address_key(client[0] if client else None), 1)
    if decision.allowed:
        return None
    message = bilingual("RATE_LIMITED", f"retry after {decision.retry_after} s")
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "RATE_LIMITED"}}]},
        status_code=429,
        headers=decision.headers(),
    )
