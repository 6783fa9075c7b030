"""API keys for machine clients: `Authorization: Bearer sk_...` or `X-API-Key`.

    python -m app.cli create-api-key --name billing --scopes read,write

What it adds to the app (`install`): an authenticator for the access dependency
(app/access.py) that verifies keys against the `api_keys` table through a per-process cache.
Its README.md describes it; deleting this folder, tests/api_keys/ and its lines in
app/main.py removes it.
"""

from __future__ import annotations

from app.api_keys.keys import KeyVerifier
from app.api_keys.settings import ApiKeySettings
from app.services import Services


def install(services: Services, settings: ApiKeySettings) -> None:
    verifier = services.provide(KeyVerifier(services.database, settings.api_key_cache_seconds))
    services.access.authenticators.append(verifier)


__all__ = ["ApiKeySettings", "KeyVerifier", "install"]
