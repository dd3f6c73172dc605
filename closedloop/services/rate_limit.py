"""Rate limiting in cost points per window, on the ``limits`` library.

Each caller has a budget of points per fixed window: a signed-in account its own, anonymous
and failed-authentication traffic one per client address. A GraphQL request spends its
query's points (``points_for``: GitHub's rule, one point per hundred objects, at least
one); a failed authentication spends one. The counters live in this process by default
(``limits``' async memory storage), or in Redis when ``CLOSEDLOOP_REDIS_URL`` is set, so
that every process of the API shares them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from closedloop.settings import Settings

log = structlog.get_logger("closedloop.rate_limit")

# Objects of a query per rate-limit point (GitHub: a request for up to 100 nodes is 1 point).
OBJECTS_PER_POINT = 100


def points_for(cost: int) -> int:
    return max(1, math.ceil(cost / OBJECTS_PER_POINT))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # seconds since the epoch

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` (and ``Retry-After`` when refused)."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class RateLimiter:
    """Budgets per account and per client address; ``None`` from ``for_settings`` when
    rate limiting is off."""

    def __init__(self, settings: Settings) -> None:
        window = settings.rate_limit_window_seconds
        self.account = RateLimitItemPerSecond(settings.rate_limit_points, window)
        self.address = RateLimitItemPerSecond(settings.rate_limit_address_points, window)
        uri = _async_uri(settings.redis_url) if settings.redis_url else "async+memory://"
        self.storage = storage_from_string(uri)
        self.strategy = FixedWindowRateLimiter(self.storage)

    @classmethod
    def for_settings(cls, settings: Settings) -> RateLimiter | None:
        if settings.rate_limit_points <= 0:
            return None
        return cls(settings)

    async def spend(self, key: str, points: int) -> Decision:
        """Spend ``points`` of ``key``'s budget (``account:…`` or ``address:…``). When the
        shared storage does not answer, the request is let through (and logged): a Redis
        outage must not take the API down with it."""
        item = self.account if key.startswith("account:") else self.address
        try:
            allowed = await self.strategy.hit(item, key, cost=points)
            reset_at, remaining = await self.strategy.get_window_stats(item, key)
        except Exception as exc:  # the storage's own errors vary by client library
            log.warning("rate_limit.storage_unavailable", error=type(exc).__name__)
            return Decision(True, item.amount, item.amount, time.time() + item.get_expiry())
        return Decision(allowed, item.amount, remaining, reset_at)


def _async_uri(url: str) -> str:
    """``redis://…`` as the ``limits`` URI of its asyncio storage."""
    return url if url.startswith("async+") else f"async+{url}"


def account_key(account_id: int) -> str:
    return f"account:{account_id}"


def address_key(address: str | None) -> str:
    return f"address:{address or 'unknown'}"
