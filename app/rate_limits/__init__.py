"""Rate limits for the API: fixed windows counted in memory, PostgreSQL or Redis.

What it adds to the app (`install`): a limiter for the access dependency (app/access.py).
Its README.md describes it; deleting this folder, tests/rate_limits/ and its lines in
app/main.py removes it.
"""

from __future__ import annotations

from app.rate_limits.limiter import RateLimiter, RateLimits, create_rate_limiter
from app.rate_limits.settings import RateLimitSettings
from app.services import Services


def install(services: Services, settings: RateLimitSettings) -> None:
    limiter = create_rate_limiter(settings, services.database)
    services.provide(limiter, close=limiter.close)
    services.access.limiters.append(RateLimits(limiter, settings))


__all__ = ["RateLimitSettings", "RateLimiter", "install"]
