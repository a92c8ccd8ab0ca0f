"""`GET /health`: every service's readiness in one answer, 200 only when all are ready.

The services' readiness is reused for HEALTH_CACHE_SECONDS, and while it is being asked every other
probe waits for that round: however many probes arrive, each service (and, behind it, MongoDB and
Redis) is asked at most once per period. What the gateway knows itself (its breakers, its rate-limit
storage) is always current. `gateway_health_checks_total{source}` counts cached and fresh answers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from shared.health import failing_names, not_ready_response
from shared.launcher_status import read_restarts

READY = "ready"


async def service_readiness(client: httpx.AsyncClient, base_url: str, timeout_seconds: float) -> str:
    """`ready`, `not_ready` (it answered but a dependency fails), `timeout` or `unreachable`."""
    try:
        response = await client.get(f"{base_url}/health/ready", timeout=timeout_seconds)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.TransportError:
        return "unreachable"
    return READY if response.status_code == 200 else "not_ready"


Readiness = dict[str, str]  # service name -> ready, not_ready, timeout or unreachable


async def ask_every_service(app: FastAPI) -> Readiness:
    settings: GatewaySettings = app.state.settings
    client: httpx.AsyncClient = app.state.http
    urls = settings.upstream_urls()
    states = await asyncio.gather(
        *(service_readiness(client, url, settings.health_check_timeout_seconds) for url in urls.values())
    )
    return dict(zip(urls, states, strict=True))


def local_state(app: FastAPI) -> dict[str, Any]:
    """What the gateway knows without asking anyone, always current: its breakers, where it counts
    rate limits, and (under the local launcher) the restarts."""
    # The proxy's view beside readiness: an open breaker means requests are refused without trying.
    breakers = {name: breaker.state.value for name, breaker in app.state.breakers.items()}
    # Where rate limits are counted: redis, memory, or degraded (Redis failing: memory; never a 503).
    rate_limits: str = app.state.rate_limits.state
    extra: dict[str, Any] = {"breakers": breakers, "rate_limits": rate_limits}
    # Under the local launcher, how often each process was restarted after a crash.
    restarts = read_restarts(app.state.settings.data_dir)
    if restarts is not None:
        extra["restarts"] = restarts
    return extra


def health_response(services: Readiness, extra: dict[str, Any]) -> JSONResponse | dict[str, Any]:
    failing = failing_names(services, READY)
    if failing:
        return not_ready_response(
            "Not every service is ready", "not ready: " + ", ".join(failing), services=services, **extra
        )
    return {"status": "ok", "services": services, **extra}


class HealthCache:
    """The services' last readiness for `ttl_seconds`, and at most one round of asking them in
    flight (single flight)."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._answer: Readiness | None = None
        self._expires = 0.0
        self._pending: asyncio.Task[Readiness] | None = None

    async def get(self, app: FastAPI, metrics: GatewayMetrics) -> Readiness:
        if self._answer is not None and time.monotonic() < self._expires:
            metrics.health_answered("cached")
            return self._answer
        if self._pending is None:
            self._pending = asyncio.create_task(self._refresh(app))
            metrics.health_answered("fresh")
        else:
            metrics.health_answered("cached")
        # Shielded: a probe that gives up does not cancel the check the others wait for.
        return await asyncio.shield(self._pending)

    async def _refresh(self, app: FastAPI) -> Readiness:
        try:
            answer = await ask_every_service(app)
            self._answer, self._expires = answer, time.monotonic() + self.ttl_seconds
            return answer
        finally:
            self._pending = None


def aggregate_health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=None, summary="Readiness of every service")
    async def health(request: Request) -> JSONResponse | dict[str, Any]:
        cache: HealthCache = request.app.state.health_cache
        services = await cache.get(request.app, request.app.state.gateway_metrics)
        return health_response(services, local_state(request.app))

    return router
