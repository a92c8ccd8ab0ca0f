"""Rank scales for the name and price sorts: where a key lies among the catalog's keys, not on a
line of all possible keys.

Names and prices cluster. Names share long prefixes, a brand and then a product line (in the demo
catalog of 100,000 products, 2,377 names begin with "chanachur king" and only 64 distinct
first-7-character prefixes exist), so a scale that reads a name's first characters as a number
(windows.TextScale) cannot tell most of them apart: a window sized from it held some 3,500 products
for a page of 20. Prices gather at round amounts, which a logarithmic scale (windows.AmountScale)
meets with windows now nearly empty, now holding hundreds.

A rank scale places a key by how many active products sort before it, read off **fence keys**:
every FENCE_EVERY-th key of the listing, in order. On that scale products lie about one per unit
wherever they are, so a window sized for a page holds about a page, however the keys cluster.
The fences come from a background scan of the active products (one pass, read SCAN_BATCH at a
time) at start and every CATALOG_RANKS_REFRESH_SECONDS: for each ranked sort key, one set for the
whole catalog and one per category.

Fences go stale as products are added, changed or withdrawn: that costs a window's accuracy, never
an item (a walk goes on until its page is full, and its last window is unbounded; windows.py). A
listing too small to need them (fewer than MIN_PRODUCTS products) keeps its sort's own scale.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from shared.db import Database, Document
from shared.periodic import Periodic, running

FENCE_EVERY = 10  # a fence every this many products: a page's window is read to within this many
MIN_PRODUCTS = 200  # below this, keys are few enough for the sort's own scale
SCAN_BATCH = 2000  # products per read of the scan


class RankScale:
    """Keys by their rank among `fences` (each FENCE_EVERY products apart): a key's position is the
    rank of the first fence not below it; the key at a position is the fence at or after it."""

    def __init__(self, fences: list[Any], every: int = FENCE_EVERY) -> None:
        self.fences = fences
        self.every = every

    def position(self, key: Any) -> float:
        return float(self.every * bisect.bisect_left(self.fences, key))

    def key_at(self, position: float) -> Any | None:
        index = math.ceil(position / self.every)
        if not 0 <= index < len(self.fences):
            return None  # past the last fence: the rest of the walk is one unbounded window
        return self.fences[index]


@dataclass
class CatalogRanks:
    """The rank scales of the current scan, by (sort key, category or None for the whole catalog)."""

    scales: dict[tuple[str, str | None], RankScale] = field(default_factory=dict)

    def scale_for(self, key: str, equality: Document) -> RankScale | None:
        """The scale of sort key `key` for a walk with these equalities: its category's, or the
        whole catalog's (a search word or an `active` choice only thins the listing: the density
        learned says by how much)."""
        category = equality.get("category")
        return self.scales.get((key, category if isinstance(category, str) else None))


# The scales this process reads its listings with; replaced whole by each scan.
RANKS = CatalogRanks()


async def scan_catalog(db: Database) -> CatalogRanks:
    """Every active product's name key and price, into fences per listing: one pass over the
    products (in any order: they are sorted here), read SCAN_BATCH at a time."""
    keys: defaultdict[tuple[str, str | None], list[Any]] = defaultdict(list)
    fields = {"_id": 0, "name_key": 1, "price.amount": 1, "category": 1}
    cursor = db.products.find({"active": True}, fields, batch_size=SCAN_BATCH)
    scanned = 0
    async for product in cursor:
        category = product.get("category")
        # Names and prices cluster (by brand and product line, at round amounts); dates spread
        # evenly enough for their own scale.
        for key, value in (("name_key", product.get("name_key")), ("price.amount", _amount(product))):
            if value is not None:
                keys[(key, None)].append(value)
                if isinstance(category, str):
                    keys[(key, category)].append(value)
        scanned += 1
        if scanned % SCAN_BATCH == 0:
            await asyncio.sleep(0)  # between batches, requests go first
    fenced = {listing: _fenced(values) for listing, values in keys.items()}
    return CatalogRanks({listing: scale for listing, scale in fenced.items() if scale is not None})


def _amount(product: Document) -> int | None:
    price = product.get("price")
    amount = price.get("amount") if isinstance(price, dict) else None
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


def _fenced(values: list[Any]) -> RankScale | None:
    if len(values) < MIN_PRODUCTS:
        return None
    values.sort()
    return RankScale(values[::FENCE_EVERY])


async def refresh_ranks(db: Database) -> None:
    """Scan the catalog and make its scales the ones listings use (a periodic job of the service)."""
    RANKS.scales = (await scan_catalog(db)).scales


@asynccontextmanager
async def ranks_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Scan at start-up (in the background: readiness does not wait) and every
    CATALOG_RANKS_REFRESH_SECONDS after, for as long as the service runs."""
    db: Database = app.state.db
    every = app.state.settings.catalog_ranks_refresh_seconds
    scanning = Periodic("catalog.ranks", every, lambda: refresh_ranks(db))
    async with running(scanning, app.state.service_metrics.jobs):
        yield
