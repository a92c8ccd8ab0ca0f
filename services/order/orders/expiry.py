"""The reaper: every ORDER_EXPIRY_SWEEP_SECONDS, expire overdue unpaid orders and return their stock.

Safe with several order-service replicas sweeping at once, and against a payment confirming the
same order: each expiry is a guarded transition in its own transaction, so exactly one wins.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.order import metrics
from services.order.orders import repository
from services.order.orders.checkout import OrderContext
from services.order.orders.lifecycle import expire_order
from shared.clock import utcnow
from shared.logging import log_event
from shared.periodic import Periodic, running

logger = logging.getLogger("order.expiry")


async def sweep(ctx: OrderContext) -> int:
    """Expire what is overdue now (one batch); returns how many orders this call expired."""
    due = await repository.overdue_order_ids(ctx.db, utcnow(), ctx.settings.order_expiry_batch_size)
    expired = 0
    for order_id in due:
        if await expire_order(ctx, order_id):
            expired += 1
    metrics.expired(expired)
    if expired:
        log_event(logger, "order.expiry_sweep", expired=expired, due=len(due))
    return expired


@asynccontextmanager
async def reaper_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Sweep every ORDER_EXPIRY_SWEEP_SECONDS for as long as the service runs (every replica)."""
    ctx: OrderContext = app.state.context
    sweeping = Periodic("order.expiry_sweep", ctx.settings.order_expiry_sweep_seconds, lambda: sweep(ctx))
    async with running(sweeping, app.state.service_metrics.jobs):
        yield
