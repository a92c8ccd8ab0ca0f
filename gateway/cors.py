"""CORS for the configured SPA origins only (`CORS_ORIGINS`), with credentials (the refresh cookie).

The gateway answers every preflight itself: 204 with the grant for a configured origin, 403
problem+json for any other (nothing reaches a service). Actual requests from other origins are
processed as usual but get no grant, so a browser does not let the calling page read the answer.
With no origins configured there is no CORS at all. Grants a service might add are always removed:
only the gateway decides.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import OriginNotAllowed
from shared.errors import problem_for
from shared.middleware import REQUEST_ID_HEADER

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = ", ".join(
    [
        "Authorization",
        "Content-Type",
        "Idempotency-Key",
        REQUEST_ID_HEADER,
        "X-Captcha-Response",
        "If-None-Match",
        "If-Match",
    ]
)
# Response headers beyond the CORS-safelisted ones that the SPA's scripts may read.
EXPOSED_HEADERS = ", ".join(
    [
        "ETag",
        REQUEST_ID_HEADER,
        "Retry-After",
        "Location",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit",
        "RateLimit-Policy",
        "Idempotent-Replayed",  # a retried order, payment or refund answered from the first attempt
        "WWW-Authenticate",  # why a 401: an expired token is refreshed, a missing one sent
    ]
)


def is_preflight(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "OPTIONS" and "access-control-request-method" in headers


def grant(headers: MutableHeaders, origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin  # never "*": credentials are allowed
    headers["Access-Control-Allow-Credentials"] = "true"


def strip_grants(headers: MutableHeaders) -> None:
    for name in {key.lower() for key in headers if key.lower().startswith("access-control-")}:
        del headers[name]


class CorsMiddleware:
    def __init__(self, app: ASGIApp, origins: Collection[str], max_age_seconds: int) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.max_age = str(max_age_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if self.origins and origin is not None and is_preflight(scope, headers):
            await self._preflight(origin, scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                strip_grants(response_headers)
                if self.origins:
                    response_headers.add_vary_header("Origin")
                    if origin in self.origins:
                        grant(response_headers, origin)
                        response_headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, scope: Scope, receive: Receive, send: Send) -> None:
        if origin not in self.origins:
            response = problem_for(
                OriginNotAllowed("This origin may not call the API from a browser."), scope["path"]
            )
            response.headers["Vary"] = "Origin"
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
                    (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                    (b"access-control-max-age", self.max_age.encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
