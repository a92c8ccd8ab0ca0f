"""What the gateway tells the services about the original request, and how services trust it."""

from __future__ import annotations

import hmac

from fastapi import Request

from shared.settings import CommonSettings

INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name, not a secret
# Set by the gateway once it has verified a CAPTCHA solution for this request.
CAPTCHA_VERIFIED_HEADER = "X-Captcha-Verified"


def from_gateway(request: Request, settings: CommonSettings) -> bool:
    """True when the request carries the gateway's internal token (compared in constant time)."""
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    expected = settings.internal_token.get_secret_value() if settings.internal_token else ""
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def captcha_verified(request: Request, settings: CommonSettings) -> bool:
    """True when the gateway vouches that this request carried a valid, unused CAPTCHA solution."""
    return request.headers.get(CAPTCHA_VERIFIED_HEADER) == "true" and from_gateway(request, settings)


def client_ip(request: Request, settings: CommonSettings) -> str:
    """The caller's address: the gateway's `X-Forwarded-For` when the gateway vouches for it,
    otherwise the peer address (a caller reaching a service directly cannot spoof its IP)."""
    forwarded = request.headers.get("x-forwarded-for", "").strip()
    if forwarded and from_gateway(request, settings):
        return forwarded
    return request.client.host if request.client else ""
