"""The JWT feature's settings: off until `JWT_JWKS_URL` or `JWT_ISSUER` is set."""

from __future__ import annotations

from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, PositiveFloat, field_validator, model_validator
from pydantic_settings import NoDecode

from app.access import Scope
from app.settings import CoreSettings

# Signatures made with a private key and checked with a public one. An HMAC algorithm (HS256)
# would check with a shared secret: the public key set would be that secret, and anyone could
# sign with it.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class JwtSettings(CoreSettings):
    """JWTs from an identity provider (`app/jwt_auth/`)."""

    jwt_jwks_url: str = Field(
        "",
        description="URL of the provider's JSON Web Key Set, the public keys its tokens are "
        "signed with. Empty: read from `JWT_ISSUER`'s OpenID Connect discovery document. "
        "With both empty, JWTs are not accepted and this feature is not even imported.",
    )
    jwt_issuer: str = Field(
        "",
        description="The `iss` every token must carry, exactly as the provider writes it. "
        "Required in production.",
    )
    jwt_audience: str = Field(
        "",
        description="The audience every token must name (`aud`, or `JWT_AUDIENCE_CLAIM`): "
        "this API's identifier at the provider. Required in production.",
    )
    jwt_audience_claim: str = Field(
        "aud",
        description="The claim `JWT_AUDIENCE` is compared with: `aud`, or `client_id` for "
        "Amazon Cognito access tokens, which carry no `aud`.",
    )
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        ["RS256", "ES256", "EdDSA"],
        description="Signature algorithms accepted, comma-separated; asymmetric ones only "
        "(RS*, PS*, ES*, EdDSA): HS256 and `none` are refused.",
    )
    jwt_leeway_seconds: float = Field(
        30.0,
        ge=0,
        le=300,
        description="Seconds of clock difference allowed when checking `exp`, `nbf` and `iat`.",
    )
    jwt_scope_claims: Annotated[list[str], NoDecode] = Field(
        ["scope", "permissions"],
        description="Claims whose values grant scopes, comma-separated; each a space-separated "
        "string (`scope`) or a list of strings (`permissions`).",
    )
    jwt_scope_map: dict[str, list[Scope]] = Field(
        {"read": ["read"], "write": ["write"]},
        description="JSON object: which of those values grants which of this API's scopes, "
        'e.g. `{"read:items": ["read"], "admin": ["read", "write"]}`. Other values grant '
        "nothing.",
    )
    jwt_jwks_cache_seconds: PositiveFloat = Field(
        600.0,
        description="Seconds the key set is trusted when its response has no `Cache-Control: "
        "max-age`; a max-age is followed between 60 s and a day.",
    )
    jwt_jwks_min_refresh_seconds: float = Field(
        30.0,
        ge=0,
        description="Shortest time between two fetches of the key set: a token naming an "
        "unknown key (`kid`) fetches it again at most this often.",
    )

    @field_validator("jwt_algorithms", "jwt_scope_claims", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, algorithms: list[str]) -> list[str]:
        refused = [name for name in algorithms if name not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} not accepted: only asymmetric algorithms "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}) can be checked with public keys"
            )
        if not algorithms:
            raise ValueError("name at least one algorithm")
        return algorithms

    @model_validator(mode="after")
    def _complete_in_production(self) -> Self:
        if not self.jwt_enabled or not self.is_production:
            return self
        required = {"JWT_ISSUER": self.jwt_issuer, "JWT_AUDIENCE": self.jwt_audience}
        for variable, value in required.items():
            if not value:
                # Without them, a token the provider signed for any other application (or,
                # for the issuer, any tenant sharing the key set) would be accepted here.
                raise ValueError(
                    f"{variable} is required when JWTs are accepted (JWT_JWKS_URL or "
                    "JWT_ISSUER set) and ENVIRONMENT=production"
                )
        urls = {"JWT_JWKS_URL": self.jwt_jwks_url, "JWT_ISSUER": self.jwt_issuer}
        for variable, url in urls.items():
            parts = urlsplit(url)
            if url and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
                # Keys fetched over plain HTTP could be replaced on the way.
                raise ValueError(f"{variable} must be an https:// URL in production")
        return self

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_jwks_url or self.jwt_issuer)
