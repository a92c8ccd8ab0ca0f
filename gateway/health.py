"""`GET /health`: every service's readiness in one answer, 200 only when all are ready."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

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


def aggregate_health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=None, summary="Readiness of every service")
    async def health(request: Request) -> JSONResponse | dict[str, Any]:
        settings: GatewaySettings = request.app.state.settings
        client: httpx.AsyncClient = request.app.state.http
        urls = settings.upstream_urls()
        states = await asyncio.gather(
            *(service_readiness(client, url, settings.health_check_timeout_seconds) for url in urls.values())
        )
        services = dict(zip(urls, states, strict=True))
        # The proxy's view beside readiness: an open breaker means requests are refused without trying.
        breakers = {name: breaker.state.value for name, breaker in request.app.state.breakers.items()}
        # Where rate limits are counted: redis, memory, or degraded (Redis failing: memory; never a 503).
        rate_limits: str = request.app.state.rate_limits.state
        extra: dict[str, Any] = {"breakers": breakers, "rate_limits": rate_limits}
        # Under the local launcher, how often each process was restarted after a crash.
        restarts = read_restarts(settings.data_dir)
        if restarts is not None:
            extra["restarts"] = restarts
        failing = failing_names(services, READY)
        if failing:
            return not_ready_response(
                "Not every service is ready", "not ready: " + ", ".join(failing), services=services, **extra
            )
        return {"status": "ok", "services": services, **extra}

    return router
