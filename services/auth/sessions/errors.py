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


class RefreshTokenSuperseded(Unauthorized):
    """A spent token presented within the grace interval whose successor has been spent too: the
    caller is behind, but nothing says the session was stolen, so it is not revoked."""

    slug, title = "refresh-token-superseded", "Refresh token already exchanged; use the newest one"
