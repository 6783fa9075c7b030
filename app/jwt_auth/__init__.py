"""Sign-in with an identity provider: its JWTs accepted as credentials, beside API keys.

What it adds to the app (`install`), only when `JWT_JWKS_URL` or `JWT_ISSUER` is set: an
authenticator for the access dependency (app/access.py) that verifies bearer JWTs against the
provider's public keys, and a `JWT` scheme in the OpenAPI document. Off, nothing of it is
imported beyond its settings. Its README.md describes it; deleting this folder,
tests/jwt_auth/ and its lines in app/main.py removes it.
"""

from __future__ import annotations

from fastapi import FastAPI

from app.jwt_auth.settings import JwtSettings
from app.services import Services


def install(app: FastAPI, services: Services, settings: JwtSettings) -> None:
    # Imported here: PyJWT and cryptography cost an app that accepts no JWTs nothing.
    if settings.jwt_enabled:
        from app.jwt_auth.tokens import install_tokens

        install_tokens(app, services, settings)


__all__ = ["JwtSettings", "install"]
