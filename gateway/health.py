"""`GET /health`: every service's readiness in one answer, 200 only when all are ready.

The answer is reused for HEALTH_CACHE_SECONDS, and while one is being worked out every other probe
waits for that one: however many probes arrive, each service (and, behind it, MongoDB and Redis) is
asked at most once per period. `gateway_health_checks_total{source}` counts cached and fresh answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class HealthAnswer:
    services: dict[str, str]
    extra: dict[str, Any]

    def response(self) -> JSONResponse | dict[str, Any]:
        failing = failing_names(self.services, READY)
        if failing:
            return not_ready_response(
                "Not every service is ready",
                "not ready: " + ", ".join(failing),
                services=self.services,
                **self.extra,
            )
        return {"status": "ok", "services": self.services, **self.extra}


async def check_everything(app: FastAPI) -> HealthAnswer:
    settings: GatewaySettings = app.state.settings
    client: httpx.AsyncClient = app.state.http
    urls = settings.upstream_urls()
    states = await asyncio.gather(
        *(service_readiness(client, url, settings.health_check_timeout_seconds) for url in urls.values())
    )
    services = dict(zip(urls, states, strict=True))
    # The proxy's view beside readiness: an open breaker means requests are refused without trying.
    breakers = {name: breaker.state.value for name, breaker in app.state.breakers.items()}
    # Where rate limits are counted: redis, memory, or degraded (Redis failing: memory; never a 503).
    rate_limits: str = app.state.rate_limits.state
    extra: dict[str, Any] = {"breakers": breakers, "rate_limits": rate_limits}
    # Under the local launcher, how often each process was restarted after a crash.
    restarts = read_restarts(settings.data_dir)
    if restarts is not None:
        extra["restarts"] = restarts
    return HealthAnswer(services, extra)


class HealthCache:
    """The last answer for `ttl_seconds`, and at most one check in flight (single flight)."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._answer: HealthAnswer | None = None
        self._expires = 0.0
        self._pending: asyncio.Task[HealthAnswer] | None = None

    async def get(self, app: FastAPI, metrics: GatewayMetrics) -> HealthAnswer:
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

    async def _refresh(self, app: FastAPI) -> HealthAnswer:
        try:
            answer = await check_everything(app)
            self._answer, self._expires = answer, time.monotonic() + self.ttl_seconds
            return answer
        finally:
            self._pending = None


def aggregate_health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=None, summary="Readiness of every service")
    async def health(request: Request) -> JSONResponse | dict[str, Any]:
        cache: HealthCache = request.app.state.health_cache
        answer = await cache.get(request.app, request.app.state.gateway_metrics)
        return answer.response()

    return router
