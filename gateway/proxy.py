"""Forwarding to the services over one pooled HTTP client, streaming both ways.

An upstream that cannot be reached answers 503, one that does not answer in time 504, both as
problem+json; whatever the upstream answers (errors included) passes through unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from gateway.clients import TrustedProxies
from gateway.routing import ROUTE_PREFIXES
from gateway.settings import GatewaySettings
from shared.errors import UpstreamTimeout, UpstreamUnavailable
from shared.forwarding import CAPTCHA_VERIFIED_HEADER, INTERNAL_TOKEN_HEADER
from shared.logging import log_event
from shared.middleware import REQUEST_ID_HEADER

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Connection-level headers (RFC 9110 §7.6.1) belong to one hop and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Set by the gateway alone: whatever a client sends under these names is dropped.
GATEWAY_OWNED = frozenset(
    {
        "host",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-real-ip",
        INTERNAL_TOKEN_HEADER.lower(),
        REQUEST_ID_HEADER.lower(),
        CAPTCHA_VERIFIED_HEADER.lower(),
    }
)
# The gateway's own server adds these; passing the upstream's would duplicate them.
_RESPONSE_DROPPED = HOP_BY_HOP | {"date", "server"}

NO_TRUSTED_PROXIES = TrustedProxies()

logger = logging.getLogger("gateway.proxy")

ProxyEndpoint = Callable[[Request], Awaitable[Response]]


def create_http_client(settings: GatewaySettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.upstream_read_timeout_seconds,
            connect=settings.upstream_connect_timeout_seconds,
            pool=settings.upstream_connect_timeout_seconds,
        ),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
        ),
        follow_redirects=False,
        trust_env=False,
    )


def upstream_headers(
    request: Request, internal_token: str, proxies: TrustedProxies = NO_TRUSTED_PROXIES
) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop and gateway-owned ones, plus what the gateway vouches
    for: one client address (resolved through trusted proxies), the scheme, the internal token."""
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in HOP_BY_HOP and name.lower() not in GATEWAY_OWNED
    ]
    headers += [
        (REQUEST_ID_HEADER, request.state.request_id),
        ("X-Forwarded-For", proxies.client_ip(request.scope)),
        ("X-Forwarded-Proto", proxies.scheme(request.scope)),
        ("X-Forwarded-Host", request.headers.get("host", "")),
        (INTERNAL_TOKEN_HEADER, internal_token),
    ]
    return headers


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


async def forward(request: Request, service: str) -> Response:
    """Send `request` to `service` and stream its answer back."""
    client: httpx.AsyncClient = request.app.state.http
    settings: GatewaySettings = request.app.state.settings
    base_url = settings.upstream_urls()[service]
    url = httpx.URL(base_url).copy_with(path=request.url.path, query=request.url.query.encode("latin-1"))
    token = settings.internal_token.get_secret_value() if settings.internal_token else ""
    upstream_request = client.build_request(
        request.method,
        url,
        headers=upstream_headers(request, token, request.app.state.trusted_proxies),
        content=request.stream() if _has_body(request) else None,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise _unavailable(service, exc) from exc
    except httpx.TimeoutException as exc:
        log_event(logger, "gateway.upstream_timeout", logging.WARNING, upstream=service)
        raise UpstreamTimeout(f"The {service} service did not answer in time.") from exc
    except httpx.TransportError as exc:
        raise _unavailable(service, exc) from exc
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers={k: v for k, v in upstream.headers.items() if k.lower() not in _RESPONSE_DROPPED},
        background=BackgroundTask(upstream.aclose),
    )


def _unavailable(service: str, exc: Exception) -> UpstreamUnavailable:
    log_event(
        logger, "gateway.upstream_unavailable", logging.WARNING, upstream=service, error=type(exc).__name__
    )
    return UpstreamUnavailable(f"The {service} service is unavailable; try again shortly.")


def _endpoint_for(service: str) -> ProxyEndpoint:
    async def proxy(request: Request) -> Response:
        return await forward(request, service)

    return proxy


def proxy_router() -> APIRouter:
    """One catch-all route per public prefix; everything else stays the gateway's own (404/405)."""
    router = APIRouter(include_in_schema=False)
    for prefix, service in ROUTE_PREFIXES.items():
        endpoint = _endpoint_for(service)
        router.add_api_route(prefix, endpoint, methods=PROXY_METHODS)
        router.add_api_route(prefix + "/{path:path}", endpoint, methods=PROXY_METHODS)
    return router
