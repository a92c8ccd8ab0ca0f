"""Forwarding to the services over one pooled aiohttp session, streaming both ways.

An upstream that cannot be reached answers 503, one that does not answer in time 504, both as
problem+json; whatever the upstream answers (errors included) passes through unchanged. GET and HEAD
are retried once on a failed or dropped connection; a per-service circuit breaker (gateway/breaker.py)
answers 503 at once, with Retry-After, while a service keeps failing.

The proxy routes are plain ASGI endpoints (no request object, no dependency solving, no response
class): this is the path every proxied request takes, and its cost is the gateway's cost. aiohttp
rather than httpx: measured on `bench/gateway.py`, httpx's pool alone cost more CPU per request than
everything else the gateway does (docs/performance/gateway.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import aiohttp
from fastapi import APIRouter
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from gateway.breaker import BreakerState, CircuitBreaker, CircuitOpen
from gateway.canonical import upstream_path
from gateway.clients import TrustedProxies
from gateway.routing import ROUTE_PREFIXES, longest_prefix
from gateway.settings import GatewaySettings
from gateway.streams import HOP_BY_HOP, RequestBody, relay
from shared.errors import AppError, UpstreamTimeout, UpstreamUnavailable, problem_for
from shared.forwarding import CAPTCHA_VERIFIED_HEADER, INTERNAL_TOKEN_HEADER
from shared.logging import log_event
from shared.middleware import REQUEST_ID_HEADER

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Sent again once when the connection fails or drops before an answer (never after a timeout).
RETRIED_METHODS = frozenset({"GET", "HEAD"})
# A failed connect, a reset, a connection closed before the answer. Timeouts are ServerTimeoutError,
# which is none of these.
RETRIABLE_ERRORS = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)
# An idle pooled connection is closed after this long, before the services' own keep-alive timeout
# (5 s, devstack/stack.py) closes it under a request that was just sent on it.
UPSTREAM_KEEPALIVE_SECONDS = 4.0
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
        # The trace context is the gateway's (shared/telemetry.py): a client's is continued only
        # through a trusted proxy, and services get the gateway's span as their parent.
        "traceparent",
        "tracestate",
        "baggage",
    }
)
_REQUEST_DROPPED = frozenset(name.encode() for name in HOP_BY_HOP | GATEWAY_OWNED)
# Headers aiohttp would add on its own: the service gets what the client sent, nothing more.
_NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")

NO_TRUSTED_PROXIES = TrustedProxies()

logger = logging.getLogger("gateway.proxy")

T = TypeVar("T")


def client_timeout(settings: GatewaySettings, read_seconds: float) -> aiohttp.ClientTimeout:
    """`connect` bounds getting a connection (a free pooled one, or a new one), `sock_connect` the TCP
    connect, `sock_read` every wait for the service's bytes; no bound on the whole exchange, which
    may stream."""
    connect = settings.upstream_connect_timeout_seconds
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read_seconds)


def create_http_client(
    settings: GatewaySettings, trace_configs: list[aiohttp.TraceConfig] | None = None
) -> aiohttp.ClientSession:
    """The proxy's pooled session; `trace_configs` (tracing on) add a client span per upstream
    request and send its `traceparent` to the service."""
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_max_connections,
        limit_per_host=0,
        keepalive_timeout=UPSTREAM_KEEPALIVE_SECONDS,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=client_timeout(settings, settings.upstream_read_timeout_seconds),
        # One session serves every client: it must never keep a cookie one service set for one
        # client and send it along with another client's request.
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,  # the bytes pass as the service sent them, Content-Encoding and all
        skip_auto_headers=_NOT_ADDED,
        trust_env=False,
        raise_for_status=False,
        trace_configs=trace_configs,
    )
    # aiohttp resends idempotent requests (PUT and DELETE too) once when a reused connection drops;
    # the gateway's own rule (`_send`) is narrower: GET and HEAD without a body, once.
    session._retry_connection = False
    return session


def upstream_headers(
    scope: Scope, internal_token: str, proxies: TrustedProxies = NO_TRUSTED_PROXIES
) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop and gateway-owned ones, plus what the gateway vouches
    for: one client address (resolved through trusted proxies), the scheme, the internal token."""
    host = None
    headers = []
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1") if host is None else host  # the first, as the server read it
        elif name.lower() not in _REQUEST_DROPPED:
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
    state = scope.get("state") or {}
    headers += [
        (REQUEST_ID_HEADER, state["request_id"]),
        ("X-Forwarded-For", proxies.client_ip(scope)),
        ("X-Forwarded-Proto", proxies.scheme(scope)),
        ("X-Forwarded-Host", host or ""),
        (INTERNAL_TOKEN_HEADER, internal_token),
    ]
    # Set by gateway/captcha/middleware.py once this request's X-Captcha-Response was verified and spent.
    if state.get("captcha_verified") is True:
        headers.append((CAPTCHA_VERIFIED_HEADER, "true"))
    return headers


