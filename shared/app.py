"""App factories: every service and the gateway are built the same way, and nothing connects at import.

`create_base_app` wires what every process has (problem+json errors, request ids, JSON logs,
metrics, health); `create_service_app` adds the MongoDB client and the owned collections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from starlette.middleware import Middleware
from starlette.types import Scope

from shared.body_limit import BodyLimitMiddleware
from shared.context import ServiceContext
from shared.db import (
    CollectionIndexes,
    MongoClient,
    NotAReplicaSet,
    assert_replica_set,
    create_client,
    ensure_collections,
    ping,
)
from shared.errors import install_error_handlers
from shared.gateway_only import GatewayOnlyMiddleware
from shared.health import ReadinessCheck, health_router
from shared.logging import configure_logging, log_event
from shared.metrics import HttpMetrics, ServiceMetrics, metrics_router
from shared.middleware import RequestContextMiddleware
from shared.settings import CommonSettings
from shared.telemetry import configure_tracing, flush_traces, install_tracing, trust_every_caller
from shared.tokens import JwksKeySet, KeysUnavailable, TokenVerifier

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

logger = logging.getLogger("shared.app")


def create_base_app(
    settings: CommonSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    lifespans: Sequence[Lifespan] = (),
    description: str = "",
    openapi_url: str | None = "/openapi.json",
    trust_trace_context: Callable[[Scope], bool] = trust_every_caller,
    serve_metrics: bool = True,
) -> FastAPI:
    """An app with the shared error model, request context, health, metrics and tracing.

    `lifespans` are entered in order at start-up and left in reverse at shutdown; they register
    readiness checks in `app.state.readiness_checks`. `openapi_url` None drops FastAPI's own
    `/openapi.json` (the gateway serves the merged document there instead). `trust_trace_context`
    says whose `traceparent` a request may continue (shared/telemetry.py; the gateway's: trusted
    proxies only). `serve_metrics` False: no `/metrics` route (the gateway serves its registry
    on a listener of its own, gateway/metrics.py).
    """
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, settings.otel_exporter_otlp_endpoint, settings.otel_traces_sample_ratio
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for entered in lifespans:
                await stack.enter_async_context(entered(app))
            log_event(logger, "app.started", env=settings.env.value)
            yield
        log_event(logger, "app.stopped")
        flush_traces()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi_url,
    )
    app.state.settings = settings
    app.state.metrics = HttpMetrics(settings.service_name)
    app.state.readiness_checks = {}
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    # Outside the request context, so its log lines carry the request's trace id.
    install_tracing(app, trust_trace_context)
    app.include_router(health_router())
    if serve_metrics:
        app.include_router(metrics_router())
    for router in routers:
        app.include_router(router)
    return app


def add_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    app.state.readiness_checks[name] = check


def redis_lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
    """Open the Redis client when `REDIS_URL` is set and report it in readiness."""

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        settings: CommonSettings = app.state.settings
        if not settings.redis_url:
            app.state.redis = None
            yield
            return
        redis = Redis.from_url(settings.redis_url, socket_timeout=settings.health_check_timeout_seconds)
        app.state.redis = redis

        async def check_redis() -> None:
            await redis.ping()

        add_readiness_check(app, "redis", check_redis)
        try:
            yield
        finally:
            await redis.aclose()

    return lifespan()


def mongo_lifespan(collections: CollectionIndexes) -> Lifespan:
    """Create the MongoDB client, check the server, and create the owned collections and indexes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: CommonSettings = app.state.settings
        metrics: ServiceMetrics | None = getattr(app.state, "service_metrics", None)
        client = create_client(settings, [metrics.mongo_pool] if metrics else [])
        try:
            await _check_server(client, settings)
            db = client[settings.mongodb_db]
            await ensure_collections(db, collections)
            app.state.mongo_client = client
            app.state.db = db
            app.state.context = ServiceContext(
                client, db, settings, transaction_metrics=metrics.transactions if metrics else None
            )

            async def check_mongodb() -> None:
                await ping(client, settings.health_check_timeout_seconds)

            add_readiness_check(app, "mongodb", check_mongodb)
            yield
        finally:
            await client.close()

    return lifespan


async def _check_server(client: MongoClient, settings: CommonSettings) -> None:
    """Wait for the server; production refuses one that is not a replica-set member (transactions
    need one: docs/transactions.md)."""
    try:
        await assert_replica_set(client, settings.mongodb_startup_timeout_seconds)
    except NotAReplicaSet:
        if settings.is_production:
            raise
        logger.warning("db.standalone_server: multi-document transactions will fail on this server")


@asynccontextmanager
async def jwks_verifier_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Verify access tokens locally with the auth service's published keys; a service is not ready
    before it has them (a valid token must never meet an empty key set)."""
    async with _jwks_key_set(app) as keys:

        async def check_keys() -> None:
            if not keys.loaded and not await keys.refresh():
                raise KeysUnavailable()

        add_readiness_check(app, "jwks", check_keys)
        yield


@asynccontextmanager
async def prefetched_jwks_verifier_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The gateway's verifier: keys fetched in the background from start-up, no readiness check.

    The gateway uses tokens only to count requests per user; without keys it counts per address,
    and it must stay ready for the routes that need no token while the auth service is down.
    """
    async with _jwks_key_set(app) as keys:
        prefetch = asyncio.create_task(keys.refresh())
        try:
            yield
        finally:
            prefetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prefetch


@asynccontextmanager
async def _jwks_key_set(app: FastAPI) -> AsyncIterator[JwksKeySet]:
    """`app.state.token_verifier` over the auth service's JWKS, for the lifetime of the block."""
    settings: CommonSettings = app.state.settings
    timeout = httpx.Timeout(settings.health_check_timeout_seconds)
    # The auth service answers only callers with the internal token, its key set included.
    headers = settings.internal_headers()
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, headers=headers) as client:
        keys = JwksKeySet(client, settings.auth_jwks_url, settings.jwks_cache_seconds)
        app.state.token_verifier = TokenVerifier(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
        )
        yield keys


def create_service_app(
    settings: CommonSettings,
    *,
    title: str,
    collections: CollectionIndexes,
    routers: Sequence[APIRouter] = (),
    lifespans: Sequence[Lifespan] = (),
    token_verifier: Lifespan = jwks_verifier_lifespan,
    description: str = "",
) -> FastAPI:
    """A service app: the base app plus MongoDB, Redis when configured, and token verification.

    `token_verifier` sets `app.state.token_verifier`; the auth service passes one that uses its own keys.
    """
    app = create_base_app(
        settings,
        title=title,
        routers=routers,
        lifespans=[mongo_lifespan(collections), redis_lifespan, token_verifier, *lifespans],
        description=description,
    )
    app.state.service_metrics = ServiceMetrics(app.state.metrics.registry, settings.service_name)
    install_service_guards(app, settings)
    return app


def install_service_guards(app: FastAPI, settings: CommonSettings) -> None:
    """The second line behind the gateway: only the gateway may call (outside development), and no
    body larger than MAX_BODY_BYTES. Inside the request context, so refusals are logged and counted."""
    if settings.gateway_only:
        token = settings.internal_token.get_secret_value() if settings.internal_token else ""
        app.user_middleware.append(Middleware(GatewayOnlyMiddleware, token=token))
    app.user_middleware.append(
        Middleware(
            BodyLimitMiddleware,
            limit_for=lambda _path: settings.max_body_bytes,
            timeout_seconds=settings.request_body_timeout_seconds,
        )
    )
