"""Start-up migration: orders stored before `fulfilment_status` and `money_status` existed get both,
derived from their `status` (and history), and their `status` recomputed under the new rule.

Idempotent and safe with several replicas starting at once: each order is updated only while it
still lacks the fields, and an order that has them is never touched again. Readers fall back to the
same derivation (`split_of` in shared/contracts/orders.py), so an order not yet migrated is never misread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.order.orders import repository
from shared.contracts.orders import migration_set
from shared.db import Database
from shared.logging import log_event

logger = logging.getLogger("order.migration")
BATCH = 500


async def split_order_statuses(db: Database) -> int:
    """Migrate every order that lacks the two statuses; returns how many this call changed."""
    migrated = 0
    while batch := await repository.unsplit_orders(db, BATCH):
        changed = 0
        for order in batch:
            changes = migration_set(order)
            if changes is not None and await repository.split_statuses(db, order["_id"], changes):
                changed += 1
        migrated += changed
        if changed == 0:
            break  # another replica is migrating the same batch: it finishes it
    if migrated:
        log_event(logger, "order.statuses_split", orders=migrated)
    return migrated


@asynccontextmanager
async def migration_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs before the service answers, so every order it serves has both statuses stored."""
    await split_order_statuses(app.state.db)
    yield