def _has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"])


def upstream_url(base_url: str, scope: Scope) -> URL:
    """The service's URL for this request: the checked path in its one forwarded spelling
    (gateway/canonical.py), so the service decodes exactly the path every gateway rule saw."""
    target = upstream_path(scope["path"]).decode("ascii")
    query: bytes = scope.get("query_string", b"")
    if query:  # as the client sent it: the server takes only printable ASCII in a request target
        target += "?" + query.decode("latin-1")
    return URL(base_url + target, encoded=True)  # encoded: sent exactly as spelled here


def route_timeouts(settings: GatewaySettings) -> dict[str, aiohttp.ClientTimeout]:
    """`UPSTREAM_ROUTE_TIMEOUTS` as client timeouts, built once."""
    return {
        prefix: client_timeout(settings, seconds)
        for prefix, seconds in settings.upstream_route_timeouts.items()
    }


def route_timeout(
    timeouts: Mapping[str, aiohttp.ClientTimeout], path: str, default: aiohttp.ClientTimeout
) -> aiohttp.ClientTimeout:
    """The timeout of the longest `UPSTREAM_ROUTE_TIMEOUTS` prefix of `path`, else `default`."""
    prefix = longest_prefix(path, timeouts)
    return timeouts[prefix] if prefix is not None else default


