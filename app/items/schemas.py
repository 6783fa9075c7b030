"""Request and response bodies of the items API, kept apart from the ORM models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

# PostgreSQL text cannot hold the NUL character: refused here, and documented in the schema.
_NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=_NO_NUL)]
Description = Annotated[str | None, Field(max_length=10_000, pattern=_NO_NUL)]


def _utc_if_naive(value: datetime) -> datetime:
    # SQLite hands back its UTC timestamps without a zone; the API always states one (RFC 3339).
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc_if_naive)]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = None


class ItemUpdate(BaseModel):
    """Partial update: only the fields present in the body change."""

    model_config = ConfigDict(extra="forbid")

    # Optional but never null, and documented so: the schema shows a plain string.
    name: Name | SkipJsonSchema[None] = None
    description: Description = None

    @field_validator("name")
    @classmethod
    def _name_is_not_null(cls, value: str | None) -> str:
        # Absent means "leave as is"; an explicit null would break the NOT NULL column.
        if value is None:
            raise ValueError("name cannot be null")
        return value


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: Timestamp
    updated_at: Timestamp


class ItemPage(BaseModel):
    items: list[ItemRead]
    total: int
    limit: int
    offset: int
