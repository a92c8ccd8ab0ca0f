"""Security headers on every response that leaves the gateway: proxied, errors, 404s, health.

The gateway serves JSON to browsers that must never render, frame or sniff it. Plain ASGI, so
streamed bodies pass untouched; it sits outermost, so even the last-resort 500 gets the headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.clients import TrustedProxies
from gateway.routing import longest_prefix

# A JSON API loads nothing and may be framed by nobody. An HTML page (a future /docs) needs more:
# pass its path prefix in `csp_overrides`.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"
# CORP governs only no-cors loads (<img>, <script>): the SPA's CORS fetches are not affected by it,
# so the strictest value costs nothing and stops other sites from embedding API answers.
STATIC_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def csp_for(path: str, overrides: Mapping[str, str]) -> str:
    prefix = longest_prefix(path, overrides)
    return overrides[prefix] if prefix is not None else DEFAULT_CSP


def needs_no_store(request_headers: Headers, response_headers: MutableHeaders) -> bool:
    """Answers to authenticated requests, and answers that set cookies, must not be stored by any
    cache. An anonymous request keeps what the service chose (a login answer already says no-store)."""
    if "authorization" in request_headers:
        return True
    return "set-cookie" in response_headers and "cache-control" not in response_headers


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        proxies: TrustedProxies,
        csp_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.proxies = proxies
        self.csp_overrides = dict(csp_overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        csp = csp_for(scope["path"], self.csp_overrides)
        over_tls = self.proxies.scheme(scope) == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                del headers["server"]  # no banner, whoever added it
                for name, value in STATIC_HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = csp
                if over_tls:
                    headers["Strict-Transport-Security"] = HSTS
                if needs_no_store(request_headers, headers):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
