"""Wire models of sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.auth.users.schemas import EmailField, PasswordField

RefreshTokenField = Annotated[str, Field(min_length=16, max_length=256)]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailField
    password: PasswordField


class RefreshRequest(BaseModel):
    """The refresh token in the body, or `{}` to use the HttpOnly cookie (the SPA's way)."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: RefreshTokenField | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int = Field(description="Seconds until the refresh token expires if unused.")
