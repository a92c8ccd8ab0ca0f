"""The catalog the listing benchmark reads: the demo catalog's products, stored as the catalog service
stores them, added over two years (so "newest first" meets a realistic spread of dates), and the
in-process reading of one listing page with the documents its queries examined (explain).
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bson import ObjectId

from devtools.seed import demo_catalog
from services.catalog.categories.service import create_category
from services.catalog.collections import COLLECTIONS
from services.catalog.products import repository
from services.catalog.products.listing import ListingQuery, encode_cursor, listing_filter
from services.catalog.products.service import derived_fields
from shared.clock import utcnow
from shared.db import Database, Document, ensure_collections

SEED = 2024
SPAN = timedelta(days=730)
BATCH = 1000


def _id_at(moment: Any, rng: random.Random) -> ObjectId:
    """An ObjectId as the server would have made it at `moment` (its first 4 bytes are the second)."""
    return ObjectId(int(moment.timestamp()).to_bytes(4, "big") + rng.randbytes(8))


async def seed(db: Database, products: int) -> float:
    """Store `products` demo products (and the categories); returns the seconds it took."""
    started = time.perf_counter()
    await ensure_collections(db, COLLECTIONS)
    catalog = demo_catalog(products, SEED)
    for category in catalog.categories:
        await create_category(db, category)
    rng = random.Random(SEED)  # noqa: S311 - reproducible data, not secrets
    now = utcnow()
    batch: list[Document] = []
    for product in catalog.products:
        created = now - SPAN * rng.random()
        batch.append(
            {
                "_id": _id_at(created, rng),
                **product.model_dump(mode="json"),
                **derived_fields(product.name, product.description, product.sku, product.category),
                "created_at": created,
                "updated_at": created,
                "version": 1,
            }
        )
        if len(batch) == BATCH:
            await db.products.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db.products.insert_many(batch, ordered=False)
    return time.perf_counter() - started


@dataclass(frozen=True)
class PageCost:
    docs: int  # returned (the page, and one more to know whether another follows)
    queries: int
    examined: int  # documents the server read for them, as explain reports
    keys: int  # index keys it read for them
    next_cursor: str | None
    read_ms: float  # the page's queries alone (explain not included)
    page: list[Document]  # the page's products


async def page_cost(db: Database, query: ListingQuery) -> PageCost:
    """Read one page in this process, as the catalog service does, and explain every query it sent."""
    plan = listing_filter(query, include_inactive=False).plan
    queries: list[Document] = []
    started = time.perf_counter()
    docs = await repository.read_listing(db, plan, query.limit + 1, queries)
    read_ms = (time.perf_counter() - started) * 1000
    examined = keys = 0
    for sent in queries:
        explained = await db.command(
            {
                "explain": {"aggregate": "products", "pipeline": sent["pipeline"], "cursor": {}},
                "verbosity": "executionStats",
            }
        )
        docs_read, keys_read = _examined(explained)
        examined, keys = examined + docs_read, keys + keys_read
    more = encode_cursor(docs[query.limit - 1], query.sort) if len(docs) > query.limit else None
    return PageCost(len(docs), len(queries), examined, keys, more, read_ms, docs[: query.limit])


def _examined(explained: Document) -> tuple[int, int]:
    """totalDocsExamined and totalKeysExamined wherever the server put them (a find's stats, or the
    cursor stage's)."""
    stats = explained.get("executionStats")
    for stage in explained.get("stages", []):
        cursor = stage.get("$cursor")
        if stats is None and cursor and "executionStats" in cursor:
            stats = cursor["executionStats"]
    if stats is None:
        raise RuntimeError(f"no executionStats in {explained}")
    return int(stats["totalDocsExamined"]), int(stats.get("totalKeysExamined", 0))


def database_name() -> str:
    return f"bench_catalog_{secrets.token_hex(4)}"
