"""The outbound webhooks' settings."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from app.settings import CoreSettings


class WebhookSettings(CoreSettings):
    """Outbound webhooks (`app/webhooks/`)."""

    webhook_url: str = Field(
        "",
        description="Where every change to the tables in `WEBHOOK_TABLES` is delivered, as a "
        "signed `POST` (Standard Webhooks). Empty: no webhooks, and nothing is enqueued.",
        json_schema_extra={"secret": True},
    )
    webhook_secret: str = Field(
        "",
        description="The signing secret, `whsec_` and base64 of at least 24 random bytes "
        "(`python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32))"
        '.decode())"`). Required with `WEBHOOK_URL`.',
        json_schema_extra={"secret": True},
    )
    webhook_tables: Annotated[list[str], NoDecode] = Field(
        ["items"],
        description="Comma-separated tables whose created, updated and deleted rows are sent, "
        "as events of type `<table>.created`, `<table>.updated` and `<table>.deleted`.",
    )

    @field_validator("webhook_tables", mode="before")
    @classmethod
    def _tables_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return [table.strip() for table in value.split(",") if table.strip()]
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http://")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        if value:
            from standardwebhooks.webhooks import Webhook

            if not value.startswith("whsec_"):
                raise ValueError("must start with whsec_")
            try:
                Webhook(value)
            except Exception:
                raise ValueError("must be whsec_ followed by base64") from None
        return value

    @model_validator(mode="after")
    def _signed(self) -> Self:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self
