"""Liveness and readiness for every process.

`/health/live` answers while the process serves requests; `/health/ready` runs every registered
check (MongoDB, Redis where configured) and answers 503 problem+json naming the failing ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.errors import ServiceUnavailable, problem_response

# A check raises (or times out) when its dependency is not usable.
ReadinessCheck = Callable[[], Awaitable[None]]


async def run_checks(checks: Mapping[str, ReadinessCheck], timeout_seconds: float) -> dict[str, str]:
    """Run every check concurrently; each is `ok` or a short reason (never internals)."""

    async def outcome(check: ReadinessCheck) -> str:
        try:
            async with asyncio.timeout(timeout_seconds):
                await check()
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(outcome(checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


def failing_names(results: Mapping[str, str], healthy: str) -> list[str]:
    return sorted(name for name, result in results.items() if result != healthy)


def not_ready_response(title: str, detail: str, **extensions: Any) -> JSONResponse:
    """The 503 problem+json every readiness view answers with when something is not ready."""
    return problem_response(
        ServiceUnavailable.status, ServiceUnavailable.slug, title, detail, extensions=extensions
    )


def health_router() -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"], include_in_schema=False)

    @router.get("/live")
    async def live(request: Request) -> dict[str, Any]:
        return {"status": "ok", "service": request.app.state.settings.service_name}

    @router.get("/ready", response_model=None)
    async def ready(request: Request) -> JSONResponse | dict[str, Any]:
        state = request.app.state
        results = await run_checks(state.readiness_checks, state.settings.health_check_timeout_seconds)
        failing = failing_names(results, "ok")
        if failing:
            return not_ready_response(
                "Not ready",
                "failing checks: " + ", ".join(failing),
                service=state.settings.service_name,
                checks=results,
            )
        return {"status": "ready", "service": state.settings.service_name, "checks": results}

    return router
