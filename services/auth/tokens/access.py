"""Issuing access tokens: short-lived EdDSA JWTs that every service verifies locally."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from services.auth.settings import AuthSettings
from services.auth.tokens.keys import KeyRing
from shared.tokens import ACCESS_TOKEN_ALGORITHM, ACCESS_TOKEN_TYPE


def issue_access_token(ring: KeyRing, settings: AuthSettings, *, user_id: str, role: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(
        claims,
        ring.signing_key,
        algorithm=ACCESS_TOKEN_ALGORITHM,
        headers={"kid": ring.signing_kid, "typ": ACCESS_TOKEN_TYPE},
    )
