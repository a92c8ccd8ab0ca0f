"""Catalog reads through the gateway on a seeded demo catalog, and how their cost grows with its size.

For 1,000 and then 10,000 products (each on a fresh stack and database), prints the seeding time,
then for each read: the latency of one client alone, and requests/s, p50/p99 latency and errors with
CLIENTS concurrent clients. The reads: the first page of the newest listing; 5-page walks with
cursors; products by random id; searches for a word of a product name; a category listing sorted
by price. Every run is bounded (a number of calls or a duration, whichever ends first) and stops
by itself; answers other than 200 (a 504 when the catalog is too slow for the gateway) are counted,
not fatal.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from pymongo import AsyncMongoClient

from bench.stack import describe, running_stack
from devtools.seed import demo_catalog, seed_catalog
from services.catalog.products.search import tokens
from shared.db import Database, MongoClient

SIZES = (1_000, 10_000)
CLIENTS = 16
CONCURRENT_SECONDS = 15.0  # no new call starts after this; calls in flight finish
CONCURRENT_CALLS = 50  # per client
SERIAL_SECONDS = 5.0
SERIAL_CALLS = 20
PAGE = 20
WALK_PAGES = 5
SETTLE_SECONDS = 60.0
SEED = 2024
SEED_CONCURRENCY = 4  # the embedded server inserts fastest with a few writers at once


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)  # of 200 answers, in seconds
    errors: Counter[int] = field(default_factory=Counter)  # other answers, by status

    def add(self, other: Samples) -> None:
        self.latencies += other.latencies
        self.errors.update(other.errors)


# One call of a workload: one or more requests, each recorded into the samples.
Call = Callable[[httpx.AsyncClient, random.Random, Samples], Awaitable[None]]


@dataclass(frozen=True)
class Corpus:
    """What the workloads pick from: the seeded ids, categories and words of names."""

    ids: list[str]
    categories: list[str]
    words: list[str]


async def get(client: httpx.AsyncClient, url: str, samples: Samples) -> dict[str, object] | None:
    """One request; its latency (or its status, when not 200) goes into `samples`."""
    started = time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.TimeoutException:
        samples.errors[0] += 1  # no answer at all within the client's timeout
        return None
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        samples.errors[response.status_code] += 1
        return None
    samples.latencies.append(elapsed)
    body: dict[str, object] = response.json()
    return body


def workloads(corpus: Corpus) -> dict[str, Call]:
    async def first_page(client: httpx.AsyncClient, rng: random.Random, samples: Samples) -> None:
        await get(client, f"/api/v1/products?limit={PAGE}", samples)

    async def walk(client: httpx.AsyncClient, rng: random.Random, samples: Samples) -> None:
        cursor: object = None
        for _ in range(WALK_PAGES):
            suffix = f"&cursor={cursor}" if cursor else ""
            page = await get(client, f"/api/v1/products?limit={PAGE}{suffix}", samples)
            if page is None or not page["next_cursor"]:
                return
            cursor = page["next_cursor"]

    async def by_id(client: httpx.AsyncClient, rng: random.Random, samples: Samples) -> None:
        await get(client, f"/api/v1/products/{rng.choice(corpus.ids)}", samples)

    async def search(client: httpx.AsyncClient, rng: random.Random, samples: Samples) -> None:
        await get(client, f"/api/v1/products?limit={PAGE}&q={rng.choice(corpus.words)}", samples)

    async def category_by_price(client: httpx.AsyncClient, rng: random.Random, samples: Samples) -> None:
        category = rng.choice(corpus.categories)
        await get(client, f"/api/v1/products?limit={PAGE}&category={category}&sort=price_asc", samples)

    return {
        f"(a) newest, first page of {PAGE}": first_page,
        f"(b) newest, {WALK_PAGES}-page walks (per page)": walk,
        "(c) one product by random id": by_id,
        "(d) search q=<word of a name>": search,
        "(d) category=<random>&sort=price_asc": category_by_price,
    }


async def run(client: httpx.AsyncClient, call: Call, clients: int, calls: int, seconds: float) -> str:
    """`clients` concurrent clients, each making up to `calls` calls until `seconds` have passed."""
    deadline = time.perf_counter() + seconds

    async def one_client(number: int) -> Samples:
        rng = random.Random(number)  # noqa: S311 - reproducible picks, not secrets
        samples = Samples()
        for _ in range(calls):
            if time.perf_counter() >= deadline:
                break
            await call(client, rng, samples)
        return samples

    started = time.perf_counter()
    total = Samples()
    for samples in await asyncio.gather(*(one_client(number) for number in range(clients))):
        total.add(samples)
    elapsed = time.perf_counter() - started
    errors = ", ".join(f"{count} x {status or 'timeout'}" for status, count in sorted(total.errors.items()))
    figures = describe(total.latencies) if total.latencies else "no successful request"
    return f"{len(total.latencies) / elapsed:7.1f} req/s  {figures}" + (
        f"  errors: {errors}" if errors else ""
    )


async def load_corpus(db: Database, products: int) -> Corpus:
    ids = [str(doc["_id"]) for doc in await db.products.find({}, {"_id": 1}).to_list()]
    catalog = demo_catalog(products, SEED)
    words = sorted({word for p in catalog.products if p.active for word in tokens(p.name) if len(word) >= 4})
    return Corpus(ids, [category.slug for category in catalog.categories], words)


async def measure(gateway_url: str, db: Database, products: int) -> None:
    started = time.perf_counter()
    summary = await seed_catalog(db, products=products, seed=SEED, concurrency=SEED_CONCURRENCY)
    seconds = time.perf_counter() - started
    say(
        f"seeded {summary.products_created:,} products in {seconds:.1f}s "
        f"({summary.products_created / seconds:.0f}/s through create_product, {SEED_CONCURRENCY} writers)"
    )
    corpus = await load_corpus(db, products)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
        for name, call in workloads(corpus).items():
            say(f"  {name}")
            say(f"    1 client       {await run(client, call, 1, SERIAL_CALLS, SERIAL_SECONDS)}")
            concurrent = await run(client, call, CLIENTS, CONCURRENT_CALLS, CONCURRENT_SECONDS)
            say(f"    {CLIENTS} clients     {concurrent}")
            await settle(client, corpus)


async def settle(client: httpx.AsyncClient, corpus: Corpus) -> None:
    """Wait until the catalog has finished the work of requests the gateway gave up on (504s)."""
    deadline = time.perf_counter() + SETTLE_SECONDS
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await client.get(f"/api/v1/products/{corpus.ids[0]}")
        if time.perf_counter() - started < 0.2:
            return


def say(line: str) -> None:
    print(line, flush=True)


async def seeded_stack_run(gateway_url: str, mongodb_url: str, database: str, products: int) -> None:
    mongo: MongoClient = AsyncMongoClient(mongodb_url, tz_aware=True, w="majority")
    try:
        await measure(gateway_url, mongo[database], products)
    finally:
        await mongo.close()


async def drop(mongodb_url: str, database: str) -> None:
    mongo: MongoClient = AsyncMongoClient(mongodb_url)
    try:
        await mongo.drop_database(database)
    finally:
        await mongo.close()


def main() -> None:
    say(
        f"through the gateway; each read: 1 client ({SERIAL_CALLS} calls or {SERIAL_SECONDS:.0f}s), then "
        f"{CLIENTS} concurrent clients ({CONCURRENT_CALLS} calls each or {CONCURRENT_SECONDS:.0f}s)"
    )
    for products in SIZES:
        # A database of its own, so that with MONGODB_URL nothing but this throw-away one is touched.
        database = f"bench_catalog_{secrets.token_hex(4)}"
        with running_stack({"MONGODB_DB": database}) as stack:
            say(f"-- {products:,} products ({'embedded server' if stack.embedded else 'MONGODB_URL'})")
            try:
                asyncio.run(seeded_stack_run(stack.gateway_url, stack.mongodb_url, database, products))
            finally:
                if not stack.embedded:
                    asyncio.run(drop(stack.mongodb_url, database))


if __name__ == "__main__":
    main()
