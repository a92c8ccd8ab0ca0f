"""Problems the gateway answers itself, before (or instead of) asking a service."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from shared.errors import AppError, problem_response


class OriginNotAllowed(AppError):
    status, slug, title = 403, "origin-not-allowed", "Origin not allowed"


# Neither 408 nor 413 asks for `Connection: close`: closing a socket the client is still writing to
# makes the kernel answer with a reset, which destroys the problem+json before the client reads it.
# The server discards the rest of the body instead, and closes the connection once the client has
# been silent for the keep-alive timeout (devstack/stack.py, deploy/README.md).


class RequestBodyTimeout(AppError):
    status, slug, title = 408, "request-timeout", "Request body not received in time"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"The request body exceeds the limit of {limit_bytes} bytes for this path.",
            limit_bytes=limit_bytes,
        )


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


def problem_for(error: AppError, instance: str | None) -> JSONResponse:
    """The problem+json answer for `error`, for middleware that answers without the app's handlers."""
    return problem_response(
        error.status,
        error.slug,
        error.title,
        error.detail,
        instance=instance,
        headers=error.headers,
        extensions=error.extensions,
    )
