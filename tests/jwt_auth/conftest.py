"""An identity provider of the tests' own: keys they generate, tokens they mint, and its
discovery document and key set served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from app.main import Settings
from tests.conftest import make_settings
from tests.served_app import with_test_routes

AUDIENCE = "https://api.example.com"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        """The public half, as a key set lists it."""
        public = self.private.public_key()
        data: dict[str, Any]
        if self.algorithm == "RS256":
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self.algorithm == "ES256":
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def new_key(algorithm: str, kid: str) -> SigningKey:
    private: Any
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, algorithm, private)


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    """One key per default algorithm, made once: an RSA key takes a while to generate."""
    return {alg: new_key(alg, f"key-{alg.lower()}") for alg in ("RS256", "ES256", "EdDSA")}


@dataclass
class Provider:
    """What an identity provider publishes; `fetches` counts the key set's downloads."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    down: bool = False
    port: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/keys"

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk() for key in keys]

    def token(self, key: SigningKey, **claims: Any) -> str:
        """A token signed with `key`: valid for this provider and AUDIENCE unless `claims`
        change it (a claim given as None is left out)."""
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "user_2a",
            "iat": now,
            "exp": now + 300,
            "scope": "read write",
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._json({"issuer": provider.issuer, "jwks_uri": provider.jwks_url})
            elif self.path == "/keys":
                provider.fetches += 1
                if provider.down:
                    self.send_error(503)
                else:
                    self._json({"keys": provider.keys})
            else:
                self.send_error(404)

        def _json(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def _provider_server() -> Iterator[Provider]:
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(_provider_server: Provider, signing_keys: dict[str, SigningKey]) -> Provider:
    """The provider, up, publishing every key of `signing_keys`, no fetch counted yet."""
    provider = _provider_server
    provider.publish(*signing_keys.values())
    provider.fetches, provider.down = 0, False
    return provider


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, provider: Provider) -> Settings:
    """JWTs from `provider` accepted for AUDIENCE; `@pytest.mark.settings` changes any."""
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        overrides = {**marker.kwargs, **overrides}  # the marker closest to the test wins
    jwt_settings = {
        "jwt_jwks_url": provider.jwks_url,
        "jwt_issuer": provider.issuer,
        "jwt_audience": AUDIENCE,
    }
    return make_settings(database_url, **{**jwt_settings, **overrides})


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The app with `GET /test/read` and `POST /test/write`, which answer with the caller."""
    return with_test_routes(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
