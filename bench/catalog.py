"""Catalog listings through the gateway, and how their cost grows with the catalog.

For each size in SIZES (`BENCH_CATALOG_SIZES`, default 1,000 and 100,000 products), on a fresh
stack and database: stores the demo catalog (bench/catalog_data.py, dates spread over two years),
reads every listing shape once (the catalog learns each shape's density on its first page), then
for each shape measures through the gateway, one client at a time:

- the first page, and a deep page (DEEP_OFFSET items in, or half the listing when it is shorter),
  reached by walking the cursors: p50 of SERIAL_CALLS requests each;
- the same two pages read in this process as the service reads them (no HTTP), with the number of
  queries sent and the documents the database examined for them (explain).

Then CLIENTS concurrent clients read a mix of the shapes for CONCURRENT_SECONDS. At the end, each
shape's p50 at the largest size divided by its p50 at the smallest: the goal is at most 1.3.
Answers other than 200 (a 504 when the catalog is too slow for the gateway) are counted, not fatal.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.catalog_data import database_name, page_cost, seed
from bench.stack import describe, running_stack
from devstack.stack import Stack
from services.catalog.products.listing import ListingQuery
from services.catalog.products.ranks import refresh_ranks
from shared.db import Database, MongoClient

SIZES = tuple(int(size) for size in os.environ.get("BENCH_CATALOG_SIZES", "1000,100000").split(","))
PAGE = 20
DEEP_OFFSET = 500
SERIAL_CALLS = 15
CLIENTS = 16
CONCURRENT_SECONDS = 10.0
GOAL = 1.3
# The embedded server's cache: 100,000 products and their ~10 million search index entries stall a
# bulk load into the default 1 GiB (docs/performance/catalog.md).
DB_CACHE = os.environ.get("BENCH_CATALOG_DB_CACHE", "6G")
CATEGORY = "snacks"  # the demo catalog's largest department

# name: the listing's query parameters (besides limit and cursor)
SHAPES: dict[str, dict[str, Any]] = {
    "newest": {"sort": "newest"},
    "category": {"category": CATEGORY, "sort": "newest"},
    "price_asc": {"sort": "price_asc"},
    "price_desc": {"sort": "price_desc"},
    "category+price": {"category": CATEGORY, "sort": "price_asc"},
    "name": {"sort": "name"},
    "search q=premium": {"q": "premium", "sort": "newest"},
    "search q=green te": {"q": "green te", "sort": "newest"},
    "in_stock": {"in_stock": True, "sort": "newest"},
}


@dataclass
class ShapeFigures:
    first_ms: float
    deep_ms: float
    deep_offset: int
    first_direct_ms: float
    deep_direct_ms: float
    first_examined: int
    deep_examined: int
    first_queries: int
    deep_queries: int
    first_keys: int
    deep_keys: int


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[int] = field(default_factory=Counter)


def url(params: dict[str, Any], cursor: str | None = None) -> str:
    values = {key: str(value).lower() if isinstance(value, bool) else value for key, value in params.items()}
    query = httpx.QueryParams(values).set("limit", PAGE)
    return f"/api/v1/products?{query.set('cursor', cursor) if cursor else query}"


async def get(client: httpx.AsyncClient, path: str, samples: Samples) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        response = await client.get(path)
    except httpx.TimeoutException:
        samples.errors[0] += 1
        return None
    if response.status_code != 200:
        samples.errors[response.status_code] += 1
        return None
    samples.latencies.append(time.perf_counter() - started)
    body: dict[str, Any] = response.json()
    return body


async def deep_cursor(client: httpx.AsyncClient, params: dict[str, Any]) -> tuple[str | None, int]:
    """The cursor of the page DEEP_OFFSET items in (or half-way through a shorter listing)."""
    cursors: list[str] = []
    cursor: str | None = None
    samples = Samples()
    while len(cursors) * PAGE < DEEP_OFFSET:
        page = await get(client, url(params, cursor), samples)
        if page is None or not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
        cursors.append(cursor)
    if not cursors:
        return None, 0
    index = len(cursors) - 1 if len(cursors) * PAGE >= DEEP_OFFSET else len(cursors) // 2
    return cursors[index], (index + 1) * PAGE


async def p50(client: httpx.AsyncClient, path: str) -> float:
    samples = Samples()
    for _ in range(SERIAL_CALLS):
        await get(client, path, samples)
    if samples.errors:
        say(f"      errors: {dict(samples.errors)}")
    return statistics.median(samples.latencies) * 1000 if samples.latencies else float("nan")


async def direct(db: Database, query: ListingQuery) -> tuple[float, int, int, int]:
    """p50 of reading the page in this process (its queries only), and its queries and documents examined."""
    costs = [await page_cost(db, query) for _ in range(5)]
    last = costs[-1]
    return statistics.median(cost.read_ms for cost in costs), last.queries, last.examined, last.keys


async def measure_shape(client: httpx.AsyncClient, db: Database, params: dict[str, Any]) -> ShapeFigures:
    cursor, offset = await deep_cursor(client, params)
    first_query = ListingQuery(limit=PAGE, **params)
    deep_query = replace(first_query, cursor=cursor)
    first_ms = await p50(client, url(params))
    deep_ms = await p50(client, url(params, cursor)) if cursor else float("nan")
    first_direct, first_queries, first_examined, first_keys = await direct(db, first_query)
    deep_direct, deep_queries, deep_examined, deep_keys = (
        await direct(db, deep_query) if cursor else (0.0, 0, 0, 0)
    )
    return ShapeFigures(
        first_ms, deep_ms, offset, first_direct, deep_direct,
        first_examined, deep_examined, first_queries, deep_queries, first_keys, deep_keys,
    )  # fmt: skip


async def concurrent(client: httpx.AsyncClient) -> str:
    deadline = time.perf_counter() + CONCURRENT_SECONDS
    shapes = list(SHAPES.values())

    async def one_client(number: int) -> Samples:
        rng = random.Random(number)  # noqa: S311 - reproducible picks, not secrets
        samples = Samples()
        cursor: str | None = None
        params = rng.choice(shapes)
        while time.perf_counter() < deadline:
            page = await get(client, url(params, cursor), samples)
            cursor = page["next_cursor"] if page and rng.random() < 0.8 else None
            if cursor is None:
                params = rng.choice(shapes)
        return samples

    started = time.perf_counter()
    total = Samples()
    for samples in await asyncio.gather(*(one_client(number) for number in range(CLIENTS))):
        total.latencies += samples.latencies
        total.errors.update(samples.errors)
    elapsed = time.perf_counter() - started
    errors = f"  errors: {dict(total.errors)}" if total.errors else ""
    return f"{len(total.latencies) / elapsed:7.1f} pages/s  {describe(total.latencies)}{errors}"


async def measure(
    gateway_url: str, db: Database, products: int, restart_catalog: Callable[[], float]
) -> dict[str, ShapeFigures]:
    seconds = await seed(db, products)
    say(f"stored {products:,} products in {seconds:.1f}s")
    # The catalog scans names and prices for its rank scales at start and then every ten minutes:
    # started again, it reads this catalog's before the first page is measured.
    say(f"catalog restarted, its names and prices scanned in {await asyncio.to_thread(restart_catalog):.1f}s")
    await refresh_ranks(db)  # and so does this process, which reads pages to explain them
    figures: dict[str, ShapeFigures] = {}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
        for params in SHAPES.values():  # each shape's first page once: the catalog learns its density
            await get(client, url(params), Samples())
        say(
            f"  {'shape':<18} {'first ms':>9} {'deep ms':>8} {'(offset)':>8}   in-process first/deep ms"
            "   queries first/deep   docs examined first/deep   keys first/deep"
        )
        for name, params in SHAPES.items():
            shape = figures[name] = await measure_shape(client, db, params)
            say(
                f"  {name:<18} {shape.first_ms:9.1f} {shape.deep_ms:8.1f} {shape.deep_offset:>8}   "
                f"{shape.first_direct_ms:10.1f} / {shape.deep_direct_ms:<8.1f}   "
                f"{shape.first_queries:7d} / {shape.deep_queries:<7d}   "
                f"{shape.first_examined:7d} / {shape.deep_examined:<7d}          "
                f"{shape.first_keys:7d} / {shape.deep_keys:<7d}"
            )
        mixed = await concurrent(client)
        say(f"  {CLIENTS} clients, a mix of the shapes (80% go on to the next page): {mixed}")
    return figures


def report(results: dict[int, dict[str, ShapeFigures]]) -> None:
    small, large = min(results), max(results)
    if small == large:
        return
    say(f"-- p50 at {large:,} / p50 at {small:,} products (goal: at most {GOAL}) --")
    for name in SHAPES:
        before, after = results[small][name], results[large][name]
        # A listing too short for a deep page at the small size has no deep ratio (nan): not judged.
        ratios = [after.first_ms / before.first_ms, after.deep_ms / before.deep_ms]
        verdict = "met" if all(ratio <= GOAL for ratio in ratios if ratio == ratio) else "NOT met"
        say(f"  {name:<18} first page {ratios[0]:5.2f}x   deep page {ratios[1]:5.2f}x   {verdict}")


def say(line: str) -> None:
    print(line, flush=True)


def restarter(stack: Stack) -> Callable[[], float]:
    """Restart the catalog service; returns once its first scan for the rank scales is over (its
    metrics count the pass), with the seconds that scan took."""
    job = 'periodic_job_duration_seconds_sum{job="catalog.ranks",service="catalog"}'

    def restart() -> float:
        stack.stop_processes(["catalog"])
        stack.start_app("catalog")
        while True:
            metrics = httpx.get(f"{stack.url_of('catalog')}/metrics").text
            for line in metrics.splitlines():
                seconds = float(line.split()[-1]) if line.startswith(job) else 0.0
                if seconds > 0:
                    return seconds
            time.sleep(0.5)

    return restart


async def seeded_run(stack: Stack, database: str, products: int, drop: bool) -> dict[str, ShapeFigures]:
    mongo: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True, w="majority")
    try:
        return await measure(stack.gateway_url, mongo[database], products, restarter(stack))
    finally:
        if drop:  # the embedded server goes as a whole with its temporary directory
            await mongo.drop_database(database)
        await mongo.close()


def main() -> None:
    say(f"through the gateway, one client: p50 of {SERIAL_CALLS} requests per page; {PAGE} items a page")
    results: dict[int, dict[str, ShapeFigures]] = {}
    for products in SIZES:
        # A database of its own, so that with MONGODB_URL nothing but this throw-away one is touched.
        database = database_name()
        with running_stack({"MONGODB_DB": database}, embedded_mongodb_cache_size=DB_CACHE) as stack:
            say(f"-- {products:,} products ({'embedded server' if stack.embedded else 'MONGODB_URL'})")
            run = seeded_run(stack, database, products, not stack.embedded)
            results[products] = asyncio.run(run)
    report(results)


if __name__ == "__main__":
    main()
