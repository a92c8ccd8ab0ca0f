"""Problems the gateway answers itself, before (or instead of) asking a service."""

from __future__ import annotations

from shared.errors import AppError


class OriginNotAllowed(AppError):
    status, slug, title = 403, "origin-not-allowed", "Origin not allowed"


class UriTooLong(AppError):
    status, slug, title = 414, "uri-too-long", "URI too long"


class TooManyConcurrentRequests(AppError):
    status, slug, title = 429, "too-many-concurrent-requests", "Too many concurrent requests"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"At most {limit} requests from one client may be in progress at once; retry shortly.",
            headers={"Retry-After": "1"},
        )


class HeadersTooLarge(AppError):
    status, slug, title = 431, "request-header-fields-too-large", "Request header fields too large"
