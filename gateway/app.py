"""App factory of the gateway (run with `uvicorn --factory gateway.app:create_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from gateway.clients import TrustedProxies
from gateway.cors import CorsMiddleware
from gateway.health import aggregate_health_router
from gateway.inflight import ClientSlots, InFlightLimitMiddleware
from gateway.limits import BodyLimitMiddleware, HeadLimitsMiddleware
from gateway.proxy import create_http_client, proxy_router
from gateway.security_headers import SecurityHeadersMiddleware
from gateway.settings import GatewaySettings, get_settings
from shared.app import create_base_app, redis_lifespan


@asynccontextmanager
async def http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with create_http_client(app.state.settings) as client:
        app.state.http = client
        yield


def install_protections(app: FastAPI, settings: GatewaySettings) -> None:
    """The gateway's protections, in the order a request meets them (outermost first):

    security headers (outermost, so every answer gets them, the last-resort 500 included), the
    request context of the base app (request id, access log, metrics: so every refusal below is
    logged, counted and quotable), CORS (so the SPA can read the refusals), URL and header limits,
    the per-client in-flight cap, the body limit, then routing and the proxy.
    """
    proxies = TrustedProxies(settings.trusted_proxies)
    app.state.trusted_proxies = proxies
    app.state.client_slots = ClientSlots(settings.max_inflight_per_client)
    app.add_middleware(SecurityHeadersMiddleware, proxies=proxies)
    # Appended, not added: `add_middleware` wraps everything, and these belong inside the request context.
    app.user_middleware += [
        Middleware(
            CorsMiddleware, origins=settings.cors_origins, max_age_seconds=settings.cors_max_age_seconds
        ),
        Middleware(
            HeadLimitsMiddleware,
            max_url_bytes=settings.max_url_bytes,
            max_header_bytes=settings.max_header_bytes,
        ),
        Middleware(InFlightLimitMiddleware, slots=app.state.client_slots, proxies=proxies),
        Middleware(
            BodyLimitMiddleware,
            max_body_bytes=settings.max_body_bytes,
            overrides=settings.body_limit_overrides,
            timeout_seconds=settings.request_body_timeout_seconds,
        ),
    ]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_base_app(
        settings,
        title="Shop API",
        description="Public REST API of the shop: auth, catalog, cart and orders, payments.",
        routers=[aggregate_health_router(), proxy_router()],
        lifespans=[http_client_lifespan, redis_lifespan],
    )
    install_protections(app, settings)
    return app
