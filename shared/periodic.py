"""Background work a service repeats for as long as it runs: the order reaper, the payment reconciler.

Every replica runs its own loop, so each job must be safe to run in several processes at once (its
writes are guarded transitions). A pass that fails (the database away, say) is logged and retried
at the next tick: the loop never dies. Ticks are jittered (±20 %) so replicas do not run in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

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


async def run_periodically(job: Periodic) -> None:
    if not job.first_at_start:
        await asyncio.sleep(_jittered(job.every_seconds))
    while True:
        try:
            await job.run()
        except Exception:
            logger.exception(f"{job.name}_failed")
        await asyncio.sleep(_jittered(job.every_seconds))


@asynccontextmanager
async def running(job: Periodic) -> AsyncIterator[None]:
    """Run `job` in the background for the duration of the block (an app's lifespan)."""
    task = asyncio.create_task(run_periodically(job), name=job.name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
