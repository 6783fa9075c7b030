"""The API keys' settings."""

from __future__ import annotations

from pydantic import Field

from app.settings import CoreSettings


class ApiKeySettings(CoreSettings):
    """API keys (`app/api_keys/`)."""

    api_key_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="Seconds each process trusts a verified key without asking the database; "
        "a revoked key stops working within this time (0: ask every time).",
    )