class Forwarder:
    """Everything a proxied request needs, resolved once at start-up."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: GatewaySettings,
        breakers: Mapping[str, CircuitBreaker],
        proxies: TrustedProxies,
    ) -> None:
        self.session = session
        self.base_urls = settings.upstream_urls()
        self.token = settings.internal_token.get_secret_value() if settings.internal_token else ""
        self.timeouts = route_timeouts(settings)
        self.default_timeout = client_timeout(settings, settings.upstream_read_timeout_seconds)
        self.breakers = breakers
        self.proxies = proxies
        self.pool_size = settings.upstream_max_connections
        self.in_flight = 0  # requests waiting for or holding an upstream connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send, service: str) -> None:
        """Send the request to `service` and stream its answer back."""
        body = RequestBody(receive) if _has_body(scope) else None
        try:
            upstream = await self._open(scope, service, body)
        except BaseException:
            if body is not None:
                body.cancel()
            raise
        try:
            if body is not None:
                # The client's whole body first, as the gateway has always done (gateway/streams.py):
                # a body limit it breaks answers instead of the service's early answer.
                await body.finish()
                if body.error is not None:
                    raise body.error
            await relay(upstream, receive, send)
        finally:
            upstream.release()

    async def _open(self, scope: Scope, service: str, body: RequestBody | None) -> aiohttp.ClientResponse:
        """The service's answer (status and headers), through its circuit breaker."""
        method: str = scope["method"]

        def send_once() -> Awaitable[aiohttp.ClientResponse]:
            return self.session.request(
                method,
                upstream_url(self.base_urls[service], scope),
                headers=upstream_headers(scope, self.token, self.proxies),
                data=body.chunks() if body is not None else None,
                allow_redirects=False,
                timeout=route_timeout(self.timeouts, scope["path"], self.default_timeout),
            )

        breaker = self.breakers[service]
        trial = _admit(breaker, service)
        pool_was_full = self.in_flight >= self.pool_size
        self.in_flight += 1
        try:
            upstream = await _send(send_once, service, retry=method in RETRIED_METHODS and body is None)
        except aiohttp.ConnectionTimeoutError as exc:
            if pool_was_full:  # our own pool is exhausted: says nothing about the service
                _release(breaker, trial)
            else:
                _record_failure(breaker, service)
            raise _unavailable(service, exc) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            _record_failure(breaker, service)
            log_event(logger, "gateway.upstream_timeout", logging.WARNING, upstream=service)
            raise UpstreamTimeout(f"The {service} service did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            if body is not None and body.error is not None:  # the client's body failed, not the service
                _release(breaker, trial)
                raise body.error from None
            _record_failure(breaker, service)
            raise _unavailable(service, exc) from exc
        except BaseException:  # cancelled: the client went away, no verdict on the service
            _release(breaker, trial)
            raise
        finally:
            self.in_flight -= 1
        _record_success(breaker, service)
        return upstream


def _unavailable(service: str, exc: BaseException) -> UpstreamUnavailable:
    log_event(
        logger, "gateway.upstream_unavailable", logging.WARNING, upstream=service, error=type(exc).__name__
    )
    return UpstreamUnavailable(f"The {service} service is unavailable; try again shortly.")


async def _send(send_once: Callable[[], Awaitable[T]], service: str, *, retry: bool) -> T:
    """Send once; when `retry`, once more if the connection failed or was dropped before an answer.

    Only GET and HEAD without a body are retried: sending them twice changes nothing. Timeouts are
    never retried: the service may still be working on the first request, and waiting twice as long
    helps nobody. A connection the service closed unused (a stale keep-alive) is the usual case.
    """
    try:
        return await send_once()
    except aiohttp.ServerTimeoutError:
        raise
    except RETRIABLE_ERRORS as exc:
        if not retry:
            raise
        log_event(logger, "gateway.upstream_retry", upstream=service, error=type(exc).__name__)
    return await send_once()


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


class ProxyEndpoint:
    """The plain ASGI endpoint of one service's routes; the app's handlers render its AppErrors."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarder: Forwarder = scope["app"].state.forwarder
        await forwarder(scope, receive, send, self.service)


def proxy_routes() -> dict[str, tuple[Route, Route]]:
    """Per public prefix, its service's two routes: the prefix itself, and everything below it."""
    routes = {}
    for prefix, service in ROUTE_PREFIXES.items():
        endpoint = ProxyEndpoint(service)
        exact, below = (
            Route(path, endpoint, methods=PROXY_METHODS, include_in_schema=False)
            for path in (prefix, prefix + "/{path:path}")
        )
        routes[prefix] = (exact, below)
    return routes


PROXY_ROUTES = proxy_routes()


def proxy_router() -> APIRouter:
    """One catch-all route per public prefix; everything else stays the gateway's own (404/405).
    ProxyDispatch serves these routes' methods before the router is reached; the router answers
    the other methods (405)."""
    router = APIRouter()
    for exact, below in PROXY_ROUTES.values():
        router.routes += [exact, below]
    return router


class ProxyDispatch:
    """Innermost: a request for a service goes straight to the Forwarder, past FastAPI's exception
    middleware, router and route matching (a fifth of the gateway's own per-request work when
    measured); an AppError it raises is rendered here as the app's handlers would. Everything else
    (the gateway's own routes, other methods) goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.methods = frozenset(PROXY_METHODS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" and scope["method"] in self.methods else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # the metrics' route template, as if the router had matched it
        endpoint: ProxyEndpoint = route.app  # type: ignore[assignment]
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await endpoint(scope, receive, send_tracking)
        except AppError as error:
            if started:
                raise
            await problem_for(error, scope["path"])(scope, receive, send)

    @staticmethod
    def _route(scope: Scope) -> Route | None:
        path: str = scope["path"]
        for prefix, (exact, below) in PROXY_ROUTES.items():
            if path == prefix:
                return exact
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] == "/":
                return below
        return None
