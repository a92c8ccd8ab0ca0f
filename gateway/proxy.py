"""Forwarding to the services over one pooled HTTP client, streaming both ways.

An upstream that cannot be reached answers 503, one that does not answer in time 504, both as
problem+json; whatever the upstream answers (errors included) passes through unchanged. GET and HEAD
are retried once on a failed or dropped connection; a per-service circuit breaker (gateway/breaker.py)
answers 503 at once, with Retry-After, while a service keeps failing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from httpx._client import UseClientDefault
from starlette.background import BackgroundTask
from starlette.types import Scope

from gateway.breaker import BreakerState, CircuitBreaker, CircuitOpen
from gateway.canonical import upstream_path
from gateway.clients import TrustedProxies
from gateway.routing import ROUTE_PREFIXES, longest_prefix
from gateway.settings import GatewaySettings
from shared.errors import UpstreamTimeout, UpstreamUnavailable
from shared.forwarding import CAPTCHA_VERIFIED_HEADER, INTERNAL_TOKEN_HEADER
from shared.logging import log_event
from shared.middleware import REQUEST_ID_HEADER

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Sent again once when the connection fails or drops before an answer (never after a timeout).
RETRIED_METHODS = frozenset({"GET", "HEAD"})
RETRIABLE_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
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
        "x-captcha-response",  # verified here; services only ever see the verdict
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
    # Set by gateway/captcha/middleware.py once this request's X-Captcha-Response was verified and spent.
    if getattr(request.state, "captcha_verified", False) is True:
        headers.append((CAPTCHA_VERIFIED_HEADER, "true"))
    return headers


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def upstream_url(base_url: str, scope: Scope) -> httpx.URL:
    """The service's URL for this request: the checked path in its one forwarded spelling
    (gateway/canonical.py), so the service decodes exactly the path every gateway rule saw."""
    target = upstream_path(scope["path"])
    query: bytes = scope.get("query_string", b"")
    return httpx.URL(base_url).copy_with(raw_path=target + b"?" + query if query else target)


async def forward(request: Request, service: str) -> Response:
    """Send `request` to `service` and stream its answer back."""
    client: httpx.AsyncClient = request.app.state.http
    settings: GatewaySettings = request.app.state.settings
    base_url = settings.upstream_urls()[service]
    url = upstream_url(base_url, request.scope)
    token = settings.internal_token.get_secret_value() if settings.internal_token else ""
    has_body = _has_body(request)
    timeout = route_timeout(settings, request.url.path)

    def build() -> httpx.Request:
        return client.build_request(
            request.method,
            url,
            headers=upstream_headers(request, token, request.app.state.trusted_proxies),
            content=request.stream() if has_body else None,
            timeout=timeout,
        )

    retry = request.method in RETRIED_METHODS and not has_body
    breaker: CircuitBreaker = request.app.state.breakers[service]
    trial = _admit(breaker, service)
    try:
        upstream = await _send(client, build, service, retry=retry)
    except httpx.PoolTimeout as exc:  # our own pool is exhausted: says nothing about the service
        _release(breaker, trial)
        raise _unavailable(service, exc) from exc
    except httpx.ConnectTimeout as exc:
        _record_failure(breaker, service)
        raise _unavailable(service, exc) from exc
    except httpx.TimeoutException as exc:
        _record_failure(breaker, service)
        log_event(logger, "gateway.upstream_timeout", logging.WARNING, upstream=service)
        raise UpstreamTimeout(f"The {service} service did not answer in time.") from exc
    except httpx.TransportError as exc:
        _record_failure(breaker, service)
        raise _unavailable(service, exc) from exc
    except BaseException:  # cancelled (the client went away): no verdict on the service
        _release(breaker, trial)
        raise
    _record_success(breaker, service)
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


def route_timeout(settings: GatewaySettings, path: str) -> httpx.Timeout | UseClientDefault:
    """The read timeout of the longest `UPSTREAM_ROUTE_TIMEOUTS` prefix of `path`, else the client's."""
    prefix = longest_prefix(path, settings.upstream_route_timeouts)
    if prefix is None:
        return httpx.USE_CLIENT_DEFAULT
    connect = settings.upstream_connect_timeout_seconds
    return httpx.Timeout(settings.upstream_route_timeouts[prefix], connect=connect, pool=connect)


async def _send(
    client: httpx.AsyncClient, build: Callable[[], httpx.Request], service: str, *, retry: bool
) -> httpx.Response:
    """Send once; when `retry`, once more if the connection failed or was dropped before an answer.

    Only GET and HEAD without a body are retried: sending them twice changes nothing. Timeouts are
    never retried: the service may still be working on the first request, and waiting twice as long
    helps nobody. A connection the service closed unused (a stale keep-alive) is the usual case.
    """
    try:
        return await client.send(build(), stream=True)
    except RETRIABLE_ERRORS as exc:
        if not retry:
            raise
        log_event(logger, "gateway.upstream_retry", upstream=service, error=type(exc).__name__)
    return await client.send(build(), stream=True)


def _admit(breaker: CircuitBreaker, service: str) -> bool:
    """Whether this request is the breaker's half-open trial; 503 at once when the breaker is open."""
    try:
        return breaker.acquire()
    except CircuitOpen as exc:
        raise UpstreamUnavailable(
            f"The {service} service is unavailable after repeated failures; "
            f"retry in {exc.retry_after_seconds} s.",
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from exc


def _record_failure(breaker: CircuitBreaker, service: str) -> None:
    was_open = breaker.state is not BreakerState.CLOSED
    breaker.record_failure()
    if not was_open and breaker.state is BreakerState.OPEN:
        log_event(logger, "gateway.breaker_opened", logging.WARNING, upstream=service)


def _record_success(breaker: CircuitBreaker, service: str) -> None:
    if breaker.state is not BreakerState.CLOSED:
        log_event(logger, "gateway.breaker_closed", upstream=service)
    breaker.record_success()


def _release(breaker: CircuitBreaker, trial: bool) -> None:
    if trial:
        breaker.release_trial()


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
