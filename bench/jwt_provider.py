"""An identity provider for the benchmark's JWT row: an RSA key, its key set served on
127.0.0.1, and a token it signed, which the server verifies as it would a real provider's."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AUDIENCE = "https://bench.example.com"


@contextmanager
def jwt_provider() -> Iterator[tuple[dict[str, str], str]]:
    """The server's JWT settings as environment variables, and a token valid for an hour."""
    # Imported here: the benchmark's other rows need neither.
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    body = json.dumps({"keys": [{**jwk, "kid": "bench", "alg": "RS256", "use": "sig"}]}).encode()

    class KeySet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeySet)
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    now = int(time.time())
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": "bench", "iat": now, "exp": now + 3600}
    claims["scope"] = "read write"
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    env = {"JWT_JWKS_URL": f"{issuer}/keys", "JWT_ISSUER": issuer, "JWT_AUDIENCE": AUDIENCE}
    try:
        yield env, token
    finally:
        server.shutdown()
        server.server_close()
