"""Wire models of sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from services.auth.users.schemas import EmailField, LoginPasswordField

RefreshTokenField = Annotated[
    str,
    Field(
        min_length=16,
        max_length=256,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="`<family id>.<secret>` as issued (older tokens have no family part).",
    ),
]
RefreshTokenDelivery = Literal["body", "cookie"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailField
    password: LoginPasswordField
    refresh_token_delivery: RefreshTokenDelivery = Field(
        default="body",
        description=(
            "`cookie` for browsers: the refresh token is set only as an HttpOnly cookie and never "
            "appears in the answer, so scripts cannot read it. `body` (the default, for native and "
            "server clients): only in the answer's `refresh_token`, no cookie."
        ),
    )


class RefreshRequest(BaseModel):
    """The refresh token in the body (answered in the body), or `{}` to use the HttpOnly cookie
    (answered with a rotated cookie only: the SPA's way)."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: RefreshTokenField | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_null(self) -> RefreshRequest:
        if "refresh_token" in self.model_fields_set and self.refresh_token is None:
            raise ValueError("`refresh_token` cannot be null; leave it out to use the cookie")
        return self


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "The new refresh token, only when it was asked for in the body (`refresh_token_delivery: "
            "body` at login, or a refresh that sent it in the body); with the cookie it is absent."
        ),
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires if unused.")
