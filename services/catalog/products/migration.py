"""Start-up migration: products stored before search terms carried prefix entries (search.py) get
them, so that a search by prefix finds them too.

It runs in the background once per start (a scan of the products, which is why it does not hold up
readiness), and is safe with several replicas at once and with concurrent edits: each product is
rewritten only while its `version` is the one read, and a patch recomputes the terms itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.catalog.products import repository
from services.catalog.products.search import search_terms
from shared.db import Database
from shared.logging import log_event

logger = logging.getLogger("catalog.migration")
BATCH = 500


async def refresh_search_terms(db: Database) -> int:
    """Give every product stored without prefix entries its current search terms; returns how many."""
    refreshed = 0
    async for product in repository.products_without_prefix_entries(db, BATCH):
        fields = (product["name"], product.get("description"), product["sku"], product.get("category"))
        terms = search_terms(*fields)
        if terms and await repository.set_search_terms(db, product["_id"], product["version"], terms):
            refreshed += 1
    if refreshed:
        log_event(logger, "catalog.search_terms_refreshed", products=refreshed)
    return refreshed


@asynccontextmanager
async def search_terms_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Refresh the search terms of older products in the background while the service serves."""
    task = asyncio.create_task(_refresh_logged(app.state.db))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _refresh_logged(db: Database) -> None:
    try:
        await refresh_search_terms(db)
    except Exception:  # a failed pass is retried at the next start; the service keeps serving
        logger.exception("catalog.search_terms_refresh_failed")
