"""Rank scales for the name sort: where a name lies among the catalog's names, not among all strings.

Names cluster. They share long prefixes, a brand and then a product line (in the demo catalog of
100,000 products, 2,377 names begin with "chanachur king" and only 64 distinct first-7-character
prefixes exist), so a scale that reads a name's first characters as a number (windows.TextScale)
cannot tell most of them apart: a window sized from it held some 3,500 products for a page of 20.

A rank scale places a name by how many active products sort before it, read off **fence keys**:
every FENCE_EVERY-th name of the listing, in order. On that scale products lie about one per unit
wherever they are, so a window sized for a page holds about a page, however the names cluster.
The fences come from a background scan of the active products (one pass, read SCAN_BATCH at a time),
at start and every CATALOG_RANKS_REFRESH_SECONDS: one set for the whole catalog and one per category.

Fences go stale as products are added, renamed or withdrawn: that costs a window's accuracy, never
an item (a walk goes on until its page is full, and its last window is unbounded; windows.py). A
catalog too small to need them (fewer than MIN_PRODUCTS names) keeps the text scale.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from shared.db import Database, Document
from shared.periodic import Periodic, running

FENCE_EVERY = 10  # a fence every this many names: a page's window is read to within this many
MIN_PRODUCTS = 200  # below this, names are few enough for the text scale
SCAN_BATCH = 2000  # products per read of the scan


class RankScale:
    """Names by their rank among `fences` (each FENCE_EVERY names apart): a name's position is the
    rank of the first fence not below it; the key at a position is the fence at or after it."""

    def __init__(self, fences: list[str], every: int = FENCE_EVERY) -> None:
        self.fences = fences
        self.every = every

    def position(self, key: str) -> float:
        return float(self.every * bisect.bisect_left(self.fences, key))

    def key_at(self, position: float) -> str | None:
        index = math.ceil(position / self.every)
        if not 0 <= index < len(self.fences):
            return None  # past the last fence: the rest of the walk is one unbounded window
        return self.fences[index]


@dataclass
class NameRanks:
    """The rank scales of the current scan: the whole catalog's, and each category's."""

    everything: RankScale | None = None
    by_category: dict[str, RankScale] = field(default_factory=dict)

    def scale_for(self, equality: Document) -> RankScale | None:
        """The scale for a walk with these equalities: its category's, or the whole catalog's (a
        search word or an `active` choice only thins the listing: the density learned says by how much)."""
        category = equality.get("category")
        if isinstance(category, str):
            return self.by_category.get(category)
        return self.everything


# The scales this process reads its name listings with; replaced whole by each scan.
RANKS = NameRanks()


async def scan_names(db: Database) -> NameRanks:
    """Every active product's name key, into fences per listing: one pass over the products (any
    order: they are sorted here), read SCAN_BATCH at a time."""
    everything: list[str] = []
    per_category: defaultdict[str, list[str]] = defaultdict(list)
    fields = {"_id": 0, "name_key": 1, "category": 1}
    cursor = db.products.find({"active": True}, fields, batch_size=SCAN_BATCH)
    async for product in cursor:
        name = product.get("name_key")
        if isinstance(name, str):
            everything.append(name)
            if isinstance(product.get("category"), str):
                per_category[product["category"]].append(name)
        if len(everything) % SCAN_BATCH == 0:
            await asyncio.sleep(0)  # between batches, requests go first
    by_category = {category: _fenced(names) for category, names in per_category.items()}
    return NameRanks(
        everything=_fenced(everything),
        by_category={category: scale for category, scale in by_category.items() if scale is not None},
    )


def _fenced(names: list[str]) -> RankScale | None:
    if len(names) < MIN_PRODUCTS:
        return None
    names.sort()
    return RankScale(names[::FENCE_EVERY])


async def refresh_ranks(db: Database) -> None:
    """Scan the catalog and make its scales the ones listings use (a periodic job of the service)."""
    scanned = await scan_names(db)
    RANKS.everything, RANKS.by_category = scanned.everything, scanned.by_category


@asynccontextmanager
async def ranks_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Scan at start-up (in the background: readiness does not wait) and every
    CATALOG_RANKS_REFRESH_SECONDS after, for as long as the service runs."""
    db: Database = app.state.db
    every = app.state.settings.catalog_ranks_refresh_seconds
    scanning = Periodic("catalog.name_ranks", every, lambda: refresh_ranks(db))
    async with running(scanning, app.state.service_metrics.jobs):
        yield
