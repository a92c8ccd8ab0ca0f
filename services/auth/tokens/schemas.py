"""Wire models of the key set (RFC 7517): what a client needs to verify access tokens itself."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Jwk(BaseModel):
    """One Ed25519 public key (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url without padding.")
    kid: str = Field(description="The key id access tokens name in their header.")
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class Jwks(BaseModel):
    keys: list[Jwk] = Field(description="The signing key, and any being introduced or retired.")
