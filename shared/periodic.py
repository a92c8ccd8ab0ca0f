"""Background work a service repeats for as long as it runs: the order reaper, the payment reconciler.

Every replica runs its own loop, so each job must be safe to run in several processes at once (its
writes are guarded transitions). A pass that fails (the database away, say) is logged and retried
at the next tick: the loop never dies. Ticks are jittered (±20 %) so replicas do not run in lockstep.

Each pass is one trace of its own (a root span named after the job) and, given the app's
`JobMetrics`, counted with its outcome and time (`periodic_job_*`, docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from opentelemetry import context as trace_context

from shared.metrics import JobMetrics
from shared.telemetry import span

logger = logging.getLogger("shared.periodic")


@dataclass(frozen=True)
class Periodic:
    name: str  # the task's name; a failed pass logs `<name>_failed`
    every_seconds: float
    run: Callable[[], Awaitable[object]]
    # False: the first pass waits one period (leaving start-up, and tests, to settle first).
    first_at_start: bool = True


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(0.8, 1.2)  # noqa: S311 - spreading replicas, not security


async def run_once(job: Periodic, metrics: JobMetrics | None = None) -> bool:
    """One pass, traced and counted; False when it failed (logged, never raised)."""
    started = time.perf_counter()
    ok = True
    # A root span: a pass belongs to no request's trace (the task may have been started in one).
    token = trace_context.attach(trace_context.Context())
    try:
        with span(job.name, {"job.name": job.name}):
            await job.run()
    except Exception:
        ok = False
        logger.exception(f"{job.name}_failed")
    finally:
        trace_context.detach(token)
    if metrics is not None:
        metrics.ran(job.name, ok=ok, seconds=time.perf_counter() - started)
    return ok


async def run_periodically(job: Periodic, metrics: JobMetrics | None = None) -> None:
    if not job.first_at_start:
        await asyncio.sleep(_jittered(job.every_seconds))
    while True:
        await run_once(job, metrics)
        await asyncio.sleep(_jittered(job.every_seconds))


@asynccontextmanager
async def running(job: Periodic, metrics: JobMetrics | None = None) -> AsyncIterator[None]:
    """Run `job` in the background for the duration of the block (an app's lifespan); `metrics`:
    the app's (`app.state.service_metrics.jobs`)."""
    task = asyncio.create_task(run_periodically(job, metrics), name=job.name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
