"""JWTs from the identity provider as credentials: what passes, what is refused and why, the
key set's fetching, scopes, rate limits per subject, OpenAPI, settings and logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import logging
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from pydantic import ValidationError

from app.jwt_auth.keys import MAX_CACHE_SECONDS, MIN_CACHE_SECONDS, _max_age
from tests.conftest import make_settings
from tests.jwt_auth.conftest import AUDIENCE, Provider, SigningKey, bearer, new_key

READ, WRITE = "/test/read", "/test/write"


def _refusal(response: httpx.Response) -> str:
    """The reason a 401 gives, after checking it is in the one error shape and RFC 6750's."""
    assert response.status_code == 401
    reason: str = response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "unauthorized"
    challenge = f'Bearer error="invalid_token", error_description="{reason}"'
    assert response.headers["WWW-Authenticate"] == challenge
    return reason


def jwt_exp(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_a_valid_token_of_each_default_algorithm_is_accepted(
    anonymous_client: httpx.AsyncClient,
    provider: Provider,
    signing_keys: dict[str, SigningKey],
    algorithm: str,
) -> None:
    token = provider.token(signing_keys[algorithm])
    response = await anonymous_client.post(WRITE, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["caller"].startswith("sub:")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "The token has expired"),
        ({"nbf": int(time.time()) + 3600}, "The token is not valid yet"),
        ({"iss": "https://impostor.example.com"}, "The token's issuer is not accepted"),
        ({"aud": "https://other-api.example.com"}, "The token's audience is not accepted"),
        ({"exp": None}, "The token lacks the 'exp' claim"),
        ({"sub": None}, "The token lacks the 'sub' claim"),
        ({"aud": None}, "The token lacks the 'aud' claim"),
    ],
    ids=["expired", "early", "wrong-issuer", "wrong-audience", "no-exp", "no-sub", "no-aud"],
)
async def test_a_token_failing_a_claim_check_is_refused_with_the_reason(
    anonymous_client: httpx.AsyncClient,
    provider: Provider,
    signing_keys: dict[str, SigningKey],
    claims: dict[str, Any],
    reason: str,
) -> None:
    token = provider.token(signing_keys["ES256"], **claims)
    assert _refusal(await anonymous_client.get(READ, headers=bearer(token))) == reason


async def test_the_leeway_forgives_a_token_that_expired_a_moment_ago(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    token = provider.token(signing_keys["ES256"], exp=int(time.time()) - 5)
    assert (await anonymous_client.get(READ, headers=bearer(token))).status_code == 200


async def test_a_tampered_payload_fails_the_signature_check(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    header, _, signature = provider.token(signing_keys["RS256"]).split(".")
    now = int(time.time())
    forged = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "admin", "iat": now, "exp": now + 60}
    token = f"{header}.{_segment(forged)}.{signature}"
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))
    assert reason == "The token's signature is not valid"


async def test_an_unsigned_token_is_refused(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    _, payload, _ = provider.token(signing_keys["RS256"]).split(".")
    token = f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': 'key-rs256'})}.{payload}."
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))
    assert reason == "The token's algorithm is not accepted"


async def test_a_token_signed_with_hs256_and_the_public_key_is_refused(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    # The classic confusion: the public key (which anyone can fetch) used as an HMAC secret.
    # PyJWT refuses to sign that way, so the forger's HMAC is made here by hand.
    rsa = signing_keys["RS256"]
    public_pem = rsa.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + 60}
    signed = f"{_segment({'alg': 'HS256', 'kid': rsa.kid})}.{_segment(claims)}"
    mac = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    token = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))
    assert reason == "The token's algorithm is not accepted"
    assert provider.fetches == 0, "a refused algorithm should not cost a key set fetch"


async def test_a_token_whose_algorithm_differs_from_its_keys_is_refused(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    # An ES256 signature presented under the RSA key's kid.
    token = provider.token(SigningKey("key-rs256", "ES256", signing_keys["ES256"].private))
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))
    assert reason == "The token's algorithm does not match its key"


