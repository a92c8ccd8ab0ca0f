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

Fences cannot split products that share one key (prices gather at round amounts: a few hundred
products at one price at 100,000), so the scan also records each key held by GROUP_MIN products or
more, a **group**, with the lowest and highest `_id` among them; a walk reads a group as the ties of
its key, in windows of `_id` (repository.py), instead of in one window of the key.

Fences go stale as products are added, changed or withdrawn: that costs a window's accuracy, never
an item (a walk goes on until its page is full, and its last window is unbounded; windows.py). A
listing too small to need them (fewer than MIN_PRODUCTS products) keeps its sort's own scale.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from fastapi import FastAPI

from services.catalog.products.windows import AIM, ID_SCALE, Start, beyond
from shared.db import Database, Document
from shared.periodic import Periodic, running

FENCE_EVERY = 10  # a fence every this many products: a page's window is read to within this many
MIN_PRODUCTS = 200  # below this, keys are few enough for the sort's own scale
SCAN_BATCH = 2000  # products per read of the scan
# Products sharing one key from which they are read in windows of `_id`: about a page. (At 50, a
# window's far bound could land on a key held by 45 products, leave them out, and the window after
# it, four times wider, take in two such keys: 100 documents for a page.)
GROUP_MIN = 2 * FENCE_EVERY
# How much wider than an empty window the next one is. A window on a rank scale comes back empty
# when its far bound is the key of a few products just beyond it (the bound is exclusive), not
# because keys are sparse there; four times wider then took in several such keys (95 documents).
RANK_WIDEN = 2.0


@dataclass(frozen=True)
class Group:
    """A key held by `count` active products, whose `_id`s run from `first_id` to `last_id`."""

    key: Any
    count: int
    first_id: ObjectId
    last_id: ObjectId

    def last_in(self, direction: int) -> ObjectId:
        """The last `_id` of the group in a walk's direction (1 ascending, -1 descending)."""
        return self.last_id if direction == 1 else self.first_id

    def id_width(self, docs: int) -> float:
        """The width of an `_id` window that holds about AIM times `docs` of the group."""
        span = ID_SCALE.position(self.last_id) - ID_SCALE.position(self.first_id)
        return max(AIM * docs * span / max(self.count - 1, 1), 1.0)


class RankScale:
    """Keys by their rank among `fences` (each FENCE_EVERY products apart): a key's position is the
    rank of the first fence not below it; the key at a position is the fence at or after it.
    `groups` are the keys many products share, in key order."""

    def __init__(
        self, fences: list[Any], every: int = FENCE_EVERY, groups: list[Group] | None = None
    ) -> None:
        self.fences = fences
        self.every = every
        self.groups = groups or []
        self._group_keys = [group.key for group in self.groups]

    def group(self, key: Any) -> Group | None:
        index = bisect.bisect_left(self._group_keys, key)
        found = index < len(self.groups) and self._group_keys[index] == key
        return self.groups[index] if found else None

    def groups_beyond(self, start: Start | None, end: Start | None, direction: int) -> Iterator[Group]:
        """The groups a walk from `start` (exclusive or not) to `end` meets, in the walk's order."""
        if direction == 1:
            first = 0 if start is None else _cut(self._group_keys, start, after=True)
            ahead: Iterator[Group] = iter(self.groups[first:])
        else:
            last = len(self.groups) if start is None else _cut(self._group_keys, start, after=False)
            ahead = reversed(self.groups[:last])
        if end is None:
            return ahead
        return itertools.takewhile(lambda group: _within(group.key, end, direction), ahead)

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


def _cut(keys: list[Any], start: Start, *, after: bool) -> int:
    """Where the keys a walk from `start` may meet begin (upwards, `after`) or end (downwards)."""
    if after:
        return (bisect.bisect_left if start.inclusive else bisect.bisect_right)(keys, start.key)
    return (bisect.bisect_right if start.inclusive else bisect.bisect_left)(keys, start.key)


def _within(key: Any, end: Start, direction: int) -> bool:
    return beyond(end.key, key, direction) or (key == end.key and end.inclusive)


# The scales this process reads its listings with; replaced whole by each scan.
RANKS = CatalogRanks()


async def scan_catalog(db: Database) -> CatalogRanks:
    """Every active product's name key and price, into fences and groups per listing: one pass over
    the products (in any order: they are sorted here), read SCAN_BATCH at a time."""
    keys: defaultdict[tuple[str, str | None], list[tuple[Any, ObjectId]]] = defaultdict(list)
    fields = {"_id": 1, "name_key": 1, "price.amount": 1, "category": 1}
    cursor = db.products.find({"active": True}, fields, batch_size=SCAN_BATCH)
    scanned = 0
    async for product in cursor:
        category = product.get("category")
        # Names and prices cluster (by brand and product line, at round amounts); dates spread
        # evenly enough for their own scale.
        for key, value in (("name_key", product.get("name_key")), ("price.amount", _amount(product))):
            if value is not None:
                keys[(key, None)].append((value, product["_id"]))
                if isinstance(category, str):
                    keys[(key, category)].append((value, product["_id"]))
        scanned += 1
        if scanned % SCAN_BATCH == 0:
            await asyncio.sleep(0)  # between batches, requests go first
    fenced = {listing: _fenced(values) for listing, values in keys.items()}
    return CatalogRanks({listing: scale for listing, scale in fenced.items() if scale is not None})


def _amount(product: Document) -> int | None:
    price = product.get("price")
    amount = price.get("amount") if isinstance(price, dict) else None
    return amount if isinstance(amount, int) and not isinstance(amount, bool) else None


def _fenced(keyed: list[tuple[Any, ObjectId]]) -> RankScale | None:
    """The scale of one listing's (key, `_id`) pairs: sorted, every FENCE_EVERY-th key a fence, and
    each run of GROUP_MIN or more equal keys a group."""
    if len(keyed) < MIN_PRODUCTS:
        return None
    keyed.sort()
    groups = []
    for key, run in itertools.groupby(keyed, key=lambda pair: pair[0]):
        ids = [product_id for _, product_id in run]
        if len(ids) >= GROUP_MIN:
            groups.append(Group(key, len(ids), ids[0], ids[-1]))
    return RankScale([key for key, _ in keyed[::FENCE_EVERY]], groups=groups)


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
