"""App factory of the gateway (run with `uvicorn --factory gateway.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from gateway.breaker import breakers_for
from gateway.canonical import CanonicalPathMiddleware
from gateway.captcha.gate import captcha_lifespan
from gateway.captcha.middleware import CaptchaMiddleware
from gateway.captcha.router import captcha_router
from gateway.clients import TrustedProxies
from gateway.cors import CorsMiddleware
from gateway.health import HealthCache, aggregate_health_router
from gateway.inflight import ClientSlots, InFlightLimitMiddleware
from gateway.limits import HeadLimitsMiddleware, body_limits
from gateway.metrics import GatewayMetrics, metrics_listener_lifespan
from gateway.openapi import DOCS_CSP, DOCS_PATH, openapi_router
from gateway.proxy import Forwarder, ProxyDispatch, create_http_client, proxy_router
from gateway.ratelimit.limiter import RateLimits, rate_limit_lifespan
from gateway.ratelimit.middleware import RateLimitMiddleware, RefreshLimitMiddleware
from gateway.security_headers import SecurityHeadersMiddleware
from gateway.settings import GatewaySettings, get_settings
from shared.app import create_base_app, redis_lifespan
from shared.body_limit import BodyLimitMiddleware
from shared.telemetry import aiohttp_trace_configs


@asynccontextmanager
async def http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The proxy's pooled session (`app.state.forwarder`), and a client for the gateway's own calls
    to the services (readiness in /health, their OpenAPI documents)."""
    settings: GatewaySettings = app.state.settings
    timeout = httpx.Timeout(
        settings.upstream_read_timeout_seconds, connect=settings.upstream_connect_timeout_seconds
    )
    async with (
        create_http_client(settings, aiohttp_trace_configs()) as session,
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
    ):
        app.state.http = client
        app.state.forwarder = Forwarder(session, settings, app.state.breakers, app.state.trusted_proxies)
        yield


def install_protections(app: FastAPI, settings: GatewaySettings) -> None:
    """The gateway's protections, in the order a request meets them (outermost first):

    security headers (outermost, so every answer gets them, the last-resort 500 included), the
    request context of the base app (request id, access log, metrics: so every refusal below is
    logged, counted and quotable), CORS (so the SPA can read the refusals), the canonical path check
    (before any rule reads the path), URL and header limits, the rate limits (before a refused
    request takes an in-flight slot), the per-client in-flight cap, the body limit, the refresh
    limits (per session: they read the bounded body), the CAPTCHA check, then the proxy
    (ProxyDispatch), or routing for the gateway's own routes.
    """
    proxies = TrustedProxies(settings.trusted_proxies)
    app.state.trusted_proxies = proxies
    app.state.client_slots = ClientSlots(settings.max_inflight_per_client)
    app.state.rate_limits = RateLimits.from_settings(settings, app.state.metrics.registry)
    # /docs is the one HTML page: it runs Swagger UI under a CSP made for it (gateway/openapi/).
    app.add_middleware(SecurityHeadersMiddleware, proxies=proxies, csp_overrides={DOCS_PATH: DOCS_CSP})
    # Appended, not added: `add_middleware` wraps everything, and these belong inside the request context.
    app.user_middleware += [
        Middleware(
            CorsMiddleware, origins=settings.cors_origins, max_age_seconds=settings.cors_max_age_seconds
        ),
        # Before every rule that looks at the path: each then sees the one path that is forwarded.
        Middleware(CanonicalPathMiddleware),
        Middleware(
            HeadLimitsMiddleware,
            max_url_bytes=settings.max_url_bytes,
            max_header_bytes=settings.max_header_bytes,
        ),
        Middleware(RateLimitMiddleware, limits=app.state.rate_limits, proxies=proxies),
        Middleware(InFlightLimitMiddleware, slots=app.state.client_slots, proxies=proxies),
        Middleware(
            BodyLimitMiddleware,
            limit_for=body_limits(settings.max_body_bytes, settings.body_limit_overrides),
            timeout_seconds=settings.request_body_timeout_seconds,
        ),
        # Refresh is limited per session, which it finds in the (bounded) body or the cookie.
        Middleware(
            RefreshLimitMiddleware,
            limits=app.state.rate_limits,
            proxies=proxies,
            cookie_name=settings.refresh_cookie_name,
        ),
    ]
    # Innermost, right before routing: every cheaper refusal comes before a CAPTCHA check (which may
    # call a provider), and a failed check answers 428 before the route, or the body, is touched.
    app.user_middleware.append(Middleware(CaptchaMiddleware, proxies=proxies))
    # Innermost of all: requests for a service are forwarded from here, without the router.
    app.user_middleware.append(Middleware(ProxyDispatch))


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # A client's `traceparent` is continued only when it comes through a trusted proxy.
    proxies = TrustedProxies(settings.trusted_proxies)
    app = create_base_app(
        settings,
        title="Shop API",
        description="Public REST API of the shop: auth, catalog, cart and orders, payments.",
        routers=[aggregate_health_router(), captcha_router(), openapi_router(settings), proxy_router()],
        lifespans=[
            http_client_lifespan,
            redis_lifespan,
            captcha_lifespan,
            rate_limit_lifespan,
            metrics_listener_lifespan,
        ],
        openapi_url=None,  # /openapi.json is the merged document of every service (gateway/openapi/)
        trust_trace_context=proxies.peer_trusted,
        serve_metrics=False,  # on the metrics listener only (METRICS_PORT), never the public port
    )
    app.state.breakers = breakers_for(
        settings.upstream_urls(), settings.breaker_failures, settings.breaker_reset_seconds
    )
    app.state.gateway_metrics = GatewayMetrics(app.state.metrics.registry)
    app.state.gateway_metrics.watch(app.state.breakers, lambda: _in_flight(app))
    app.state.health_cache = HealthCache(settings.health_cache_seconds)
    install_protections(app, settings)
    return app


def _in_flight(app: FastAPI) -> int:
    """Proxied requests waiting for or holding an upstream connection (0 before start-up)."""
    forwarder: Forwarder | None = getattr(app.state, "forwarder", None)
    return forwarder.in_flight if forwarder is not None else 0
