"""The rate_limit_counters table: the Postgres backend's storage (this package's migrations)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base


class RateLimitCounter(Base):
    """One fixed window of one rate limit."""

    __tablename__ = "rate_limit_counters"

    # Which limit, who is counted (a digest for a long or unprintable identity), and the
    # window's number: "ratelimit:write:key:3f9a1c2e5b7d:29654321".
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # Unix time at which the window ends; later rows are deleted from time to time.
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
