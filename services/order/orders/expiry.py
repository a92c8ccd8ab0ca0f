"""The reaper: every ORDER_EXPIRY_SWEEP_SECONDS, expire overdue unpaid orders and return their stock.

Safe with several order-service replicas sweeping at once, and against a payment confirming the
same order: each expiry is a guarded transition in its own transaction, so exactly one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.order.orders import repository
from services.order.orders.checkout import OrderContext
from services.order.orders.lifecycle import expire_order
from shared.clock import utcnow
from shared.logging import log_event

logger = logging.getLogger("order.expiry")


async def sweep(ctx: OrderContext) -> int:
    """Expire what is overdue now (one batch); returns how many orders this call expired."""
    due = await repository.overdue_order_ids(ctx.db, utcnow(), ctx.settings.order_expiry_batch_size)
    expired = 0
    for order_id in due:
        if await expire_order(ctx, order_id):
            expired += 1
    if expired:
        log_event(logger, "order.expiry_sweep", expired=expired, due=len(due))
    return expired


async def run_reaper(ctx: OrderContext) -> None:
    interval = ctx.settings.order_expiry_sweep_seconds
    while True:
        try:
            await sweep(ctx)
        except Exception:
            # A failed sweep (database away, say) is retried at the next tick; the reaper never dies.
            logger.exception("order.expiry_sweep_failed")
        # Jitter keeps replicas from sweeping in lockstep.
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311 - not for security


@asynccontextmanager
async def reaper_lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx = OrderContext(app.state.mongo_client, app.state.db, app.state.settings)
    task = asyncio.create_task(run_reaper(ctx), name="order-reaper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
