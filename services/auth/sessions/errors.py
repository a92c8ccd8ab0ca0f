"""Errors of the sessions domain."""

from __future__ import annotations

from shared.errors import Unauthorized


class InvalidCredentials(Unauthorized):
    """One answer for an unknown email and a wrong password, so accounts cannot be discovered."""

    slug, title = "invalid-credentials", "Invalid email or password"


class InvalidRefreshToken(Unauthorized):
    slug, title = "invalid-refresh-token", "Invalid or expired refresh token"


class RefreshTokenReused(Unauthorized):
    slug, title = "refresh-token-reused", "Refresh token already used; the session was revoked"