async def test_an_unknown_kid_is_refused(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    stranger = SigningKey("key-unknown", "ES256", signing_keys["ES256"].private)
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(provider.token(stranger))))
    assert reason == "The token's signing key is not known"


async def test_a_hundred_made_up_kids_cost_at_most_a_couple_of_key_set_fetches(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    es256 = signing_keys["ES256"].private
    tokens = [provider.token(SigningKey(f"made-up-{n}", "ES256", es256)) for n in range(100)]
    # Half at once (their fetches merge), half one after another (within the refresh interval).
    at_once = await asyncio.gather(
        *(anonymous_client.get(READ, headers=bearer(token)) for token in tokens[:50])
    )
    in_turn = [await anonymous_client.get(READ, headers=bearer(token)) for token in tokens[50:]]
    assert {response.status_code for response in [*at_once, *in_turn]} == {401}
    assert provider.fetches <= 2


@pytest.mark.settings(jwt_jwks_min_refresh_seconds=0)
async def test_a_key_added_at_the_provider_is_accepted_after_one_fetch(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    old = signing_keys["ES256"]
    provider.publish(old)
    first = await anonymous_client.get(READ, headers=bearer(provider.token(old)))
    assert first.status_code == 200
    rotated = new_key("ES256", "key-rotated")
    provider.publish(old, rotated)

    response = await anonymous_client.get(READ, headers=bearer(provider.token(rotated)))

    assert response.status_code == 200
    assert provider.fetches == 2


@pytest.mark.settings(jwt_jwks_min_refresh_seconds=0)
async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    withdrawn, successor = signing_keys["ES256"], new_key("ES256", "key-successor")
    provider.publish(withdrawn)
    token = provider.token(withdrawn)
    assert (await anonymous_client.get(READ, headers=bearer(token))).status_code == 200
    provider.publish(successor)
    # A token of the new key has the set fetched again.
    assert (await anonymous_client.get(READ, headers=bearer(provider.token(successor)))).is_success

    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))

    assert reason == "The token's signing key is not known"


