"""Transaction helper throughput on the database server: serial, spread, and all fighting over one document.

Prints transactions/s, latency percentiles and how many callback attempts each commit cost (write
conflicts re-run the whole callback). Uses MONGODB_URL when set, otherwise a fresh embedded server.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from devstack.stack import Stack, settings_on_free_ports
from shared.db import Database, MongoClient, ensure_collections, with_transaction

SERIAL = 300
CONCURRENT_CLIENTS = 50
CONTENDED_TOTAL = 200


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]
    attempts: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def report(self) -> str:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        return (
            f"{self.name:<34} {len(ordered) / self.seconds:8.1f} tx/s   "
            f"p50 {pct(0.50):7.1f} ms  p95 {pct(0.95):7.1f} ms  p99 {pct(0.99):7.1f} ms  "
            f"mean {statistics.fmean(ordered) * 1000:7.1f} ms  "
            f"attempts/commit {self.attempts / len(ordered):.2f}"
        )


TxnCallback = Callable[[AsyncClientSession], Awaitable[None]]


def counting(callback: TxnCallback, attempts: list[int]) -> TxnCallback:
    """Wrap a callback so every attempt (the first and each retry) is appended to `attempts`."""

    async def counted(session: AsyncClientSession) -> None:
        attempts.append(1)
        await callback(session)

    return counted


async def run(
    name: str,
    total: int,
    concurrency: int,
    make_callback: Callable[[int], TxnCallback],
    client: MongoClient,
) -> Result:
    latencies: list[float] = []
    attempts: list[int] = []
    queue = iter(range(total))

    async def worker() -> None:
        for index in queue:
            started = time.perf_counter()
            await with_transaction(client, counting(make_callback(index), attempts), timeout_seconds=120)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, time.perf_counter() - started, latencies, len(attempts))


async def contended(client: MongoClient, db: Database, clients: int = CONCURRENT_CLIENTS) -> Result:
    """The store's contended single-document transaction rate: `clients` at once, each transaction an
    insert and an increment of the same document (the shape of a checkout of one hot product)."""
    await ensure_collections(db, {"bench_orders": [], "bench_stock": []})
    hot = ObjectId()
    await db.bench_stock.insert_one({"_id": hot, "n": 0})

    def insert_and_hot_update(index: int) -> TxnCallback:
        async def callback(session: AsyncClientSession) -> None:
            await db.bench_orders.insert_one({"i": index}, session=session)
            await db.bench_stock.update_one({"_id": hot}, {"$inc": {"n": 1}}, session=session)

        return callback

    result = await run(
        f"hot ({clients} clients, one doc)", CONTENDED_TOTAL, clients, insert_and_hot_update, client
    )
    final = await db.bench_stock.find_one({"_id": hot})
    if not final or final["n"] != CONTENDED_TOTAL:
        raise RuntimeError(
            f"hot document counter: {final['n'] if final else None}, expected {CONTENDED_TOTAL}"
        )
    return result


async def measure(url: str) -> None:
    client: MongoClient = AsyncMongoClient(url, tz_aware=True, w="majority")
    db: Database = client[f"bench_{ObjectId()}"]
    await ensure_collections(db, {"bench_orders": [], "bench_stock": []})
    await db.bench_stock.insert_many([{"_id": i, "n": 0} for i in range(CONTENDED_TOTAL)])

    def insert_and_spread_update(index: int) -> TxnCallback:
        async def callback(session: AsyncClientSession) -> None:
            await db.bench_orders.insert_one({"i": index}, session=session)
            await db.bench_stock.update_one(
                {"_id": index % CONTENDED_TOTAL}, {"$inc": {"n": 1}}, session=session
            )

        return callback

    try:
        print(f"server: {url}")
        print((await run("serial (1 client)", SERIAL, 1, insert_and_spread_update, client)).report())
        spread = f"spread ({CONCURRENT_CLIENTS} clients, many docs)"
        print(
            (
                await run(spread, CONTENDED_TOTAL, CONCURRENT_CLIENTS, insert_and_spread_update, client)
            ).report()
        )
        print((await contended(client, db)).report())
    finally:
        await client.drop_database(db.name)
        await client.close()


def main() -> None:
    url = os.environ.get("MONGODB_URL")
    if url:
        asyncio.run(measure(url))
        return
    with tempfile.TemporaryDirectory() as data_dir:
        settings = settings_on_free_ports(Path(data_dir), mongodb_url=None)
        stack = Stack(settings, log_dir=Path(data_dir) / "logs")
        stack.start_embedded_db()
        try:
            asyncio.run(measure(stack.mongodb_url))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