@pytest.mark.settings(jwt_leeway_seconds=0)
async def test_a_remembered_token_is_refused_once_it_expires(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    # `exp` is in whole seconds: at least one second ahead, so the first request is in time.
    token = provider.token(signing_keys["ES256"], exp=int(time.time()) + 2)
    assert (await anonymous_client.get(READ, headers=bearer(token))).status_code == 200
    await asyncio.sleep(max(0.0, jwt_exp(token) - time.time()) + 0.05)

    reason = _refusal(await anonymous_client.get(READ, headers=bearer(token)))
    assert reason == "The token has expired"


async def test_cached_keys_keep_verifying_while_the_provider_is_down(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys["EdDSA"]
    assert (await anonymous_client.get(READ, headers=bearer(provider.token(key)))).is_success
    provider.down = True
    other = provider.token(key, sub="another-user")
    assert (await anonymous_client.get(READ, headers=bearer(other))).status_code == 200


@pytest.mark.settings(jwt_jwks_cache_seconds=0.001, jwt_jwks_min_refresh_seconds=0)
async def test_stale_keys_keep_verifying_when_the_refresh_fails(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys["EdDSA"]
    assert (await anonymous_client.get(READ, headers=bearer(provider.token(key)))).is_success
    provider.down = True
    await asyncio.sleep(0.01)
    # Another token of the same key: the first is remembered, and would need no key at all.
    other = provider.token(key, sub="another-user")
    assert (await anonymous_client.get(READ, headers=bearer(other))).status_code == 200
    assert provider.fetches == 2, "the stale set should have been fetched again"


@pytest.mark.settings(jwt_jwks_min_refresh_seconds=0)
async def test_a_key_not_cached_while_the_provider_is_down_is_a_503_not_a_401(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys["ES256"]
    assert (await anonymous_client.get(READ, headers=bearer(provider.token(key)))).is_success
    provider.down = True
    # Perhaps the key the provider has just rotated in: the set cannot say.
    rotated = provider.token(SigningKey("key-rotated", "ES256", key.private))

    response = await anonymous_client.get(READ, headers=bearer(rotated))

    assert response.status_code == 503 and "Retry-After" in response.headers


async def test_without_any_keys_an_unreachable_provider_is_a_503_with_retry_after(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    provider.down = True
    token = provider.token(signing_keys["ES256"])
    first = await anonymous_client.get(READ, headers=bearer(token))
    again = await anonymous_client.get(READ, headers=bearer(token))

    for response in (first, again):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert provider.fetches == 1, "the second request should not have tried again so soon"


@pytest.mark.settings(jwt_jwks_url="")
async def test_the_key_set_is_found_through_the_issuers_discovery_document(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    token = provider.token(signing_keys["RS256"])
    assert (await anonymous_client.get(READ, headers=bearer(token))).status_code == 200
    assert provider.fetches == 1


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"scope": "read write"}, 200),
        ({"scope": "openid read"}, 403),
        ({"scope": None, "permissions": ["read", "write"]}, 200),
        ({"scope": None, "permissions": ["read"]}, 403),
        ({"scope": None}, 403),
    ],
    ids=["scope", "scope-without-write", "permissions", "permissions-without-write", "none"],
)
async def test_the_scope_claim_or_permissions_list_grants_write(
    anonymous_client: httpx.AsyncClient,
    provider: Provider,
    signing_keys: dict[str, SigningKey],
    claims: dict[str, Any],
    status: int,
) -> None:
    token = provider.token(signing_keys["ES256"], **claims)
    response = await anonymous_client.post(WRITE, headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["message"] == "The credentials lack the 'write' scope"


@pytest.mark.settings(jwt_scope_claims="role", jwt_scope_map={"authenticated": ["read", "write"]})
async def test_the_scope_map_turns_a_providers_claim_into_scopes(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    # As for Supabase Auth, whose tokens carry `role: authenticated` and no scopes.
    signed_in = provider.token(signing_keys["ES256"], scope=None, role="authenticated")
    anonymous = provider.token(signing_keys["ES256"], scope="read write", role="anon")
    assert (await anonymous_client.post(WRITE, headers=bearer(signed_in))).status_code == 200
    assert (await anonymous_client.post(WRITE, headers=bearer(anonymous))).status_code == 403


@pytest.mark.settings(jwt_audience_claim="client_id", jwt_audience="app-client-1")
async def test_the_audience_can_be_read_from_another_claim(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    # As for Amazon Cognito's access tokens: `client_id`, and no `aud`.
    key = signing_keys["RS256"]
    ours = provider.token(key, aud=None, client_id="app-client-1")
    theirs = provider.token(key, aud=None, client_id="app-client-2")
    assert (await anonymous_client.get(READ, headers=bearer(ours))).status_code == 200
    reason = _refusal(await anonymous_client.get(READ, headers=bearer(theirs)))
    assert reason == "The token's audience is not accepted"


@pytest.mark.skipif(
    importlib.util.find_spec("app.rate_limits") is None, reason="the rate_limits feature is removed"
)
@pytest.mark.settings(rate_limit="2/hour", rate_limit_backend="memory")
async def test_each_subject_has_its_own_rate_limit(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys["ES256"]
    alice = bearer(provider.token(key, sub="alice"))
    # Another token of the same subject counts as the same caller.
    alice_again = bearer(provider.token(key, sub="alice", iat=int(time.time()) - 1))
    bob = bearer(provider.token(key, sub="bob"))

    statuses = [(await anonymous_client.get(READ, headers=h)).status_code for h in (alice, alice)]
    assert statuses == [200, 200]
    assert (await anonymous_client.get(READ, headers=alice_again)).status_code == 429
    assert (await anonymous_client.get(READ, headers=bob)).status_code == 200


async def test_the_caller_names_the_subject_only_by_a_hash(
    anonymous_client: httpx.AsyncClient, provider: Provider, signing_keys: dict[str, SigningKey]
) -> None:
    token = provider.token(signing_keys["ES256"], sub="alice@example.com")
    caller = (await anonymous_client.get(READ, headers=bearer(token))).json()["caller"]
    assert caller.startswith("sub:") and len(caller) == len("sub:") + 16
    assert "alice" not in caller


async def test_a_credential_that_is_not_a_jwt_is_left_to_the_other_authenticators(
    anonymous_client: httpx.AsyncClient, provider: Provider
) -> None:
    response = await anonymous_client.post(WRITE, headers=bearer("sk_notajwt_0123456789"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert provider.fetches == 0


@pytest.mark.settings(jwt_jwks_min_refresh_seconds=0)
async def test_no_token_reaches_the_logs(
    anonymous_client: httpx.AsyncClient,
    provider: Provider,
    signing_keys: dict[str, SigningKey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = signing_keys["RS256"]
    valid = provider.token(key)
    expired = provider.token(key, exp=int(time.time()) - 3600)
    unknown = provider.token(SigningKey("key-unknown", "RS256", key.private))
    caplog.set_level(logging.DEBUG)
    for token in (valid, expired, unknown):
        await anonymous_client.get(READ, headers=bearer(token))
    provider.down = True
    await anonymous_client.get(READ, headers=bearer(unknown))

    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert "could not fetch the JWT key set" in logged, "the outage should have been logged"
    for token in (valid, expired, unknown):
        assert token.split(".")[2] not in logged


async def test_openapi_offers_both_schemes_wherever_credentials_are_taken(app: FastAPI) -> None:
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["Bearer"]["scheme"] == schemes["JWT"]["scheme"] == "bearer"
    assert schemes["JWT"]["bearerFormat"] == "JWT"
    assert schema["paths"][WRITE]["post"]["security"] == [{"Bearer": []}, {"JWT": []}]
    assert schema["paths"][READ]["get"]["security"] == [{"Bearer": []}, {"JWT": []}, {}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_without_a_key_set_or_issuer_no_token_is_verified(database_url: str) -> None:
    from app.main import create_app
    from app.services import services_of

    app = create_app(make_settings(database_url))
    authenticators = services_of(app).access.authenticators
    assert not any(type(a).__module__.startswith("app.jwt_auth") for a in authenticators)
    # Without a route that needs credentials (the items feature removed, say) there are none.
    schemes = app.openapi().get("components", {}).get("securitySchemes", {})
    assert "JWT" not in schemes


@pytest.mark.parametrize("algorithms", ["HS256", "RS256,HS512", "none", ""])
def test_settings_refuse_symmetric_or_no_algorithms(algorithms: str) -> None:
    with pytest.raises(ValidationError, match="jwt_algorithms"):
        make_settings(jwt_issuer="https://id.example.com", jwt_algorithms=algorithms)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jwt_issuer": "https://id.example.com"}, "JWT_AUDIENCE is required"),
        ({"jwt_jwks_url": "https://id.example.com/jwks", "jwt_audience": "a"}, "JWT_ISSUER is"),
        (
            {"jwt_issuer": "http://id.example.com", "jwt_audience": "a"},
            "JWT_ISSUER must be an https:// URL",
        ),
    ],
    ids=["no-audience", "no-issuer", "plain-http"],
)
def test_production_refuses_an_incomplete_configuration(
    settings: dict[str, str], message: str
) -> None:
    url = "postgresql://app:secret@127.0.0.1:9/app"
    with pytest.raises(ValidationError, match=message):
        make_settings(url, environment="production", **settings)


def test_production_accepts_a_complete_configuration() -> None:
    url = "postgresql://app:secret@127.0.0.1:9/app"
    settings = make_settings(
        url,
        environment="production",
        jwt_issuer="https://id.example.com/",
        jwt_audience="https://api.example.com",
        jwt_algorithms="RS256, ES256",
    )
    assert settings.jwt_algorithms == ["RS256", "ES256"]


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        (None, 600.0),
        ("public, max-age=3600", 3600.0),
        ("max-age=5", MIN_CACHE_SECONDS),
        ("max-age=999999999", MAX_CACHE_SECONDS),
        ("no-cache", 600.0),
    ],
)
def test_the_key_set_is_kept_for_its_max_age_within_bounds(
    cache_control: str | None, seconds: float
) -> None:
    assert _max_age(cache_control, 600.0) == seconds
